"""`replication compare`: the committed reports side by side, as a table and a verdict matrix."""

from __future__ import annotations

import json
from pathlib import Path

from replication import compare
from replication.cli import main
from replication.registry import CLAIMS
from replication.report import ClaimResult

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"


def _committed(scale: str, claim: str) -> dict:
    return next(r for r in json.loads((REPORTS / scale / "results.json").read_text()) if r["claim"] == claim)


def test_the_table_has_a_row_per_claim_and_a_column_per_committed_scale():
    by_scale = compare.load(REPORTS)
    assert list(by_scale)[:4] == ["smoke", "smoke-resnet", "small", "medium"]
    lines = compare.table(by_scale).splitlines()
    assert len(lines) == 2 + len(CLAIMS)  # the paper's eleven and ours
    assert "[medium](reports/medium/REPORT.md)" in lines[0]
    row7 = next(line for line in lines if "`tickets-retrain-to-similar-regions`" in line)
    d = _committed("medium", "tickets-retrain-to-similar-regions")["decision"]
    assert f"**{d['verdict']}** {d['effect']:.3g} [{d['ci_low']:.3g}, {d['ci_high']:.3g}]" in row7


def test_a_claim_without_a_decision_shows_its_verdict_alone():
    assert compare.cell(ClaimResult.from_dict({**_committed("smoke", "random-reinit-fails"), "decision": None})) == \
        "**NOT RUN**"
    assert compare.cell(None) == "–"


def test_compare_draws_the_matrix_and_fills_the_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{compare.START}\nold\n{compare.END}\n\nafter\n")
    figure = tmp_path / "verdicts.png"
    assert main(["compare", "--reports", str(REPORTS), "--figure", str(figure), "--update-readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and text.endswith(f"{compare.END}\n\nafter\n")
    assert "![Verdicts by claim and scale](verdicts.png)" in text
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.strip() in text


def test_compare_without_reports_or_markers_is_a_one_line_error(tmp_path, capsys):
    assert main(["compare", "--reports", str(tmp_path)]) == 2
    assert "no <scale>/results.json under" in capsys.readouterr().err
    (tmp_path / "README.md").write_text("no markers\n")
    assert main(["compare", "--reports", str(REPORTS), "--update-readme", str(tmp_path / "README.md")]) == 2
    assert "has no <!-- compare:start -->" in capsys.readouterr().err
    assert (tmp_path / "README.md").read_text() == "no markers\n"
