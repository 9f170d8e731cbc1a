"""Iterative magnitude pruning and its controls, round by round through the run store.

Round 0 trains the dense network. Round r > 0 takes the mask pruned from round
r−1's trained weights (20% of the survivors, globally by magnitude), resets the
survivors to their initial values (or rewinds them to step k) and retrains.

Controls reuse the IMP run's mask of each round:
- `reinit`: a fresh initialization for every round, from its own seed;
- `random-prune`: the same per-layer densities at random places, original init.

Each round uses its own SGD-noise seed derived from the run's noise seed and
the round index, shared by IMP and its controls so the arms stay paired.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from . import masks as M
from .data import TensorData, load_dataset
from .losses import RepellentLoss
from .models import build_model
from .population import Member, can_stack, train_population
from .spec import ExperimentSpec, SpecError, derive_seed
from .store import RoundRecord, Run, RunStore
from .training import evaluate, train

Progress = Callable[[ExperimentSpec, int, int, dict], None]


def round_noise_seed(spec: ExperimentSpec, index: int) -> int:
    return derive_seed(spec.noise_seed, "round", index)


def n_rounds(spec: ExperimentSpec) -> int:
    return spec.prune.rounds + 1  # the dense round plus one per pruning event


def fresh_model(spec: ExperimentSpec, data: TensorData, seed: int) -> torch.nn.Module:
    t = spec.train
    return build_model(t.model, data.image_shape, data.num_classes, t.init, seed, **t.model_kwargs)


@dataclass
class _Member:
    """One experiment in flight: its spec, initial weights and the rounds done so far."""

    spec: ExperimentSpec
    init: dict[str, torch.Tensor]
    history: list[RoundRecord] = field(default_factory=list)
    rewind: dict[str, torch.Tensor] | None = None
    parent: "_Member | None" = None
    done: bool = False
    finished_before: bool = False
    round_mask: M.Mask | None = None  # this round's mask, which a control reads from its IMP parent
    round_threshold: float = 0.0


def run_experiment(spec: ExperimentSpec, store: RunStore, device: str = "cpu", data: TensorData | None = None,
                   data_dir: str | None = None, progress: Progress | None = None) -> Run:
    """Compute (or load, or resume) one experiment and return the stored run."""
    return run_experiments([spec], store, device, data, data_dir, progress)[0]


def run_experiments(specs: list[ExperimentSpec], store: RunStore, device: str = "cpu",
                    data: TensorData | None = None, data_dir: str | None = None,
                    progress: Progress | None = None, stack: bool = True) -> list[Run]:
    """Compute (or load, or resume) several experiments; members that train alike are trained together.

    Controls pull in their IMP parents. Experiments with the same training
    settings advance round by round as one population (see population.py).
    """
    wanted = list(dict.fromkeys(specs))
    finished = {s: store.load_complete(s) for s in wanted}
    pending = [s for s in wanted if finished[s] is None]
    datasets = {s.train.dataset for s in pending}
    if len(datasets) > 1:  # one dataset in memory at a time
        for name in sorted(datasets):
            run_experiments([s for s in pending if s.train.dataset == name], store, device, None, data_dir,
                            progress, stack)
        pending = []
    if pending:
        if data is None:
            data = load_dataset(pending[0].train.dataset, data_dir).to(device)
        for spec in pending:
            check_fits(spec, data)  # before anything is written
        everything = list(dict.fromkeys([s.imp_parent() for s in pending if s.control != "imp"] + pending))
        with contextlib.ExitStack() as locks:
            for spec in sorted(everything, key=ExperimentSpec.hash):  # one order, so two processes cannot deadlock
                locks.enter_context(store.lock(spec))
            members = _members(everything, store, data)
            for group in _groups(members).values():
                _advance(group, store, data, progress, stack)
    return [finished[s] or store.load(s) for s in wanted]


def check_fits(spec: ExperimentSpec, data: TensorData) -> None:
    if spec.train.batch_size > data.n_train:
        raise SpecError(f"batch size {spec.train.batch_size} exceeds the {data.n_train} training examples of "
                        f"{data.name}; pass a smaller --batch-size")


def _members(specs: list[ExperimentSpec], store: RunStore, data: TensorData) -> list[_Member]:
    members: dict[ExperimentSpec, _Member] = {}
    for spec in specs:
        run = store.load_complete(spec)  # e.g. finished by another process while we waited for the lock
        if run is not None:
            members[spec] = _Member(spec, run.init, list(run.rounds), done=True, finished_before=True)
            continue
        init = fresh_model(spec, data, spec.init_seed).state_dict()
        init = {k: v.detach().clone() for k, v in init.items()}
        store.begin(spec, init)
        members[spec] = _Member(spec, init, rewind=_load_rewind(store, spec))
    for spec, member in members.items():
        if spec.control != "imp":
            member.parent = members[spec.imp_parent()]
    return list(members.values())


def _groups(members: list[_Member]) -> dict[tuple, list[_Member]]:
    """Members that can share training steps: same training, repellence and reset settings."""
    groups: dict[tuple, list[_Member]] = {}
    for m in members:
        s = m.spec
        key = (s.train, s.repel_lambda, s.repel_previous_only, s.prune.reset, s.prune.rewind_step)
        groups.setdefault(key, []).append(m)
    return groups


def _advance(group: list[_Member], store: RunStore, data: TensorData, progress: Progress | None,
             stack: bool) -> None:
    """Round by round: IMP members first (controls read their masks), then train what is missing."""
    ordered = sorted(group, key=lambda m: m.spec.control != "imp")
    for index in range(max(n_rounds(m.spec) for m in group)):
        to_train = []
        for m in ordered:
            m.round_mask = None
            if m.finished_before:
                if index < len(m.history):
                    m.round_mask, m.round_threshold = m.history[index].mask, m.history[index].metrics["threshold"]
                continue
            if m.done or index >= n_rounds(m.spec):
                continue
            record = store.load_round(m.spec, index)
            if record is not None:
                m.round_mask, m.round_threshold = record.mask, record.metrics["threshold"]
                _accept(m, record, progress)
            elif index > 0 and m.parent is not None and m.parent.round_mask is None:
                m.done = True  # the IMP parent stopped (diverged): there is no mask to copy
            else:
                m.round_mask, m.round_threshold = _round_mask(m.spec, index, m.history, m.parent)
                to_train.append(m)
        for m, record in zip(to_train, _train_round(to_train, index, data, stack) if to_train else []):
            if index == 0 and m.rewind is not None:
                store.save_extra(m.spec, "rewind.pt", m.rewind)
            store.save_round(m.spec, record)
            _accept(m, record, progress)
    for m in group:
        if not m.finished_before:
            store.finish(m.spec, len(m.history))


def _accept(m: _Member, record: RoundRecord, progress: Progress | None) -> None:
    m.history.append(record)
    if progress is not None:
        progress(m.spec, record.index, n_rounds(m.spec), record.metrics)
    if record.metrics["diverged"]:
        m.done = True  # later masks would be pruned from non-finite weights


def _load_rewind(store: RunStore, spec: ExperimentSpec):
    return store.load_extra(spec, "rewind.pt") if spec.prune.reset == "rewind" else None


def _round_mask(spec: ExperimentSpec, index: int, history: list[RoundRecord], parent: _Member | None):
    """(mask, pruning threshold) of round `index`."""
    if index == 0:
        return None, 0.0
    if spec.control == "reinit":
        return parent.round_mask, parent.round_threshold
    if spec.control == "random-prune":
        generator = torch.Generator().manual_seed(derive_seed(spec.init_seed, "random-prune", index))
        return M.random_mask_like(parent.round_mask, generator), 0.0
    p = spec.prune
    if p.strategy == "oneshot":
        dense = history[0]
        pruned = M.prune_to_density(_prunable(dense.trained, dense.mask), (1 - p.fraction) ** index, dense.mask)
    else:
        last = history[-1]
        pruned = M.prune_global(_prunable(last.trained, last.mask), last.mask, p.fraction)
    return pruned.mask, pruned.threshold


def _prunable(weights: dict[str, torch.Tensor], mask: M.Mask) -> dict[str, torch.Tensor]:
    return {n: weights[n] for n in mask}


def _start_weights(spec: ExperimentSpec, index: int, mask, init, rewind, data: TensorData):
    if spec.control == "reinit":
        base = fresh_model(spec, data, derive_seed(spec.init_seed, "reinit", index)).state_dict()
    elif spec.prune.reset == "rewind" and index > 0:
        base = rewind
    else:
        base = init
    return base if mask is None else M.masked(base, mask)


def _train_round(members: list[_Member], index: int, data: TensorData, stack: bool) -> list[RoundRecord]:
    """Train this round of every member, stacked where possible; returns their records."""
    tic = time.perf_counter()
    device = data.x_train.device
    jobs = []
    for m in members:
        model = fresh_model(m.spec, data, 0)
        start = _start_weights(m.spec, index, m.round_mask, m.init, m.rewind, data)
        mask = m.round_mask if m.round_mask is not None else M.dense_mask(model)
        jobs.append((m, model, start, mask))
    spec = members[0].spec
    # Stackable members always go through the population trainer, even alone, so that
    # a run's bits never depend on which other runs were computed beside it.
    if stack and can_stack(spec.train.model, spec.train) and not _needs_single(spec, index):
        population = [Member(start, mask, round_noise_seed(m.spec, index), _optima(m))
                      for m, _, start, mask in jobs]
        trained, outcomes = train_population(population, data, spec.train, spec.repel_lambda)
    else:
        trained, outcomes = zip(*(_train_single(m, model, start, mask, index, data) for m, model, start, mask in jobs))
    seconds = (time.perf_counter() - tic) / len(members)
    records = []
    for (m, model, start, mask), weights, outcome in zip(jobs, trained, outcomes):
        model.load_state_dict(weights)
        model.to(device)
        metrics = _metrics(m, index, mask, model, outcome, data)
        metrics["seconds"] = seconds
        records.append(RoundRecord(index, {n: t.cpu() for n, t in mask.items()}, start,
                                   {k: v.detach().cpu().clone() for k, v in weights.items()}, metrics))
    return records


def _needs_single(spec: ExperimentSpec, index: int) -> bool:
    """Capturing the rewind point needs a hook that only the one-at-a-time trainer has."""
    return spec.prune.reset == "rewind" and index == 0


def _optima(m: _Member) -> list[dict[str, torch.Tensor]]:
    """The previous trained optima the repellent loss acts against (none when it is off)."""
    if not m.spec.repel_lambda or not m.history:
        return []
    return [m.history[-1].trained] if m.spec.repel_previous_only else [r.trained for r in m.history]


def _train_single(m: _Member, model, start, mask, index: int, data: TensorData):
    device = data.x_train.device
    model.load_state_dict(start)
    model.to(device)
    mask = {n: t.to(device) for n, t in mask.items()}
    optima = _optima(m)
    extra = RepellentLoss(optima, mask, m.spec.repel_lambda) if optima else None
    capture = m.spec.prune.rewind_step if (m.spec.prune.reset == "rewind" and index == 0) else None
    outcome = train(model, mask, data, m.spec.train, round_noise_seed(m.spec, index), extra, capture)
    if outcome.rewind_state is not None:
        m.rewind = outcome.rewind_state
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, outcome


def _metrics(m: _Member, index: int, mask: M.Mask, model, outcome, data: TensorData) -> dict:
    metrics = {
        "round": index, "density": M.density(mask), "alive": M.alive(mask),
        "layer_density": M.layer_densities(mask), "threshold": m.round_threshold,
        "steps": outcome.steps, "diverged": outcome.diverged, "noise_seed": round_noise_seed(m.spec, index),
    }
    for split in ("train", "test"):
        loss, acc = (None, None) if outcome.diverged else evaluate(model, *data.split(split))
        metrics[f"{split}_loss"], metrics[f"{split}_acc"] = loss, acc
    return metrics
