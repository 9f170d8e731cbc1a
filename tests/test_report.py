"""The report renders results.json records of this version and of the one before it (a merge of a new
session's claims into an older report must not break the document)."""

import subprocess
from pathlib import Path

import pytest

from replication.report import ClaimResult, render, summary_table, write_report
from replication.stats import Decision, Precondition
from replication.verdicts import NOT_TESTABLE, SUPPORTED

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


def _read(record: dict) -> ClaimResult:
    return ClaimResult.from_dict(record)


def test_old_and_new_records_render_alike():
    for record in (OLD, NEW):
        text = render([_read(record)], "small", {"commit": "abc"})
        assert "Smallest effect of interest: 1 points of accuracy." in text
        assert "| 2 [1, 3] | 0.01 | 5 |" in summary_table([_read(record)])
        assert "**Verdict: SUPPORTED.** r" in text


def test_a_record_reads_back_typed_and_writes_back_as_it_was():
    result = _read(NEW)
    assert result.verdict is SUPPORTED and isinstance(result.decision, Decision)
    assert result.claim.parts[0].rule == "superiority" and result.claim.id == "random-reinit-fails"
    again = result.to_dict()
    assert {k: again[k] for k in NEW} == {**NEW, "decision": again["decision"]}
    assert _read(again) == result
    nested = {**NEW, "decision": {**NEW["decision"], "parts": [NEW["decision"]] * 2,
                                  "preconditions": [{"needs": "n", "holds": True, "numbers": "x", "part": 1}]}}
    typed = _read(nested).decision
    assert typed.parts[1].verdict is SUPPORTED and typed.preconditions == [Precondition("n", True, "x", 1)]
    assert _read(_read(nested).to_dict()) == _read(nested)


def _as_written(again, record):
    """`again` cut to what `record` has (a record of an older version lacks the fields added since)."""
    if isinstance(record, dict):
        return {k: _as_written(again[k], v) for k, v in record.items()}
    if isinstance(record, list) and len(record) == len(again):
        return [_as_written(a, v) for a, v in zip(again, record)]
    return again


def test_every_committed_results_json_reads_back_to_the_same_record():
    import json

    paths = sorted((Path(__file__).resolve().parents[1] / "reports").glob("*/results.json"))
    assert len(paths) >= 4
    for path in paths:
        for record in json.loads(path.read_text()):
            again = json.loads(json.dumps(_read(record).to_dict()))
            assert _as_written(again, record) == record, (path, record["claim"])


def test_a_not_testable_claim_shows_each_precondition_with_its_numbers():
    checked = [{"needs": "batch 8's subnetworks are unstable", "holds": False, "numbers": "their LII is 0.2 points",
                "part": None},
               {"needs": "the controls train", "holds": True, "numbers": "reinit: 0 of 8 failed", "part": 2}]
    record = {**NEW, "verdict": "NOT TESTABLE", "decision": {**NEW["decision"], "verdict": "NOT TESTABLE",
                                                             "preconditions": checked}}
    assert _read(record).verdict is NOT_TESTABLE
    text = render([_read(record)], "small", {"commit": "abc"})
    assert "Verdicts: NOT TESTABLE 1" in text
    assert "- batch 8's subnetworks are unstable: **does not hold**: their LII is 0.2 points." in text
    assert "- the controls train (part 2): holds: reinit: 0 of 8 failed." in text
    assert "Preconditions" not in render([_read(NEW)], "small", {"commit": "abc"})  # records from before them


def test_a_rewrite_removes_figures_no_result_links(tmp_path):
    figures = tmp_path / "small" / "figures"
    figures.mkdir(parents=True)
    names = ("random-reinit-fails-kept.png", "random-reinit-fails-stale.png", "instability-map.png", "probe-1.png")
    for name in names:
        (figures / name).write_bytes(b"png")
    record = {**NEW, "figures": [{"caption": "c", "path": "figures/random-reinit-fails-kept.png"}]}
    write_report([_read(record)], "small", tmp_path, {"commit": "abc"})
    # the claim's unlinked figure goes; the map's and the probe's pages keep theirs
    assert sorted(p.name for p in figures.iterdir()) == ["instability-map.png", "probe-1.png",
                                                         "random-reinit-fails-kept.png"]


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
