"""The pytest plugin behind `pytest claims`: scales, markers, the lab, verdicts, the report.

- `--scale smoke|small|paper` picks which parametrization of every claim runs
  (default: smoke, or whatever `-m` selects); markers `smoke`, `small`,
  `paper`, `gpu` are registered; `gpu` tests skip when no CUDA device exists.
- A claim test ends with `conclude(...)`: the result is recorded on the test
  item; SUPPORTED passes, REFUTED and ERROR fail, INCONCLUSIVE and NOT RUN skip
  with their reason.
- At session end the report for each scale that ran is written once.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from .registry import SCALES, Claim, setup_for
from .report import NOT_RUN, ClaimResult, Evidence, merge_results, provenance, update_readme, write_report
from .stats import ERROR, INCONCLUSIVE, REFUTED, SUPPORTED, Decision

RESULT_PROPERTY = "claim_result"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("replication", "paper-replication claims")
    group.addoption("--scale", choices=SCALES, default=None,
                    help="which scale of every claim to run (default: smoke unless -m selects)")
    group.addoption("--store", default=None, help="run store folder (default: runs/ or $REPLICATION_STORE)")
    group.addoption("--device", default="cpu", help="cpu or cuda (default: cpu)")
    group.addoption("--seeds", type=int, default=None, help="override the number of seeds of every claim")
    group.addoption("--data-dir", default=None, help="where datasets live (default: $REPLICATION_DATA)")
    group.addoption("--report-dir", default="reports", help="where REPORT.md goes (default: reports/)")
    group.addoption("--no-train", action="store_true", help="only read stored runs (rebuild the report)")
    group.addoption("--no-report", action="store_true", help="do not write the report")
    group.addoption("--executor", default="inprocess", choices=("inprocess", "ray"),
                    help="where runs are computed: inprocess (default) or ray (one task per seed and arm family)")
    group.addoption("--ray-address", default=None, help="join this Ray cluster (default: start a local one)")
    group.addoption("--cpus-per-task", type=float, default=1.0, help="CPUs each Ray task asks for (default 1)")
    group.addoption("--gpus-per-task", type=float, default=None,
                    help="GPUs each Ray task asks for (default: 1 with --device cuda, else 0)")
    group.addoption("--allow-cpu", action="store_true",
                    help="run gpu-marked (paper-scale) claims on the CPU anyway: slow, for dry runs")
    group.addoption("--update-readme", action="store_true",
                    help="also copy the summary table into README.md (between its smoke-summary markers)")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in [("smoke", "smoke scale: CPU, embedded digits data, minutes"),
                       ("small", "small scale: CPU, Fashion-MNIST, about an hour"),
                       ("paper", "paper scale: the paper's Table 1 settings"),
                       ("gpu", "needs a CUDA GPU; skipped without one"),
                       ("claim(id): the paper claim a test decides", None)]:
        config.addinivalue_line("markers", f"{name}: {text}" if text else name)
    seeds = config.getoption("--seeds", None)
    if seeds is not None and seeds < 2:
        raise pytest.UsageError(f"--seeds must be at least 2 (the seed is the statistical unit), got {seeds}")
    _check_folders(config)
    device = config.getoption("--device", "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise pytest.UsageError(f"unknown --device {device!r}; use cpu or cuda")
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    config.stash[EXECUTOR] = _executor(config)
    config.pluginmanager.register(_Recorder(config), "replication-recorder")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scale" in metafunc.fixturenames:
        params = [pytest.param(s, marks=[getattr(pytest.mark, s)] + ([pytest.mark.gpu] if s == "paper" else []), id=s)
                  for s in SCALES]
        metafunc.parametrize("scale", params, scope="function")


def _chosen_scale(config: pytest.Config) -> str | None:
    scale = config.getoption("--scale")
    if scale is None and not config.getoption("-m"):
        return "smoke"
    return scale


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    scale = _chosen_scale(config)
    keep, drop = [], []
    for item in items:
        item_scale = getattr(item, "callspec", None) and item.callspec.params.get("scale")
        (drop if scale and item_scale and item_scale != scale else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    import torch

    device = str(config.getoption("--device"))
    if config.getoption("--allow-cpu"):
        return
    if not torch.cuda.is_available() or not device.startswith("cuda"):
        why = ("paper scale needs a CUDA GPU, and none is available" if not torch.cuda.is_available()
               else "paper scale runs on the GPU: pass --device cuda")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=why))


EXECUTOR = pytest.StashKey[Any]()
LAB = pytest.StashKey[Any]()  # the session's lab, for the report's count of runs trained and reused


def _executor(config: pytest.Config):
    from .executors import ExecutorError, make_executor

    try:
        return make_executor(config.getoption("--executor", "inprocess"), config.getoption("--ray-address", None),
                             config.getoption("--device", "cpu"), config.getoption("--cpus-per-task", 1.0),
                             config.getoption("--gpus-per-task", None), connect=True)
    except ExecutorError as err:
        raise pytest.UsageError(str(err)) from None


def _check_folders(config: pytest.Config) -> None:
    """Bad folders are usage errors before any test runs, not failures an hour into a session."""
    import os

    from .store import RunStore, StoreError

    data_dir = config.getoption("--data-dir", None)
    if data_dir and not Path(data_dir).expanduser().is_dir():
        raise pytest.UsageError(f"--data-dir {data_dir} does not exist; pass the folder that holds the datasets")
    store = config.getoption("--store", None) or os.environ.get("REPLICATION_STORE")
    if store is None:
        return
    if config.getoption("--no-train", False):
        if not Path(store).expanduser().is_dir():
            raise pytest.UsageError(f"--store {store} does not exist; --no-train only reads a store that holds runs")
        return
    try:
        RunStore(store).check_can_write()
    except StoreError as err:
        raise pytest.UsageError(str(err)) from None


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest):
    import os

    from .lab import Lab
    from .store import RunStore

    config = request.config
    store = RunStore(config.getoption("--store") or os.environ.get("REPLICATION_STORE", "runs"))
    lab = Lab(scale="smoke", store=store, device=config.getoption("--device"),
              data_dir=config.getoption("--data-dir") or os.environ.get("REPLICATION_DATA"),
              seeds=config.getoption("--seeds"), train=not config.getoption("--no-train"),
              report_dir=Path(config.getoption("--report-dir")), progress=_round_printer(config),
              executor=config.stash[EXECUTOR])
    config.stash[LAB] = lab
    return lab


def _round_printer(config: pytest.Config):
    """With -v, one line per trained round (long paper-scale sessions should show they are alive)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.getoption("verbose") < 1:
        return None

    def show(spec, index, n, metrics) -> None:
        acc = metrics["test_acc"]
        reporter.write_line(f"  {spec.train.model}/{spec.train.dataset} batch {spec.train.batch_size} {spec.control}"
                            f"{f' λ={spec.repel_lambda:g}' if spec.repel_lambda else ''} seed {spec.init_seed}: "
                            f"round {index}/{n - 1}, {100 * metrics['density']:.2f}% remaining, "
                            f"test acc {'diverged' if acc is None else f'{100 * acc:.2f}%'}")
    return show


class Conclude:
    """conclude(claim, decision, evidence, reference=...) records the verdict on the test item and ends the test."""

    def __init__(self, item: pytest.Item, scale: str):
        self.item, self.scale = item, scale
        self.started = time.perf_counter()

    def __call__(self, claim: Claim, decision: Decision | None, evidence: Evidence | None = None,
                 reference: str = "", reason: str = "") -> None:
        evidence = (evidence or Evidence()) + Evidence(reference=reference)
        result = result_for(claim, self.scale, decision, time.perf_counter() - self.started, evidence, reason)
        self.item.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict())))
        outcome(result)

    def not_run(self, claim: Claim, why: str | None = None) -> None:
        """A claim with no experiment at this scale: reported as NOT RUN, with the reason, never dropped."""
        needs = f"; needs {claim.needs}" if claim.needs else ""
        self(claim, None, reason=why or f"no {self.scale}-scale experiment declared yet{needs}")


@pytest.fixture
def conclude(request: pytest.FixtureRequest, lab, scale: str) -> Conclude:
    lab.scale = scale
    return Conclude(request.node, scale)


@pytest.fixture
def setup(request: pytest.FixtureRequest, lab, conclude: Conclude):
    """The experiment of the test's claim (its `claim` marker) at this scale; NOT RUN ends the test if none."""
    from .registry import CLAIMS

    marker = request.node.get_closest_marker("claim")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `setup` but has no @pytest.mark.claim(id)")
    claim = CLAIMS[marker.args[0]]
    found = lab.setup(claim)
    if found is None:
        conclude.not_run(claim)
    return found


def result_for(claim: Claim, scale: str, decision: Decision | None, wall: float,
               evidence: Evidence | None = None, reason: str = "") -> ClaimResult:
    setup = setup_for(claim.id, scale)
    declared = {"id": claim.id, "number": claim.number, "statement": claim.statement, "figure": claim.figure,
                "comparison": claim.comparison, "parts": [dataclasses.asdict(p) for p in claim.parts]}
    return ClaimResult(declared, scale, decision, wall, reason, evidence or Evidence(),
                       known_refuted=setup.known_refuted if setup else "",
                       refuted_parts=list(setup.refuted_parts) if setup else [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A claim test that crashed before concluding is reported as ERROR, never silently dropped."""
    report = yield
    marker = item.get_closest_marker("claim")
    recorded = any(name == RESULT_PROPERTY for name, _ in item.user_properties)
    if call.when in ("setup", "call") and report.failed and marker is not None and not recorded:
        from .registry import CLAIMS

        scale = getattr(item, "callspec", None) and item.callspec.params.get("scale") or "smoke"
        error = Decision(ERROR, "run", reason=f"the experiment raised: {call.excinfo.exconly()[:500]}")
        result = result_for(CLAIMS[marker.args[0]], scale, error, call.duration)
        report.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict())))
    return report


def outcome(result: ClaimResult) -> None:
    """SUPPORTED passes; REFUTED and ERROR fail; INCONCLUSIVE and NOT RUN skip.

    A claim the registry records as known not to replicate at this scale
    (`Setup.known_refuted`) is an expected failure while it still does not
    replicate: REFUTED, or INCONCLUSIVE where a near-zero effect's interval
    crosses the margin on another machine's rounding, is xfail with the
    recorded reason. SUPPORTED or ERROR fails, so that the record gets revisited.
    Where the record names the parts it is about (`Setup.refuted_parts`), any
    other part that is not SUPPORTED fails too.
    """
    reason = result.decision.reason if result.decision is not None else result.reason
    message = f"{result.claim['id']} [{result.scale}]: {result.verdict} — {reason}"
    lapsed = [i for i, part in enumerate(result.parts, 1)
              if result.refuted_parts and i not in result.refuted_parts and part["verdict"] != SUPPORTED]
    if result.known_refuted and lapsed:
        pytest.fail(f"{message}; part(s) {lapsed}, recorded as replicating beside the known refutation of "
                    f"part(s) {result.refuted_parts}, no longer do", pytrace=False)
    if result.known_refuted:
        if result.verdict in (REFUTED, INCONCLUSIVE):
            pytest.xfail(f"{message} (known not to replicate at this scale: {result.known_refuted})")
        pytest.fail(f"{message}; the registry records it as not replicating at this scale "
                    f"({result.known_refuted}): revisit Setup.known_refuted", pytrace=False)
    if result.verdict == SUPPORTED:
        return
    if result.verdict in (INCONCLUSIVE, NOT_RUN):
        pytest.skip(message)
    if result.verdict in (REFUTED, ERROR):
        pytest.fail(message, pytrace=False)
    raise AssertionError(f"unknown verdict {result.verdict!r}")


class _Recorder:
    """Collects claim results as tests finish; writes the report once at session end."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY and report.when in ("setup", "call"):
                self.results.append(json.loads(value))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.results or self.config.getoption("--no-report"):
            return
        out = Path(self.config.getoption("--report-dir"))
        prov = provenance(time.perf_counter() - self.started, self.config.getoption("--device"))
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        for scale in sorted({r["scale"] for r in self.results}):
            merged = merge_results(out, scale, [r for r in self.results if r["scale"] == scale])
            runs = {"runs": self.config.stash[LAB].provenance(scale)} if LAB in self.config.stash else {}
            path = write_report(merged, scale, out, {**prov, **runs})
            if self.config.getoption("--update-readme") and scale == "smoke":
                update_readme(Path(self.config.rootpath) / "README.md", merged, scale)
            if reporter is not None:
                reporter.write_line(f"replication report: {path}")
