"""The lab: what a claim test asks for runs through.

A `Session` holds what a pytest session shares (the run store, the executor, the
loaded datasets); a `Lab` is that session at one scale. It hands out runs by spec:
computed once, stored by hash, reused by every claim that asks for the same
experiment (claims 1, 3, 7, 8 and 10 share one sweep).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import TensorData, load_dataset
from .executors import Executor, InProcess
from .figures import FigureFolder
from .engine.imp import Progress
from .registry import CLAIMS, LANDSCAPE_EXAMPLES, Claim, Setup, setup_for
from .spec import ExperimentSpec
from .stability import MEASURES_VERSION, round_instability, successive_barriers
from .store import Run, RunStore


class MissingRuns(RuntimeError):
    """Training was switched off (report rebuild) and a run is not in the store."""


@dataclass
class Session:
    """What every claim of a pytest session shares, whatever its scale: the store, where runs are computed,
    the loaded datasets, and the ledger of runs asked for."""

    store: RunStore
    device: str = "cpu"
    data_dir: str | None = None
    seeds: int | None = None  # overrides every setup's seed count
    train: bool = True  # False: only read the store (rebuilding a report)
    report_dir: Path = Path("reports")
    progress: Progress | None = None
    executor: Executor = field(default_factory=InProcess)  # or RayExecutor: where the runs are computed
    datasets: dict[str, TensorData] = field(default_factory=dict)
    # each run asked for, by hash: "trained" here (or resumed), or "stored" (already complete); the
    # report states both counts, so that a wall time from a warm store is not read as training time
    ledger: dict[tuple[str, str], str] = field(default_factory=dict)  # (scale, hash) -> kind
    # runs unfinished when the session began: trained in it, even if complete by the time a claim asks
    # (an executor may have started them ahead)
    unfinished_at_start: set[str] = field(default_factory=set)
    # landscape measures already taken, by what they measured: claims that share runs (1 and 3) share these too
    measures: dict[tuple, list[float]] = field(default_factory=dict)

    def lab(self, scale: str) -> "Lab":
        return Lab(scale, self)

    def run_counts(self, scale: str) -> str:
        """How many of the runs the claims at `scale` asked for were trained in this session."""
        counts = [sum(v == kind for (at, _), v in self.ledger.items() if at == scale) for kind in ("trained", "stored")]
        return f"{counts[0]} trained in this session, {counts[1]} read complete from the store"


@dataclass(frozen=True)
class Lab:
    """The session seen from one scale: what a claim test asks for runs through."""

    scale: str
    session: Session

    def setup(self, claim: Claim) -> Setup | None:
        setup = setup_for(claim.id, self.scale)
        if setup is not None and self.session.seeds:
            setup = dataclasses.replace(setup, seeds=self.session.seeds)
        return setup

    def specs(self, claim_id: str) -> list[ExperimentSpec]:
        """Every run the claim asks for at this scale (none where it is not run here)."""
        claim = CLAIMS[claim_id]
        setup = self.setup(claim)
        return claim.specs(setup) if setup is not None and not setup.not_run else []

    @property
    def figures(self) -> FigureFolder:
        return FigureFolder(self.session.report_dir, self.scale)

    def data(self, name: str) -> TensorData:
        s = self.session
        if name not in s.datasets:
            s.datasets[name] = load_dataset(name, s.data_dir).to(s.device)
        return s.datasets[name]

    def classes(self, arms: dict[str, list[Run]]) -> int:
        """The number of classes of the dataset the arms were trained on (chance is one over it)."""
        return self.data(next(iter(arms.values()))[0].spec.train.dataset).num_classes

    def runs(self, specs: list[ExperimentSpec]) -> list[Run]:
        return self.arms({"runs": specs})["runs"]

    def arms(self, arms: dict[str, list[ExperimentSpec]]) -> dict[str, list[Run]]:
        """Runs for several named arms at once, so that arms which train alike (IMP, its reinitialization,
        the second trainings of its rounds) are computed together as one population."""
        session, store = self.session, self.session.store
        specs = list(dict.fromkeys(s for arm in arms.values() for s in arm))
        if not session.train:
            missing = [s for s in specs if not store.is_complete(s)]
            if missing:
                raise MissingRuns(f"{len(missing)} run(s) missing from {store.root} (first: {missing[0].hash()}); "
                                  f"`replication status --scale {self.scale}` lists them, `replication run` "
                                  f"computes them")
        for s in specs:
            trained = s.hash() in session.unfinished_at_start or not store.is_complete(s)
            session.ledger.setdefault((self.scale, s.hash()), "trained" if trained else "stored")
        data = self.data(specs[0].train.dataset)
        runs = dict(zip(specs, session.executor.runs(specs, store, session.device, session.data_dir, data,
                                                     progress=session.progress)))
        return {name: [runs[s] for s in arm] for name, arm in arms.items()}

    def instability(self, runs: list[Run], copies: list[Run]) -> dict[int, np.ndarray]:
        """LII of each run's subnetworks (points of test error), per round its second trainings repeat."""
        by_round: dict[int, list[Run]] = {}
        for copy in copies:
            by_round.setdefault(copy.spec.copy_round, []).append(copy)
        data, examples = self.data(runs[0].spec.train.dataset), LANDSCAPE_EXAMPLES.get(self.scale)
        return {r: np.array(self._measure(("lii", examples, *(x.spec.hash() for x in runs + c)),
                                          lambda c=c: round_instability(runs, c, data, examples=examples)))
                for r, c in by_round.items()}

    def barriers(self, runs: list[Run]) -> np.ndarray:
        """Error barriers between successive rounds (points of training error): runs × round pairs."""
        data, examples = self.data(runs[0].spec.train.dataset), LANDSCAPE_EXAMPLES.get(self.scale)
        return np.array([self._measure(("barriers", examples, run.spec.hash()),
                                       lambda run=run: successive_barriers(run, data, examples=examples))
                         for run in runs])

    def _measure(self, key: tuple, measure) -> list[float]:
        """A landscape measure taken once: kept for the session, and in the store under what it measured and
        how (MEASURES_VERSION, the device), so that a report rebuilt from the same runs reads it back."""
        key = (*key, MEASURES_VERSION, self.session.device)
        if key not in self.session.measures:
            values = self.session.store.load_measure(key)
            if values is None:
                values = [float(v) for v in measure()]
                self.session.store.save_measure(key, values)
            self.session.measures[key] = values
        return self.session.measures[key]
