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

import time
from typing import Callable

import torch

from . import masks as M
from .data import TensorData, load_dataset
from .losses import RepellentLoss
from .models import build_model
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


def run_experiment(spec: ExperimentSpec, store: RunStore, device: str = "cpu", data: TensorData | None = None,
                   data_dir: str | None = None, progress: Progress | None = None) -> Run:
    """Compute (or load, or resume) one experiment and return the stored run."""
    if store.is_complete(spec):
        return store.load(spec)
    parent = None
    if spec.control != "imp":
        parent = run_experiment(spec.imp_parent(), store, device, data, data_dir, progress)
    if data is None:
        data = load_dataset(spec.train.dataset, data_dir).to(device)
    check_fits(spec, data)  # before anything is written
    with store.lock(spec):
        if not store.is_complete(spec):  # another process may have finished it while we waited
            _compute(spec, store, data, parent, progress)
    return store.load(spec)


def check_fits(spec: ExperimentSpec, data: TensorData) -> None:
    if spec.train.batch_size > data.n_train:
        raise SpecError(f"batch size {spec.train.batch_size} exceeds the {data.n_train} training examples of "
                        f"{data.name}; pass a smaller --batch-size")


def _compute(spec: ExperimentSpec, store: RunStore, data: TensorData, parent: Run | None,
             progress: Progress | None) -> None:
    device = data.x_train.device
    model = fresh_model(spec, data, spec.init_seed).to(device)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    store.begin(spec, init)
    history: list[RoundRecord] = []
    rewind = _load_rewind(store, spec)
    for index in range(n_rounds(spec)):
        record = store.load_round(spec, index)
        if record is None:
            mask, threshold = _round_mask(spec, index, history, parent)
            start = _start_weights(spec, index, mask, init, rewind, data)
            record, rewind_state = _train_round(spec, index, model, mask, start, threshold, history, data)
            if rewind_state is not None:
                rewind = rewind_state
                store.save_extra(spec, "rewind.pt", rewind)
            store.save_round(spec, record)
        history.append(record)
        if progress is not None:
            progress(spec, index, n_rounds(spec), record.metrics)
        if record.metrics["diverged"]:
            break  # later masks would be pruned from non-finite weights
    store.finish(spec, len(history))


def _load_rewind(store: RunStore, spec: ExperimentSpec):
    return store.load_extra(spec, "rewind.pt") if spec.prune.reset == "rewind" else None


def _round_mask(spec: ExperimentSpec, index: int, history: list[RoundRecord], parent: Run | None):
    """(mask, pruning threshold) of round `index`."""
    if spec.control == "reinit":
        return parent.rounds[index].mask, parent.rounds[index].metrics["threshold"]
    if spec.control == "random-prune":
        generator = torch.Generator().manual_seed(derive_seed(spec.init_seed, "random-prune", index))
        return M.random_mask_like(parent.rounds[index].mask, generator), 0.0
    if index == 0:
        return None, 0.0
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


def _train_round(spec, index, model, mask, start, threshold, history, data):
    tic = time.perf_counter()
    model.load_state_dict(start)
    mask = mask if mask is not None else M.dense_mask(model)
    mask = {n: m.to(data.x_train.device) for n, m in mask.items()}
    extra = None
    if spec.repel_lambda and history:
        optima = [history[-1].trained] if spec.repel_previous_only else [r.trained for r in history]
        extra = RepellentLoss(optima, mask, spec.repel_lambda)
    capture = spec.prune.rewind_step if (spec.prune.reset == "rewind" and index == 0) else None
    outcome = train(model, mask, data, spec.train, round_noise_seed(spec, index), extra, capture)
    metrics = {
        "round": index, "density": M.density(mask), "alive": M.alive(mask),
        "layer_density": M.layer_densities(mask), "threshold": threshold,
        "steps": outcome.steps, "diverged": outcome.diverged, "noise_seed": round_noise_seed(spec, index),
    }
    for split in ("train", "test"):
        loss, acc = evaluate(model, *data.split(split)) if not outcome.diverged else (None, None)
        metrics[f"{split}_loss"], metrics[f"{split}_acc"] = loss, acc
    metrics["seconds"] = time.perf_counter() - tic
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return RoundRecord(index, {n: m.cpu() for n, m in mask.items()}, start, trained, metrics), outcome.rewind_state
