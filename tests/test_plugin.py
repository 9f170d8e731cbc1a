"""The pytest plugin behind `pytest claims`, driven through pytester with fake claim tests.

The fake claims conclude with hand-made Decisions, so nothing trains: each inner session runs in-process
(torch and the plugin's imports are already loaded) and takes a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import torch

# In-process pytester sessions drop the modules they imported when they end, and C extensions (numpy.fft,
# under scipy.stats) cannot be loaded twice: so everything the plugin imports is imported here, before any
# inner session.
import replication.pytest_plugin  # noqa: F401
from replication import registry
from replication.registry import CLAIMS, SCALES, SETUPS
from replication.report import RESULT_KEYS

pytest_plugins = ["pytester"]

# Inner sessions: the plugin under test (its entry point loads it too; `-p` keeps the tests independent of the
# install, and is then a no-op), no hypothesis plugin (its terminal summary costs ~1 s a session) and
# no cache; the pre-import above makes pytest warn that it cannot assert-rewrite the plugin, which is harmless.
OTHERS = len(SCALES) - 1  # the items of one claim test deselected when one scale runs
SMOKE = [s for s in SCALES if registry.RECORDS[s].pytest_marker == "smoke"]  # the scales `-m smoke` selects

PLUGIN = ("-p", "replication.pytest_plugin", "-p", "no:hypothesispytest", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning")

HEADER = '''
import pytest
from replication.registry import CLAIMS
from replication.stats import Decision

def decision(verdict, reason="hand-made reason"):
    return Decision(verdict, "hand-made test", effect=2.5, ci_low=1.5, ci_high=3.5, p_value=0.004, n_seeds=8,
                    margin=1.0, reason=reason)
'''


def claim_test(claim_id: str, body: str, name: str = "test_claim") -> str:
    """Source of one fake claim test: marked with the claim, parametrized by `scale`, ending in `body`."""
    return HEADER + textwrap.dedent(f'''
        CLAIM = CLAIMS[{claim_id!r}]

        @pytest.mark.claim(CLAIM.id)
        def {name}(lab, scale, conclude):
        ''') + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


def concluding(claim_id: str, verdict: str, reason: str = "hand-made reason") -> str:
    return claim_test(claim_id, f"conclude(CLAIM, decision({verdict!r}, {reason!r}))")


@pytest.fixture
def run(pytester: pytest.Pytester):
    """Run an inner pytest session with the plugin, its store and reports inside the pytester folder."""
    def _run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*PLUGIN, "--store", str(pytester.path / "runs"),
                                  "--report-dir", str(pytester.path / "reports"), "-rs", *args)
    return _run


def results(pytester: pytest.Pytester, scale: str = "smoke") -> list[dict]:
    return json.loads((pytester.path / "reports" / scale / "results.json").read_text())


# -- markers and scales ---------------------------------------------------------------------------------

def test_markers_are_registered(pytester):
    result = pytester.runpytest(*PLUGIN, "--markers")
    out = result.stdout.str()
    for marker in ("smoke", "small", "paper", "gpu", "claim"):
        assert f"@pytest.mark.{marker}" in out, marker
    assert result.ret == 0


def test_strict_markers_and_m_smoke_give_no_warning(pytester, run):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "SUPPORTED"))
    result = run("--strict-markers", "-m", "smoke", "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=len(SMOKE), deselected=len(SCALES) - len(SMOKE), warnings=0)
    assert "warnings summary" not in result.stdout.str()
    assert result.ret == 0


def test_scale_fixture_parametrizes_and_default_runs_smoke_only(pytester, run):
    pytester.makepyfile(test_fake=claim_test("random-reinit-fails", f"assert scale in {SCALES}"))
    collected = pytester.runpytest(*PLUGIN, "--collect-only", "-q", "--scale", "small")
    assert "test_fake.py::test_claim[small]" in collected.stdout.str()
    result = run("-v")
    result.assert_outcomes(passed=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["*test_claim?smoke? PASSED*"])
    assert "[small]" not in result.stdout.str() and "[paper]" not in result.stdout.str()


def test_scale_option_selects_that_scale(pytester, run):
    pytester.makepyfile(test_fake=claim_test("random-reinit-fails", "assert scale == 'small'"))
    result = run("--scale", "small", "-v")
    result.assert_outcomes(passed=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["*test_claim?small? PASSED*"])


def test_m_smoke_selects_the_smoke_scales(pytester, run):
    pytester.makepyfile(test_fake=claim_test("random-reinit-fails", f"assert scale in {SMOKE}"))
    result = run("-m", "smoke", "-v")
    result.assert_outcomes(passed=len(SMOKE), deselected=len(SCALES) - len(SMOKE))


def test_plain_tests_are_not_deselected(pytester, run):
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    run().assert_outcomes(passed=1)


def test_a_plain_tests_own_scale_parameter_and_gpu_marker_are_left_alone(pytester, run):
    """The entry point loads the plugin into every session: a project's `scale` and `gpu` are its own."""
    pytester.makepyfile(test_plain=textwrap.dedent('''
        import pytest

        @pytest.mark.parametrize("scale", ["tiny", "paper"])
        def test_own_scale(scale):
            pass

        @pytest.mark.gpu
        def test_own_gpu():
            pass
        '''))
    run("--scale", "small").assert_outcomes(passed=3)


def test_options_another_plugin_took_answer_to_their_long_names(pytester, run):
    pytester.makepyfile(other_plugin="def pytest_addoption(parser):\n    parser.addoption('--scale')\n",
                        test_fake=claim_test("random-reinit-fails", "assert scale == 'small'"))
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "other_plugin", *PLUGIN, "--replication-scale", "small", "-v")
    result.assert_outcomes(passed=1, deselected=OTHERS)
    assert run("--replication-scale", "small").ret == 0  # the long name works without a clash too


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA skip")
def test_paper_scale_skips_without_cuda(pytester, run):
    pytester.makepyfile(test_fake=claim_test("random-reinit-fails", "raise AssertionError('must not run')"))
    result = run("--scale", "paper")
    result.assert_outcomes(skipped=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["SKIPPED*GPU*"])
    assert not (pytester.path / "reports").exists()


# -- verdicts become outcomes -------------------------------------------------------------------------

def test_supported_passes(pytester, run):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "SUPPORTED"))
    run().assert_outcomes(passed=1, deselected=OTHERS)
    assert results(pytester)[0]["verdict"] == "SUPPORTED"


@pytest.mark.parametrize("verdict", ["REFUTED", "ERROR"])
def test_refuted_and_error_fail(pytester, run, verdict):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", verdict, "the reason it failed"))
    result = run()
    result.assert_outcomes(failed=1, deselected=OTHERS)
    result.stdout.fnmatch_lines([f"*random-reinit-fails [[]smoke[]]: {verdict}*the reason it failed*"])
    [r] = results(pytester)
    assert r["verdict"] == verdict and r["reason"] == "the reason it failed"


@pytest.mark.parametrize("verdict,outcome", [("REFUTED", "xfailed"), ("INCONCLUSIVE", "xfailed"),
                                             ("SUPPORTED", "failed"), ("ERROR", "failed"), ("NOT TESTABLE", "failed")])
def test_a_known_refutation_is_expected_until_the_claim_replicates(pytester, run, verdict, outcome):
    """Setup.known_refuted (claim 6 at smoke has one): not replicating is expected; replicating, an error, or a
    setting that turns out not to test the claim at all fails, so that the record gets revisited."""
    pytester.makepyfile(test_fake=concluding("repel-previous-only-biphasic", verdict))
    result = run()
    result.assert_outcomes(**{outcome: 1}, deselected=OTHERS)
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*revisit Setup.known_refuted*"])
    assert results(pytester)[0]["verdict"] == verdict


@pytest.mark.parametrize("second,outcome", [("SUPPORTED", "xfailed"), ("INCONCLUSIVE", "failed")])
def test_a_known_refutation_of_one_part_still_guards_the_others(pytester, run, monkeypatch, second, outcome):
    """A record of one part of a claim as not replicating (Setup.refuted_parts): the claim is an expected
    failure only while its other parts stay SUPPORTED."""
    setup = dataclasses.replace(SETUPS["smoke"]["weights-grow-away-from-zero"], known_refuted="a hand-made mechanism",
                                refuted_parts=(3,))
    monkeypatch.setitem(SETUPS["smoke"], "weights-grow-away-from-zero", setup)
    body = f"""
        from replication.stats import combine
        conclude(CLAIM, combine([decision("SUPPORTED"), decision({second!r}), decision("REFUTED")]))
    """
    pytester.makepyfile(test_fake=claim_test("weights-grow-away-from-zero", body))
    result = run()
    result.assert_outcomes(**{outcome: 1}, deselected=OTHERS)
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*part(s) ?2?, recorded as replicating*no longer do*"])


def test_inconclusive_skips_with_reason(pytester, run):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "INCONCLUSIVE", "about 23 seeds would do"))
    result = run()
    result.assert_outcomes(skipped=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["SKIPPED*INCONCLUSIVE*about 23 seeds would do*"])
    assert results(pytester)[0]["verdict"] == "INCONCLUSIVE"


def test_not_testable_skips_with_the_precondition_that_failed(pytester, run):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "NOT TESTABLE",
                                             "the controls train, but reinit: 8 of 8 failed"))
    result = run()
    result.assert_outcomes(skipped=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["SKIPPED*NOT TESTABLE*reinit: 8 of 8 failed*"])
    assert results(pytester)[0]["verdict"] == "NOT TESTABLE"
    assert "NOT TESTABLE 1" in (pytester.path / "reports" / "smoke" / "REPORT.md").read_text()


def test_not_run_skips_and_is_reported(pytester, run):
    pytester.makepyfile(test_fake=claim_test("warmup-helps-semistable", "conclude.not_run(CLAIM)"))
    result = run()
    result.assert_outcomes(skipped=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["SKIPPED*NOT RUN*no smoke-scale experiment declared yet*"])
    [r] = results(pytester)
    assert r["verdict"] == "NOT RUN" and r["claim"] == "warmup-helps-semistable"
    assert CLAIMS["warmup-helps-semistable"].needs in r["reason"]
    report = (pytester.path / "reports" / "smoke" / "REPORT.md").read_text()
    assert "**NOT RUN**" in report and "Not run at this scale" in report


def test_not_run_with_explicit_reason(pytester, run):
    pytester.makepyfile(test_fake=claim_test("warmup-helps-semistable", "conclude.not_run(CLAIM, 'no GPU today')"))
    run().assert_outcomes(skipped=1, deselected=OTHERS)
    assert results(pytester)[0]["reason"] == "no GPU today"


def test_claim_that_raises_is_recorded_as_error(pytester, run):
    pytester.makepyfile(test_fake=claim_test("random-reinit-fails", "raise RuntimeError('the GPU caught fire')"))
    result = run()
    result.assert_outcomes(failed=1, deselected=OTHERS)
    [r] = results(pytester)
    assert r["claim"] == "random-reinit-fails" and r["scale"] == "smoke"
    assert r["verdict"] == "ERROR" and "the GPU caught fire" in r["reason"]
    assert "**ERROR**" in (pytester.path / "reports" / "smoke" / "REPORT.md").read_text()


def test_a_claim_whose_runs_are_not_stored_is_one_skipped_line_and_keeps_its_result(pytester, run):
    pytester.makepyfile(test_fake=claim_test("random-reinit-fails", """
        from replication.lab import MissingRuns
        raise MissingRuns("3 run(s) missing from runs; `replication status` lists them")"""))
    result = run()
    result.assert_outcomes(skipped=1, deselected=OTHERS)
    result.stdout.fnmatch_lines(["SKIPPED*3 run(s) missing from runs; `replication status` lists them"])
    assert "Traceback" not in result.stdout.str() and not (pytester.path / "reports").exists()


def test_claim_whose_fixture_fails_is_recorded_as_error(pytester, run):
    """'A claim test that crashed before concluding is reported as ERROR, never silently dropped' — also
    when it crashes while its fixtures are set up (otherwise an older verdict in results.json survives)."""
    pytester.makepyfile(test_fake=HEADER + textwrap.dedent('''
        CLAIM = CLAIMS["random-reinit-fails"]

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke")

        @pytest.mark.claim(CLAIM.id)
        def test_claim(lab, scale, broken, conclude):
            conclude(CLAIM, decision("SUPPORTED"))
        '''))
    result = run()
    result.assert_outcomes(errors=1, deselected=OTHERS)
    assert (pytester.path / "reports" / "smoke" / "results.json").is_file(), "the crashed claim was dropped"
    [r] = results(pytester)
    assert r["verdict"] == "ERROR" and "fixture broke" in r["reason"]


# -- the report --------------------------------------------------------------------------------------

def _summary_row(report: str, claim_id: str) -> str:
    rows = [line for line in report.splitlines() if line.startswith("|") and f"`{claim_id}`" in line]
    assert rows, f"{claim_id} missing from the summary table"
    return rows[0]


def test_report_and_results_written_and_merged(pytester, run):
    pytester.makepyfile(test_first=concluding("random-reinit-fails", "SUPPORTED"))
    run().assert_outcomes(passed=1, deselected=OTHERS)
    folder = pytester.path / "reports" / "smoke"
    assert (folder / "REPORT.md").is_file() and (folder / "results.json").is_file()
    data = results(pytester)
    assert isinstance(data, list) and len(data) == 1
    for key in RESULT_KEYS:
        assert key in data[0], key
    r = first = data[0]
    assert (r["claim"], r["scale"], r["verdict"]) == ("random-reinit-fails", "smoke", "SUPPORTED")
    assert set(r["decided"]) == {"commit", "date"}
    d = r["decision"]  # the decision's numbers, once: not copied beside it
    assert (d["effect"], d["ci_low"], d["ci_high"], d["p_value"], d["n_seeds"]) == (2.5, 1.5, 3.5, 0.004, 8)
    assert not {"effect", "ci_low", "p_value"} & set(r) and d["parts"] == []
    assert r["parts"] == [{"rule": "superiority", "margin": 1.0, "unit": "points of accuracy"},
                          {"rule": "non-inferiority", "margin": 1.0, "unit": "points of accuracy"}]
    assert r["wall_seconds"] >= 0
    row = _summary_row((folder / "REPORT.md").read_text(), "random-reinit-fails")
    assert "**SUPPORTED**" in row

    # a second session with only another claim merges into the same report
    (pytester.path / "test_first.py").unlink()
    pytester.makepyfile(test_second=concluding("stable-training-finds-tickets", "REFUTED"))
    run().assert_outcomes(failed=1, deselected=OTHERS)
    merged = {r["claim"]: r for r in results(pytester)}
    assert set(merged) == {"random-reinit-fails", "stable-training-finds-tickets"}
    assert merged["random-reinit-fails"]["verdict"] == "SUPPORTED"
    assert merged["stable-training-finds-tickets"]["verdict"] == "REFUTED"
    report = (folder / "REPORT.md").read_text()
    assert "**SUPPORTED**" in _summary_row(report, "random-reinit-fails")
    assert "**REFUTED**" in _summary_row(report, "stable-training-finds-tickets")
    # each claim keeps the commit and date of the session that decided it, not of the last rebuild
    first["decided"]["date"] = "2001-01-01 00:00 UTC"
    (folder / "results.json").write_text(json.dumps([first, merged["stable-training-finds-tickets"]]))
    run().assert_outcomes(failed=1, deselected=OTHERS)
    again = {r["claim"]: r for r in results(pytester)}
    assert again["random-reinit-fails"]["decided"]["date"] == "2001-01-01 00:00 UTC"
    assert again["stable-training-finds-tickets"]["decided"]["date"] != "2001-01-01 00:00 UTC"
    assert "*Decided 2001-01-01 00:00 UTC at commit" in (folder / "REPORT.md").read_text()


def test_report_per_scale(pytester, run):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "SUPPORTED"))
    run("--scale", "small").assert_outcomes(passed=1, deselected=OTHERS)
    assert results(pytester, "small")[0]["scale"] == "small"
    assert not (pytester.path / "reports" / "smoke").exists()


@pytest.mark.parametrize("no_train", [False, True])
def test_the_executor_gets_every_run_of_the_session_up_front_and_is_closed(pytester, run, monkeypatch, no_train):
    """So that Ray workers train the next claims' runs while a claim is analysed; a rebuild starts nothing."""
    from replication.executors import InProcess
    from replication.lab import Lab, Session
    from replication.store import RunStore

    calls = []
    monkeypatch.setattr(InProcess, "prefetch", lambda self, specs, *rest: calls.append(("prefetch", specs)))
    monkeypatch.setattr(InProcess, "close", lambda self: calls.append(("close", None)))
    pytester.makepyfile(test_a=concluding("random-reinit-fails", "SUPPORTED"),
                        test_b=concluding("tickets-retrain-to-similar-regions", "SUPPORTED"))
    (pytester.path / "runs").mkdir()
    run(*(["--no-train"] if no_train else [])).assert_outcomes(passed=2, deselected=2 * OTHERS)
    lab = Lab("smoke", Session(RunStore(pytester.path / "runs")))
    union = list(dict.fromkeys(lab.specs("random-reinit-fails") + lab.specs("tickets-retrain-to-similar-regions")))
    assert calls == ([("close", None)] if no_train else [("prefetch", union), ("close", None)])


# -- --no-report (usage errors: test_bad_input.py) ----------------------------------------------------------------------

def test_no_report_writes_nothing(pytester, run):
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "SUPPORTED"))
    run("--no-report").assert_outcomes(passed=1, deselected=OTHERS)
    assert not (pytester.path / "reports").exists()
    assert not Path(pytester.path / "runs").exists()


def test_setup_fixture_gives_the_claims_experiment_or_reports_not_run(pytester, run, monkeypatch):
    from replication.registry import SETUPS

    assert SETUPS["small"]["warmup-helps-semistable"].preset == "lenet-fashion-mnist-sgd"
    monkeypatch.delitem(SETUPS["small"], "warmup-helps-semistable")  # a claim with no experiment at a scale
    pytester.makepyfile(test_fake=HEADER + textwrap.dedent('''
        @pytest.mark.claim("random-reinit-fails")
        def test_has_setup(lab, setup, conclude):
            assert setup.preset == "lenet-fashion-mnist" and setup.seeds >= 2
            conclude(CLAIMS["random-reinit-fails"], decision("SUPPORTED"))

        @pytest.mark.claim("warmup-helps-semistable")
        def test_has_none(lab, setup, conclude):
            raise AssertionError("never reached: no small setup declared")
        '''))
    result = run("--scale", "small")
    result.assert_outcomes(passed=1, skipped=1, deselected=2 * OTHERS)
    verdicts = {r["claim"]: r["verdict"] for r in results(pytester, "small")}
    assert verdicts == {"random-reinit-fails": "SUPPORTED", "warmup-helps-semistable": "NOT RUN"}


def test_the_plugin_costs_an_unrelated_session_no_heavy_import():
    """Loaded in every pytest session of the environment, the plugin imports neither torch nor scipy nor the
    executors until claim tests are collected (benchmarks/README.md has the session times)."""
    import subprocess
    import sys

    code = ("import sys, replication.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'scipy', 'numpy', 'replication.executors', 'replication.store') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
