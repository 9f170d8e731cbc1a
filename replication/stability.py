"""Instability of IMP's subnetworks: a second training of a round's start with other SGD noise.

The first copy is the round's own trained network; the second starts from the
same weights and mask with a noise seed of its own. The second copies are kept
in the run's folder (`copies/round_XXX.pt`, written atomically), so asking again
costs nothing.
"""

from __future__ import annotations

import io

import torch

from .data import TensorData
from .imp import fresh_model
from .landscape import error_barrier, instability
from .population import Member, can_stack, train_population
from .spec import derive_seed
from .store import Run, atomic_write_bytes, tensor_bytes
from .training import train


def copy_noise_seed(run: Run, index: int) -> int:
    return derive_seed(run.spec.noise_seed, "copy", index)


def _copy_path(run: Run, index: int):
    return run.path / "copies" / f"round_{index:03d}.pt"


def _load_copy(run: Run, index: int):
    path = _copy_path(run, index)
    if not path.is_file():
        return None
    try:
        return torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
    except Exception:  # a torn or corrupt file is recomputed, never trusted
        return None


def second_copies(runs: list[Run], index: int, data: TensorData) -> list[dict[str, torch.Tensor]]:
    """For each run, its round `index` start trained again with a different noise seed."""
    copies = [_load_copy(r, index) for r in runs]
    missing = [i for i, c in enumerate(copies) if c is None]
    if missing:
        todo = [runs[i] for i in missing]
        spec = todo[0].spec
        if can_stack(spec.train.model, spec.train) and all(r.spec.train == spec.train for r in todo):
            members = [Member(r.rounds[index].start, r.rounds[index].mask, copy_noise_seed(r, index)) for r in todo]
            trained, _ = train_population(members, data, spec.train)
        else:
            trained = [_train_copy(r, index, data) for r in todo]
        for i, weights in zip(missing, trained):
            atomic_write_bytes(_copy_path(runs[i], index), tensor_bytes(weights))
            copies[i] = {k: v.cpu() for k, v in weights.items()}
    return copies


def _train_copy(run: Run, index: int, data: TensorData) -> dict[str, torch.Tensor]:
    record = run.rounds[index]
    model = fresh_model(run.spec, data, 0).to(data.x_train.device)
    model.load_state_dict(record.start)
    mask = {n: m.to(data.x_train.device) for n, m in record.mask.items()}
    train(model, mask, data, run.spec.train, copy_noise_seed(run, index))
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def round_instability(runs: list[Run], index: int, data: TensorData, bn: str = "recompute") -> list[float]:
    """LII (points of test error) of round `index` for each run."""
    copies = second_copies(runs, index, data)
    out = []
    for run, copy in zip(runs, copies):
        model = fresh_model(run.spec, data, 0).to(data.x_train.device)
        out.append(instability(model, run.rounds[index].trained, copy, data, bn=bn))
    return out


def successive_barriers(run: Run, data: TensorData, bn: str = "recompute") -> list[float]:
    """Error barrier (points of training error, 20 points) between the trained networks of rounds r and r+1."""
    model = fresh_model(run.spec, data, 0).to(data.x_train.device)
    rounds = run.rounds
    return [error_barrier(model, a.trained, b.trained, data, bn=bn) for a, b in zip(rounds, rounds[1:])]
