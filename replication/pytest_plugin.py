"""The pytest plugin behind `pytest claims`: scales, markers, the lab, verdicts, the report.

- Loaded by its pytest11 entry point in every pytest session of the environment, it acts only on claim
  tests (those marked `@pytest.mark.claim(id)`): other tests keep their own `scale` parameters and markers.
- `--scale NAME` picks which parametrization of every claim runs (default: smoke, or whatever `-m`
  selects); markers `smoke`, `small`, `medium`, `paper`, `gpu` are registered; `gpu` claims skip when no
  CUDA device exists. Every option also answers to `--replication-NAME`, the only name it gets where
  another plugin already took the short one.
- A claim test ends with `conclude(...)`: the result is recorded on the test
  item; SUPPORTED passes, REFUTED and ERROR fail, INCONCLUSIVE, NOT TESTABLE and NOT RUN skip
  with their reason.
- At session end the report for each scale that ran is written once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Only what registers options and markers is imported here: this module loads in every pytest session of the
# environment, so torch, scipy and the executors are imported when claim tests are collected, not before.
from .options import OptionError, SessionOptions, add_flags
from .registry import RECORDS, SCALES, Claim, setup_for
from .verdicts import ERROR, INCONCLUSIVE, NOT_RUN, NOT_TESTABLE, REFUTED, SUPPORTED

if TYPE_CHECKING:
    from .report import ClaimResult, Evidence
    from .stats import Decision

RESULT_PROPERTY = "claim_result"




def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("replication", "paper-replication claims")
    taken = _option_names(parser)

    def add(name: str, **kwargs: Any) -> None:
        long = "--replication-" + name[2:]
        names = (long,) if name in taken else (name, long)
        group.addoption(*names, dest=name[2:].replace("-", "_"), **kwargs)

    add_flags(add)


def _option_names(parser: pytest.Parser) -> set[str]:
    """Option strings other plugins registered before this one (pytest offers no public way to ask)."""
    groups = [getattr(parser, "_anonymous", None), *getattr(parser, "_groups", [])]
    return {name for group in groups if group is not None for opt in group.options for name in opt.names()}


def pytest_configure(config: pytest.Config) -> None:
    markers = {s.pytest_marker: s.description for s in reversed(RECORDS.values())}  # a scale named as its marker wins
    for name, text in [*markers.items(), ("gpu", "needs a CUDA GPU; skipped without one"),
                       ("claim(id): the paper claim a test decides", None)]:
        config.addinivalue_line("markers", f"{name}: {text}" if text else name)
    options = SessionOptions.read(vars(config.option))
    config.stash[OPTIONS] = options
    config.pluginmanager.register(_Recorder(config, options), "replication-recorder")


def _prepare(config: pytest.Config) -> None:
    """Checks the options and builds the executor, once claim tests are collected (a session without them pays
    for neither)."""
    if EXECUTOR in config.stash:
        return
    try:
        config.stash[OPTIONS].check()
        config.stash[EXECUTOR] = config.stash[OPTIONS].make_executor(connect=True)
    except OptionError as err:
        raise pytest.UsageError(str(err)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scale" in metafunc.fixturenames and metafunc.definition.get_closest_marker("claim") is not None:
        params = [pytest.param(s, id=s, marks=[getattr(pytest.mark, RECORDS[s].pytest_marker)]
                               + ([pytest.mark.gpu] if RECORDS[s].needs_cuda else [])) for s in SCALES]
        metafunc.parametrize("scale", params, scope="function")


def _item_scale(item: pytest.Item) -> str | None:
    """The scale a claim test runs at: its `scale` parameter, the only place a scale is chosen (None: not a
    claim test, which this plugin leaves alone)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or item.get_closest_marker("claim") is None:
        return None
    return callspec.params.get("scale")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    options = config.stash[OPTIONS]
    scale = options.scale or (None if config.getoption("-m") else "smoke")
    keep, drop = [], []
    for item in items:
        (drop if scale and _item_scale(item) not in (None, scale) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if any(_item_scale(item) for item in items):
        _prepare(config)
    gpu = [item for item in items if "gpu" in item.keywords and _item_scale(item)]
    if options.allow_cpu or not gpu:
        return
    import torch

    if not torch.cuda.is_available() or not options.device.startswith("cuda"):
        why = ("paper scale needs a CUDA GPU, and none is available" if not torch.cuda.is_available()
               else "paper scale runs on the GPU: pass --device cuda")
        for item in gpu:
            item.add_marker(pytest.mark.skip(reason=why))


OPTIONS = pytest.StashKey[SessionOptions]()
EXECUTOR = pytest.StashKey[Any]()
SESSION = pytest.StashKey[Any]()  # the claims' shared Session, for the report's count of runs trained and reused


@pytest.fixture(scope="session")
def replication_session(request: pytest.FixtureRequest):
    """What every claim shares: the store, the executor, the loaded datasets, the ledger of runs."""
    from .lab import Session
    from .store import RunStore

    config, options = request.config, request.config.stash[OPTIONS]
    session = Session(RunStore(options.store), device=options.device, data_dir=options.data_dir,
                      seeds=options.seeds, train=not options.no_train, report_dir=Path(options.report_dir),
                      executor=config.stash[EXECUTOR])
    specs = _session_specs(session, request.session.items)
    session.progress = _round_progress(config, session, specs)
    config.stash[SESSION] = session
    if session.train:
        session.unfinished_at_start = {s.hash() for s in specs if not session.store.is_complete(s)}
        session.executor.prefetch(specs, session.store, session.device, session.data_dir)
    yield session
    session.executor.close()


def _session_specs(session, items: list[pytest.Item]) -> list:
    """Every run the selected claims ask for, in the order the claims run."""
    claims = [(item.get_closest_marker("claim").args[0], _item_scale(item)) for item in items
              if _item_scale(item) and not item.get_closest_marker("skip")]
    return list(dict.fromkeys(s for claim_id, scale in claims for s in session.lab(scale).specs(claim_id)))


def _round_progress(config: pytest.Config, session, specs: list):
    """-v: a line per trained round in the terminal report. Otherwise, on a terminal, one bar over every round
    of every run the collected claims ask for (the stored ones counted from the start); piped, nothing."""
    from .progress import RoundPrinter

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and config.getoption("verbose") >= 1:
        return RoundPrinter(reporter.write_line)
    terminal = _Terminal(config)
    if reporter is None or not session.train or not terminal.isatty():
        return None
    return RoundPrinter.over(session.store, specs, terminal)


class _Terminal:
    """The terminal under pytest's output capture, for a progress bar drawn while a claim test runs."""

    def __init__(self, config: pytest.Config):
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        self.encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        with self._uncaptured():  # fd capture points stderr's descriptor at a file until it is suspended
            return sys.stderr.isatty()

    def write(self, text: str) -> None:
        with self._uncaptured():
            sys.stderr.write(text)

    def flush(self) -> None:
        with self._uncaptured():
            sys.stderr.flush()

    def _uncaptured(self):
        return self.capture.global_and_fixture_disabled() if self.capture is not None else contextlib.nullcontext()


@pytest.fixture
def lab(request: pytest.FixtureRequest, replication_session, scale: str):
    """The session at the test's scale; a progress bar is labelled with the claim it now trains for."""
    marker = request.node.get_closest_marker("claim")
    stage = getattr(replication_session.progress, "stage", None)
    if marker is not None and stage is not None:
        stage(f"{marker.args[0]} [{scale}]")
    return replication_session.lab(scale)


class Conclude:
    """conclude(claim, decision, evidence, reference=...) records the verdict on the test item and ends the test."""

    def __init__(self, item: pytest.Item, scale: str):
        self.item, self.scale = item, scale
        self.started = time.perf_counter()

    def __call__(self, claim: Claim, decision: Decision | None, evidence: Evidence | None = None,
                 reference: str = "", reason: str = "") -> None:
        from .report import Evidence

        evidence = (evidence or Evidence()) + Evidence(reference=reference)
        result = result_for(claim, self.scale, decision, time.perf_counter() - self.started, evidence, reason)
        self.item.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict())))
        outcome(result)

    def not_run(self, claim: Claim, why: str | None = None) -> None:
        """A claim with no experiment at this scale: reported as NOT RUN, with the reason, never dropped."""
        needs = f"; needs {claim.needs}" if claim.needs else ""
        self(claim, None, reason=why or f"no {self.scale}-scale experiment declared yet{needs}")


@pytest.fixture
def conclude(request: pytest.FixtureRequest, scale: str) -> Conclude:
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
    if found is None or found.not_run:
        conclude.not_run(claim, found and found.not_run)
    return found


def result_for(claim: Claim, scale: str, decision: Decision | None, wall: float,
               evidence: Evidence | None = None, reason: str = "") -> ClaimResult:
    from .report import ClaimResult, DeclaredClaim, Evidence

    setup = setup_for(claim.id, scale)
    return ClaimResult(DeclaredClaim.of(claim), scale, decision, wall, reason, evidence or Evidence(),
                       known_refuted=setup.known_refuted if setup else "",
                       refuted_parts=list(setup.refuted_parts) if setup else [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A claim test that crashed before concluding is reported as ERROR, never silently dropped. One whose runs
    are not stored while training is off (a report rebuild) is skipped with one line saying so, and keeps the
    result the report already has: a missing run says nothing about the claim."""
    report = yield
    marker = item.get_closest_marker("claim")
    recorded = any(name == RESULT_PROPERTY for name, _ in item.user_properties)
    scale = _item_scale(item)
    if call.when in ("setup", "call") and report.failed and marker is not None and scale and not recorded:
        from .lab import MissingRuns
        from .registry import CLAIMS
        from .stats import Decision

        if call.excinfo.errisinstance(MissingRuns):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")
            return report

        error = Decision(ERROR, "run", reason=f"the experiment raised: {call.excinfo.exconly()[:500]}")
        result = result_for(CLAIMS[marker.args[0]], scale, error, call.duration)
        report.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict())))
    return report


def outcome(result: ClaimResult) -> None:
    """SUPPORTED passes; REFUTED and ERROR fail; INCONCLUSIVE, NOT TESTABLE and NOT RUN skip, with the reason.

    A claim the registry records as known not to replicate at this scale
    (`Setup.known_refuted`) is an expected failure while it still does not
    replicate: REFUTED, or INCONCLUSIVE where a near-zero effect's interval
    crosses the margin on another machine's rounding, is xfail with the
    recorded reason. SUPPORTED or ERROR fails, so that the record gets revisited.
    Where the record names the parts it is about (`Setup.refuted_parts`), any
    other part that is not SUPPORTED fails too.
    """
    message = f"{result.claim.id} [{result.scale}]: {result.verdict} — {result.explanation}"
    lapsed = [i for i, part in enumerate(result.parts, 1)
              if result.refuted_parts and i not in result.refuted_parts and part.verdict != SUPPORTED]
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
    if result.verdict in (INCONCLUSIVE, NOT_TESTABLE, NOT_RUN):
        pytest.skip(message)
    if result.verdict in (REFUTED, ERROR):
        pytest.fail(message, pytrace=False)
    raise AssertionError(f"unknown verdict {result.verdict!r}")


class _Recorder:
    """Collects claim results as tests finish; writes the report once at session end."""

    def __init__(self, config: pytest.Config, options: SessionOptions):
        self.config, self.options = config, options
        self.results: list[ClaimResult] = []
        self.started = time.perf_counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY and report.when in ("setup", "call"):
                from .report import ClaimResult

                self.results.append(ClaimResult.from_dict(json.loads(value)))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        progress = getattr(self.config.stash.get(SESSION, None), "progress", None)
        if hasattr(progress, "close"):
            progress.close()
        if not self.results or self.options.no_report:
            return
        from .report import Decided, merge_results, provenance, write_report

        out = Path(self.options.report_dir)
        prov = provenance(time.perf_counter() - self.started, self.options.device)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        decided = Decided(prov["commit"], prov["date"])
        for scale in sorted({r.scale for r in self.results}):
            new = [dataclasses.replace(r, decided=decided) for r in self.results if r.scale == scale]
            merged = merge_results(out, scale, new)
            runs = {"runs": self.config.stash[SESSION].run_counts(scale)} if SESSION in self.config.stash else {}
            path = write_report(merged, scale, out, {**prov, **runs})
            if reporter is not None:
                reporter.write_line(f"replication report: {path}")
