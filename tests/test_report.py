"""The report renders results.json records of this version and of the one before it (a merge of a new
session's claims into an older report must not break the document)."""

import subprocess
from pathlib import Path

import pytest

from replication.report import render, summary_table, write_report

OLD = {  # a record as written before 0.2: effect and CI copied beside the decision, parts as decisions
    "claim": "random-reinit-fails", "scale": "small", "verdict": "SUPPORTED", "number": 11, "statement": "s",
    "figure": "f", "comparison": "c", "margin": 1.0, "unit": "points of accuracy", "effect": 2.0, "ci_low": 1.0,
    "ci_high": 3.0, "p_value": 0.01, "n_seeds": 5, "reason": "r", "test": "t",
    "decision": {"verdict": "SUPPORTED", "test": "t", "effect": 2.0, "ci_low": 1.0, "ci_high": 3.0,
                 "p_value": 0.01, "n_seeds": 5, "parts": []},
    "parts": [{"verdict": "SUPPORTED", "test": "t", "effect": 2.0, "ci_low": 1.0, "ci_high": 3.0}],
}
NEW = {"id": "random-reinit-fails", "claim": "random-reinit-fails", "scale": "small", "verdict": "SUPPORTED",
       "number": 11, "statement": "s", "figure": "f", "comparison": "c", "reason": "r",
       "parts": [{"rule": "superiority", "margin": 1.0, "unit": "points of accuracy"}],
       "decision": {"verdict": "SUPPORTED", "test": "t", "effect": 2.0, "ci_low": 1.0, "ci_high": 3.0,
                    "p_value": 0.01, "n_seeds": 5, "parts": []}}


def test_old_and_new_records_render_alike():
    for record in (OLD, NEW):
        text = render([record], "small", {"commit": "abc"})
        assert "Smallest effect of interest: 1 points of accuracy." in text
        assert "| 2 [1, 3] | 0.01 | 5 |" in summary_table([record])


def test_a_not_testable_claim_shows_each_precondition_with_its_numbers():
    checked = [{"needs": "batch 8's subnetworks are unstable", "holds": False, "numbers": "their LII is 0.2 points",
                "part": None},
               {"needs": "the controls train", "holds": True, "numbers": "reinit: 0 of 8 failed", "part": 2}]
    record = {**NEW, "verdict": "NOT TESTABLE", "decision": {**NEW["decision"], "verdict": "NOT TESTABLE",
                                                             "preconditions": checked}}
    text = render([record], "small", {"commit": "abc"})
    assert "Verdicts: NOT TESTABLE 1" in text
    assert "- batch 8's subnetworks are unstable: **does not hold**: their LII is 0.2 points." in text
    assert "- the controls train (part 2): holds: reinit: 0 of 8 failed." in text
    assert "Preconditions" not in render([NEW], "small", {"commit": "abc"})  # records from before them


def test_a_rewrite_removes_figures_no_result_links(tmp_path):
    figures = tmp_path / "small" / "figures"
    figures.mkdir(parents=True)
    for name in ("kept.png", "stale.png"):
        (figures / name).write_bytes(b"png")
    record = {**NEW, "figures": [{"caption": "c", "path": "figures/kept.png"}]}
    write_report([record], "small", tmp_path, {"commit": "abc"})
    assert sorted(p.name for p in figures.iterdir()) == ["kept.png"]


def test_the_code_version_names_this_checkouts_commit_or_says_it_is_not_one(tmp_path, monkeypatch):
    from replication import __version__, report

    monkeypatch.chdir(tmp_path)  # the working directory's repository (none here) is not the code's
    found = report.code_version()
    assert found["version"] == __version__
    assert "not a checkout" not in found["commit"]  # the tests run from a checkout
    monkeypatch.setattr(report, "__file__", str(tmp_path / "site-packages" / "replication" / "report.py"))
    assert report.code_version()["commit"] == "unknown (not a checkout)"
    (tmp_path / "site-packages" / "replication").mkdir(parents=True)
    stamp = tmp_path / "site-packages" / "replication" / "COMMIT"
    stamp.write_text("$Format:%h$\n")  # as committed: not stamped
    assert report.code_version()["commit"] == "unknown (not a checkout)"
    stamp.write_text("abc1234\n")  # as `git archive` writes it
    assert report.code_version()["commit"] == "abc1234 (git archive)"


def test_git_archive_stamps_the_commit_a_snapshot_is_made_from():
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    git = lambda *args: subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout  # noqa: E731
    stamped = subprocess.run("git archive HEAD replication/COMMIT | tar -xO", shell=True, cwd=root,
                             capture_output=True, text=True).stdout.strip()
    assert stamped == git("rev-parse", "--short", "HEAD").strip()
