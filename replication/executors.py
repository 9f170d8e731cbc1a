"""Executors: where the experiments a claim or command asks for are computed.

- `InProcess` (the default) computes them here, the seeds and arms that train
  alike stacked as one population (what CPU smoke runs and unit tests use).
- `RayExecutor` hands them to Ray, one task per family (an IMP run and the
  controls that read its masks round by round), each task asking for its share
  of CPUs and GPUs. `ray.init()` starts a local cluster when no address is given.
  A pytest session hands it every run its claims will ask for up front
  (`prefetch`); where the workers do not share the driver's CPUs (they train
  on GPUs, or on a remote cluster) they train the next claims' runs while the
  driver analyses the last one's.

Either way results land in the run store keyed by spec hash, written atomically
under the run's lock: a task that runs twice, or a worker that dies, costs time
but never corrupts or duplicates a result. The store must be a folder every
worker sees (a shared filesystem on a multi-machine cluster), and the workers
need this package installed. Second trainings (the instability measure's copies)
are runs like any other, computed in the family of the run they repeat.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .data import DataError, TensorData
from .engine.imp import Progress, run_experiments
from .spec import ExperimentSpec, SpecError, families
from .store import Run, RunStore, StoreError

RAY_INSTALL = "pip install -e '.[ray]'"


class ExecutorError(RuntimeError):
    """An executor cannot start (Ray missing, a cluster out of reach); the message says how to fix it."""


class Executor(Protocol):
    def runs(self, specs: list[ExperimentSpec], store: RunStore, device: str, data_dir: str | None,
             data: TensorData | None = None, progress: Progress | None = None) -> list[Run]: ...

    def prefetch(self, specs: list[ExperimentSpec], store: RunStore, device: str, data_dir: str | None) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class InProcess:
    population: int | None = None  # most vmapped convnets trained at once (default: every one that can)

    def runs(self, specs, store, device, data_dir, data=None, progress=None) -> list[Run]:
        return run_experiments(specs, store, device, data, data_dir, progress=progress, population=self.population)

    def prefetch(self, specs, store, device, data_dir) -> None:
        """Nothing to start ahead: in this process a run is computed when a claim asks for it."""

    def close(self) -> None:
        pass


def _compute_family(specs: list[ExperimentSpec], store_root: str, device: str, data_dir: str | None,
                    population: int | None = None) -> list[str]:
    """The Ray task: compute (or resume, or just load) one family in the worker; return the hashes."""
    run_experiments(specs, RunStore(store_root), device, data_dir=data_dir, population=population)
    return [s.hash() for s in specs]


def import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"the Ray executor needs Ray, which is not installed; {RAY_INSTALL}") from None
    return ray


@dataclass(frozen=True)
class RayExecutor:
    address: str | None = None  # None: start a local cluster
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 3  # a task whose worker dies is retried; it resumes from the store
    population: int | None = None  # most vmapped convnets a task trains at once
    # start a session's runs ahead? None: where the workers do not share the driver's CPUs (GPU tasks, or a
    # remote cluster). On a local CPU cluster the driver's multi-threaded analyses beside busy workers thrash.
    start_ahead: bool | None = None
    # the task computing each spec that `prefetch` started; the dict is this executor's own, filled as it goes
    ahead: dict = field(default_factory=dict, compare=False, repr=False)

    def connect(self):
        """Start or join the cluster (once per process) and check it has the GPUs a task asks for."""
        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
                raise ExecutorError(f"cannot start or reach {where} ({err}); check `ray status`, "
                                    f"or leave out --ray-address to start a local one") from None
        gpus = ray.cluster_resources().get("GPU", 0)
        if self.gpus_per_task > gpus:  # Ray would queue such tasks forever
            raise ExecutorError(f"each task asks for {self.gpus_per_task:g} GPU(s) but the Ray cluster has {gpus:g}; "
                                f"pass --gpus-per-task 0 with --device cpu, or add GPU nodes")
        return ray

    def runs(self, specs, store, device, data_dir, data=None, progress=None) -> list[Run]:
        todo = _unfinished(specs, store)
        if todo:
            self._compute(todo, store, device, data_dir)
        runs = run_experiments(specs, store, device, data, data_dir)  # all finished now: this only loads
        trained = {s for family in todo for s in family}
        _replay([run for run in runs if run.spec in trained], progress)
        return runs

    def prefetch(self, specs, store, device, data_dir) -> None:
        """Start a task for every unfinished family now, in the order given; `runs` then waits on these tasks
        instead of starting its own, and the workers never idle while the driver analyses."""
        ahead = self.start_ahead if self.start_ahead is not None else (self.gpus_per_task > 0 or bool(self.address))
        todo = _unfinished(specs, store) if ahead else []
        if todo:
            for ref, family in self._submit(todo, store, device, data_dir).items():
                self.ahead.update(dict.fromkeys(family, ref))

    def close(self) -> None:
        """Cancel the tasks started ahead that no claim waited for (a session cut short); they resume later."""
        if self.ahead:
            ray = import_ray()
            for ref in set(self.ahead.values()):
                ray.cancel(ref, force=True)
            self.ahead.clear()

    def _submit(self, todo: list[list[ExperimentSpec]], store: RunStore, device: str,
                data_dir: str | None) -> dict:
        ray = self.connect()
        task = ray.remote(_compute_family).options(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task,
                                                   max_retries=self.max_retries)
        root = str(store.root.absolute())
        data_dir = str(Path(data_dir).expanduser().absolute()) if data_dir else None  # workers have other cwds
        return {task.remote(family, root, device, data_dir, self.population): family for family in todo}

    def _compute(self, todo: list[list[ExperimentSpec]], store: RunStore, device: str, data_dir: str | None) -> None:
        # a family that prefetch started (as part of a larger one: a session's union of claims) is waited on
        started = {self.ahead[s] for family in todo for s in family if s in self.ahead}
        own = self._submit([f for f in todo if not all(s in self.ahead for s in f)], store, device, data_dir)
        ray = import_ray()  # connected by _submit
        pending = list(started) + list(own)
        bar = _bar(len(pending))
        try:
            while pending:
                done, _ = ray.wait(pending, num_returns=1)
                pending.remove(done[0])
                _get(ray, done[0])
                if bar is not None:
                    bar.update(1)
        finally:  # one failed task ends this computation: its own other tasks must not hold GPUs and run locks
            for ref in pending:  # on; those started ahead stay, for the claims that need them
                if ref in own:
                    ray.cancel(ref, force=True)
            if bar is not None:
                bar.close()


def _unfinished(specs: list[ExperimentSpec], store: RunStore) -> list[list[ExperimentSpec]]:
    return [f for f in families(specs) if not all(store.is_complete(s) for s in f)]


def _get(ray, ref) -> None:
    """Wait for a task; a worker's usage error (bad data, spec or store) surfaces as itself, as if local."""
    try:
        ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, (SpecError, DataError, StoreError)):
            raise cause from None
        raise


def _replay(runs: list[Run], progress: Progress | None) -> None:
    """Replay the rounds trained by Ray to the progress callback (Ray reports per task, not per round)."""
    for run in runs if progress is not None else []:
        for record in run.rounds:
            progress(run.spec, record.index, run.spec.n_rounds, record.metrics)


def _bar(total: int):
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="task", desc="ray", file=sys.stderr)


def make_executor(name: str, address: str | None = None, device: str = "cpu", cpus_per_task: float = 1.0,
                  gpus_per_task: float | None = None, connect: bool = False, population: int | None = None,
                  start_ahead: bool = False) -> Executor:
    """The executor a user asked for, checked before any work starts (a one-line error otherwise);
    connect=True also starts or joins the Ray cluster now, so an unreachable one fails up front."""
    if name not in ("inprocess", "ray"):  # options.EXECUTORS, the flag's choices (tests/test_executors.py)
        raise ExecutorError(f"unknown executor {name!r}; use inprocess or ray")
    if population is not None and population < 1:
        raise ExecutorError(f"--population must be at least 1, got {population}")
    if name == "inprocess":
        if address or start_ahead:
            raise ExecutorError(f"{'--ray-address' if address else '--start-ahead'} needs --executor ray")
        return InProcess(population)
    import_ray()
    if gpus_per_task is None:
        gpus_per_task = 1.0 if device.startswith("cuda") else 0.0
    if cpus_per_task <= 0 or gpus_per_task < 0:
        raise ExecutorError(f"a task needs > 0 CPUs and >= 0 GPUs, got {cpus_per_task} and {gpus_per_task}")
    if device.startswith("cuda") and (gpus_per_task == 0 or device != "cuda"):
        # Ray hides every GPU from a task that asks for none, and shows a task only its own GPU(s) as cuda:0…
        raise ExecutorError(f"with --executor ray, use --device cuda (not {device}) and --gpus-per-task > 0: "
                            f"Ray gives each task its own GPU")
    executor = RayExecutor(address, cpus_per_task, gpus_per_task, population=population,
                           start_ahead=True if start_ahead else None)
    if connect:
        executor.connect()
    return executor
