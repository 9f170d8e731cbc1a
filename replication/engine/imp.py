"""Iterative magnitude pruning and its controls, round by round through the run store.

Round 0 trains the dense network. Round r > 0 takes the mask pruned from round
r−1's trained weights (20% of the survivors, globally by magnitude), resets the
survivors to their initial values (or rewinds them to step k) and retrains.

Controls reuse the IMP run's mask of each round:
- `reinit`: a fresh initialization for every round, from its own seed;
- `random-prune`: the same per-layer densities at random places, original init.

A second training (`spec.copy_round = r`) repeats round r of its run from the
same start weights and mask with SGD noise of its own: the other end of the
instability measure. It is a run of one round, stored like any other.

Each round uses its own SGD-noise seed derived from the run's noise seed and
the round index, shared by IMP and its controls so the arms stay paired.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .. import masks as M
from ..data import TensorData, load_dataset
from ..devices import on_host, to_device
from .stacked_convnet import can_vmap, train_conv_population
from ..evaluation import evaluate
from .losses import RepellentLoss
from ..models import fresh_model
from .stacked_mlp import Member, can_stack, train_population
from ..spec import ExperimentSpec, SpecError, derive_seed
from ..store import RoundRecord, Run, RunStore, StoreError
from .training import train

Progress = Callable[[ExperimentSpec, int, int, dict], None]


def round_noise_seed(spec: ExperimentSpec, index: int) -> int:
    return derive_seed(spec.noise_seed, "round", index)


def copy_noise_seed(spec: ExperimentSpec, index: int) -> int:
    """The SGD noise of the second training of round `index`: the run's noise seed, then 'copy', then the round."""
    return derive_seed(spec.noise_seed, "copy", index)


def n_rounds(spec: ExperimentSpec) -> int:
    """ExperimentSpec.n_rounds (kept for callers of the function)."""
    return spec.n_rounds


@dataclass
class _InFlight:
    """One experiment being computed: its spec, initial weights and the rounds it has so far."""

    spec: ExperimentSpec
    path: Path
    init: dict[str, torch.Tensor]
    history: list[RoundRecord] = field(default_factory=list)
    source: "_InFlight | None" = None  # whose rounds it reads: a control's IMP run, a copy's own run
    rewind: dict[str, torch.Tensor] | None = None
    stored: bool = False  # complete in the store before this call: nothing to train or write
    stopped: bool = False  # diverged, or its source has no round to give
    planned: "tuple[int, _Round] | None" = None  # the step about to be trained, planned once for all who read it

    @property
    def steps(self) -> tuple[int, ...]:
        """The steps of the schedule at which it trains (or reads back) a round: its stored rounds, or the one
        round a copy repeats."""
        return (self.spec.copy_round,) if self.spec.copy_round is not None else self.spec.stored_rounds

    def turn(self, index: int) -> bool:
        return index in self.steps

    def next_stored(self) -> int:
        """The index its next stored round has (a copy stores its one round as round 0)."""
        return self.spec.stored_rounds[len(self.history)]

    def run(self) -> Run:
        return Run(self.spec, self.path, self.init, list(self.history), complete=True)


def run_experiment(spec: ExperimentSpec, store: RunStore, device: str = "cpu", data: TensorData | None = None,
                   data_dir: str | None = None, progress: Progress | None = None) -> Run:
    """Compute (or load, or resume) one experiment and return the stored run."""
    return run_experiments([spec], store, device, data, data_dir, progress)[0]


def run_experiments(specs: list[ExperimentSpec], store: RunStore, device: str = "cpu",
                    data: TensorData | None = None, data_dir: str | None = None,
                    progress: Progress | None = None, stack: bool = True,
                    population: int | None = None) -> list[Run]:
    """Compute (or load, or resume) several experiments and return their runs, in order.

    Controls and copies pull in the runs they read. Experiments with the same
    training settings advance round by round as one population (population.py),
    vmapped convnets in populations of at most `population` (default: all of them).
    Each run is read from the store at most once.
    """
    wanted = list(dict.fromkeys(specs))
    finished = {s: run for s in wanted if (run := store.load_complete(s)) is not None}
    pending = [s for s in wanted if s not in finished]
    datasets = sorted({s.train.dataset for s in pending})
    if len(datasets) > 1:  # one dataset in memory at a time
        for name in datasets:
            part = [s for s in pending if s.train.dataset == name]
            finished.update(zip(part, run_experiments(part, store, device, None, data_dir, progress, stack,
                                                      population)))
    elif pending:
        if data is None:
            data = load_dataset(pending[0].train.dataset, data_dir).to(device)
        for spec in pending:
            check_fits(spec, data)  # before anything is written
        finished.update(_compute(pending, store, data, progress, stack, population))
    return [finished[s] for s in wanted]


def _compute(pending: list[ExperimentSpec], store: RunStore, data: TensorData, progress: Progress | None,
             stack: bool, population: int | None) -> dict[ExperimentSpec, Run]:
    everything = _with_sources(pending)
    with contextlib.ExitStack() as locks:
        for spec in sorted(everything, key=ExperimentSpec.hash):  # one order, so two processes cannot deadlock
            locks.enter_context(store.lock(spec))
        flights = _flights(everything, store, data)
        for group in _groups(flights.values()):
            _advance(group, store, data, progress, stack, population)
    return {s: flights[s].run() for s in pending}


def _with_sources(specs: list[ExperimentSpec]) -> list[ExperimentSpec]:
    """The specs and, recursively, the runs they read from, sources first."""
    out: dict[ExperimentSpec, None] = {}

    def add(spec: ExperimentSpec) -> None:
        if spec not in out:
            if (source := spec.source()) is not None:
                add(source)
            out[spec] = None

    for spec in specs:
        add(spec)
    return list(out)


def check_fits(spec: ExperimentSpec, data: TensorData) -> None:
    if spec.train.batch_size > data.n_train:
        raise SpecError(f"batch size {spec.train.batch_size} exceeds the {data.n_train} training examples of "
                        f"{data.name}; pass a smaller --batch-size")


def _flights(specs: list[ExperimentSpec], store: RunStore, data: TensorData) -> dict[ExperimentSpec, _InFlight]:
    flights: dict[ExperimentSpec, _InFlight] = {}
    for spec in specs:  # sources come first (_with_sources)
        source = flights[spec.source()] if spec.source() is not None else None
        run = store.load_complete(spec)  # e.g. finished by another process while we waited for the lock
        if run is not None:
            flights[spec] = _InFlight(spec, run.path, run.init, list(run.rounds), source, stored=True)
            continue
        init = source.init if spec.copy_round is not None else fresh_model(spec, data, spec.init_seed).state_dict()
        init = {k: v.detach().clone() for k, v in init.items()}
        store.begin(spec, init)
        flights[spec] = _InFlight(spec, store.path(spec), init, source=source, rewind=_load_rewind(store, spec))
    return flights


def _groups(flights) -> list[list[_InFlight]]:
    """Experiments that can share training steps: same training, repellence and reset settings."""
    groups: dict[tuple, list[_InFlight]] = {}
    for f in flights:
        s = f.spec
        key = (s.train, s.repel_lambda, s.repel_previous_only, s.prune.reset, s.prune.rewind_step)
        groups.setdefault(key, []).append(f)
    return list(groups.values())


def _advance(group: list[_InFlight], store: RunStore, data: TensorData, progress: Progress | None,
             stack: bool, population: int | None) -> None:
    """Step by step through the rounds: read back what the store has, train the rest together.

    The group is in source-first order, so a control sees its IMP run's round (and a copy its run's)
    before it plans its own from it."""
    last = max(f.steps[-1] for f in group)
    for index in range(last + 1):
        todo = [f for f in group if _needs_round(f, index, store, progress)]
        if todo:
            for f, record in zip(todo, _train_round(todo, index, data, stack, population)):
                if index == 0 and f.rewind is not None and f.spec.copy_round is None:
                    store.save_extra(f.spec, "rewind.pt", f.rewind)
                store.save_round(f.spec, record)
                _accept(f, record, progress)
    for f in group:
        if not f.stored:
            store.finish(f.spec, len(f.history))


def _needs_round(f: _InFlight, index: int, store: RunStore, progress: Progress | None) -> bool:
    """Whether `f` must train its round at step `index`; a round the store has is read back instead."""
    if f.stored or f.stopped or not f.turn(index):
        return False
    if f.source is not None and not _reaches(f.source, index):
        f.stopped = True  # the run it reads from stopped (diverged): there is no round to copy
        return False
    record = store.load_round(f.spec, f.next_stored())
    if record is not None:
        _accept(f, record, progress)
        return False
    return True


def _reaches(f: _InFlight, index: int) -> bool:
    """Whether round `index` of `f` exists, or is about to be trained in this step."""
    return len(f.history) > index or (not f.stopped and len(f.history) == index and f.turn(index))


def _accept(f: _InFlight, record: RoundRecord, progress: Progress | None) -> None:
    f.history.append(record)
    if progress is not None:
        progress(f.spec, record.index, n_rounds(f.spec), record.metrics)
    if record.metrics["diverged"]:
        f.stopped = True  # later masks would be pruned from non-finite weights


def _load_rewind(store: RunStore, spec: ExperimentSpec):
    return store.load_extra(spec, "rewind.pt") if spec.prune.reset == "rewind" and spec.copy_round is None else None


@dataclass
class _Round:
    """What one experiment trains at one step: start weights, mask, noise, and the optima it is repelled from."""

    start: dict[str, torch.Tensor]
    mask: M.Mask | None  # None: dense (round 0)
    threshold: float
    noise_seed: int
    optima: list[dict[str, torch.Tensor]]


def _plan(f: _InFlight, index: int, data: TensorData) -> _Round:
    """Round `index` of `f`: read from its record if it has one, else planned from the rounds before it.
    Planned once per step: the run itself, its controls (its mask) and its copies (all of it) read it."""
    if f.planned is not None and f.planned[0] == index:
        return f.planned[1]
    spec = f.spec
    if spec.copy_round is not None:  # the source's round again, with noise of its own
        plan = dataclasses.replace(_plan(f.source, index, data), noise_seed=copy_noise_seed(spec, index))
    elif index < len(f.history):
        record = f.history[index]
        plan = _Round(record.start, record.mask if index > 0 else None, record.metrics["threshold"],
                      round_noise_seed(spec, index), _optima(spec, f.history[:index]))
    else:
        mask, threshold = _pruned_mask(f, index, data) if index > 0 else (None, 0.0)
        plan = _Round(_start_weights(f, index, mask, data), mask, threshold, round_noise_seed(spec, index),
                      _optima(spec, f.history[:index]))
    f.planned = (index, plan)
    return plan


def _pruned_mask(f: _InFlight, index: int, data: TensorData) -> tuple[M.Mask, float]:
    """(mask, pruning threshold) of round `index` > 0, pruned from the round before or copied from IMP."""
    spec = f.spec
    if spec.control != "imp":
        parent = _plan(f.source, index, data)
        if spec.control == "reinit":
            return parent.mask, parent.threshold
        generator = torch.Generator().manual_seed(derive_seed(spec.init_seed, "random-prune", index))
        return M.random_mask_like(parent.mask, generator), 0.0
    p = spec.prune
    if p.strategy == "oneshot":
        dense = f.history[0]
        pruned = M.prune_to_density(_prunable(dense.trained, dense.mask), (1 - p.fraction) ** index, dense.mask)
    else:
        last = f.history[index - 1]
        pruned = M.prune_global(_prunable(last.trained, last.mask), last.mask, p.fraction)
    return pruned.mask, pruned.threshold


def _prunable(weights: dict[str, torch.Tensor], mask: M.Mask) -> dict[str, torch.Tensor]:
    return {n: weights[n] for n in mask}


def _start_weights(f: _InFlight, index: int, mask: M.Mask | None, data: TensorData):
    spec = f.spec
    if spec.control == "reinit":
        base = fresh_model(spec, data, derive_seed(spec.init_seed, "reinit", index)).state_dict()
    elif spec.prune.reset == "rewind" and index > 0:
        base = f.rewind
    else:
        base = f.init
    return base if mask is None else M.masked(base, mask)


def _optima(spec: ExperimentSpec, history: list[RoundRecord]) -> list[dict[str, torch.Tensor]]:
    """The previous trained optima the repellent loss acts against (none when it is off)."""
    if not spec.repel_lambda or not history:
        return []
    return [history[-1].trained] if spec.repel_previous_only else [r.trained for r in history]


def _captures_rewind(f: _InFlight, index: int) -> bool:
    """Capturing the rewind point needs a hook that only the one-at-a-time trainer has."""
    return f.spec.prune.reset == "rewind" and index == 0 and f.spec.copy_round is None


def _train_round(flights: list[_InFlight], index: int, data: TensorData, stack: bool,
                 population: int | None = None) -> list[RoundRecord]:
    """Train this step's round of every experiment, stacked where possible; returns their records."""
    tic = time.perf_counter()
    device = data.x_train.device
    for f in flights:
        _check_same_device(f, device)
    # One network on the device for the whole step: each job loads its own start into it (a fresh CPU model per
    # run per round, copied over, cost a host round trip each); masks stay on the host, where rounds are planned.
    model = fresh_model(flights[0].spec, data, 0).to(device)
    jobs = []
    for f in flights:
        plan = _plan(f, index, data)
        mask = plan.mask if plan.mask is not None else on_host(M.dense_mask(model))
        jobs.append((f, model, plan, mask))
    spec = flights[0].spec
    # Stackable experiments always go through the population trainer, even alone, so that
    # a run's bits never depend on which other runs were computed beside it.
    stackable = stack and not any(_captures_rewind(f, index) for f in flights)
    members = [Member(plan.start, mask, plan.noise_seed, plan.optima) for _, _, plan, mask in jobs]
    if stackable and can_stack(spec.train.model, spec.train):
        trained, outcomes = train_population(members, data, spec.train, spec.repel_lambda)
    elif stackable and can_vmap(spec.train.model, spec.train.stacking):
        size = population or len(members)
        chunks = [train_conv_population(jobs[0][1], members[i:i + size], data, spec.train, spec.repel_lambda)
                  for i in range(0, len(members), size)]
        trained, outcomes = [t for c in chunks for t in c[0]], [o for c in chunks for o in c[1]]
    else:
        trained, outcomes = zip(*(_train_single(f, model, plan, mask, index, data) for f, model, plan, mask in jobs))
    seconds = (time.perf_counter() - tic) / len(flights)
    records = []
    for (f, model, plan, mask), weights, outcome in zip(jobs, trained, outcomes):
        model.load_state_dict(weights)
        # threads: on a CPU the bits depend on them (`replication verify` retrains with the same count)
        metrics = {**_metrics(f.next_stored(), mask, plan, model, outcome, data), "seconds": seconds,
                   "threads": torch.get_num_threads(), "device": device.type}
        if f.spec.copy_round is not None:
            metrics["source_round"] = index
        records.append(RoundRecord(f.next_stored(), {n: t.cpu() for n, t in mask.items()}, plan.start,
                                   {k: v.detach().cpu().clone() for k, v in weights.items()}, metrics))
    return records


def _check_same_device(f: _InFlight, device: torch.device) -> None:
    """A run's rounds are computed on one kind of device: the bits of a CPU and a GPU training differ, so a run
    resumed elsewhere would be neither computation. Rounds stored before rounds recorded their device were CPU's."""
    trained_on = {r.metrics.get("device", "cpu") for r in f.history}
    if trained_on - {device.type}:
        raise StoreError(f"run {f.spec.hash()} has rounds trained on {', '.join(sorted(trained_on))}; resuming it "
                         f"on {device.type} would mix devices in one run: finish it with --device "
                         f"{sorted(trained_on)[0]}, or give this device a store of its own (--store)")


def _train_single(f: _InFlight, model, plan: _Round, mask, index: int, data: TensorData):
    device = data.x_train.device
    model.load_state_dict(plan.start)
    extra = RepellentLoss(plan.optima, mask, f.spec.repel_lambda, device) if plan.optima else None
    mask = to_device(mask, device)
    capture = f.spec.prune.rewind_step if _captures_rewind(f, index) else None
    outcome = train(model, mask, data, f.spec.train, plan.noise_seed, extra, capture)
    if outcome.rewind_state is not None:
        f.rewind = on_host(outcome.rewind_state)  # the later rounds' starts are planned on the host, with its masks
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, outcome


def _metrics(index: int, mask: M.Mask, plan: _Round, model, outcome, data: TensorData) -> dict:
    metrics = {
        "round": index, "density": M.density(mask), "alive": M.alive(mask),
        "layer_density": M.layer_densities(mask), "threshold": plan.threshold,
        "steps": outcome.steps, "diverged": outcome.diverged, "noise_seed": plan.noise_seed,
    }
    for split in ("train", "test"):
        loss, acc = (None, None) if outcome.diverged else evaluate(model, *data.split(split))
        metrics[f"{split}_loss"], metrics[f"{split}_acc"] = loss, acc
    return metrics
