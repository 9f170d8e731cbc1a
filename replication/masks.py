"""Masks and global magnitude pruning.

A mask maps the name of each prunable weight to a 0/1 float tensor of its shape.
Prunable: the weights of conv and linear layers, the output layer included;
never biases or batch-norm parameters (the paper, and Frankle & Carbin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

Mask = dict[str, torch.Tensor]
Weights = dict[str, torch.Tensor]


def prunable_names(model: nn.Module) -> list[str]:
    """Names of conv/linear weights, in module order (which fixes tie-breaking)."""
    return [f"{name}.weight" if name else "weight" for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))]


def dense_mask(model: nn.Module) -> Mask:
    params = dict(model.named_parameters())
    return {n: torch.ones_like(params[n], dtype=torch.float32) for n in prunable_names(model)}


def alive(mask: Mask) -> int:
    return int(sum(int(m.sum().item()) for m in mask.values()))


def size(mask: Mask) -> int:
    return sum(m.numel() for m in mask.values())


def density(mask: Mask) -> float:
    return alive(mask) / size(mask)


def layer_densities(mask: Mask) -> dict[str, float]:
    return {n: float(m.mean().item()) for n, m in mask.items()}


def prune_count(n_alive: int, fraction: float) -> int:
    """Weights removed in one round: the nearest integer to fraction·alive (halves round up)."""
    return int(math.floor(fraction * n_alive + 0.5))


def expected_alive(total: int, fraction: float, rounds: int) -> int:
    """Surviving weights after `rounds` rounds of the integer rule."""
    n = total
    for _ in range(rounds):
        n -= prune_count(n, fraction)
    return n


@dataclass(frozen=True)
class Pruned:
    mask: Mask
    threshold: float  # magnitude of the largest weight pruned (0 when nothing was pruned)


def prune_smallest(weights: Weights, mask: Mask, count: int) -> Pruned:
    """Remove the `count` globally smallest surviving magnitudes.

    Ties go to the weight that comes first in layer order, then flat index: a
    stable sort makes this deterministic. Dead weights are never candidates, so
    pruning can never revive anything.
    """
    names = list(mask)
    magnitude = torch.cat([weights[n].detach().abs().flatten().float().cpu() for n in names])
    live = torch.cat([mask[n].flatten().cpu() for n in names]) > 0
    count = min(count, int(live.sum()))
    if count <= 0:
        return Pruned({n: mask[n].clone() for n in names}, 0.0)
    candidates = torch.where(live, magnitude, torch.full_like(magnitude, math.inf))
    order = torch.sort(candidates, stable=True).indices[:count]
    flat = live.float()
    flat[order] = 0.0
    new_mask, start = {}, 0
    for n in names:
        k = mask[n].numel()
        new_mask[n] = flat[start:start + k].view_as(mask[n]).to(mask[n].device)
        start += k
    return Pruned(new_mask, float(magnitude[order].max()))


def prune_global(weights: Weights, mask: Mask, fraction: float) -> Pruned:
    """One IMP round: remove fraction of the surviving weights, globally by magnitude."""
    return prune_smallest(weights, mask, prune_count(alive(mask), fraction))


def prune_to_density(weights: Weights, target_density: float, mask: Mask | None = None) -> Pruned:
    """One-shot: keep the round(target·total) largest magnitudes."""
    mask = mask if mask is not None else {n: torch.ones_like(w, dtype=torch.float32) for n, w in weights.items()}
    keep = int(math.floor(target_density * size(mask) + 0.5))
    return prune_smallest(weights, mask, alive(mask) - keep)


def random_mask_like(mask: Mask, generator: torch.Generator) -> Mask:
    """The random-pruning control: the same number of survivors in each layer, at random places."""
    out = {}
    for n, m in mask.items():
        k = int(m.sum().item())
        flat = torch.zeros(m.numel())
        flat[torch.randperm(m.numel(), generator=generator)[:k]] = 1.0
        out[n] = flat.view_as(m).to(m.device)
    return out


@torch.no_grad()
def apply_mask(model: nn.Module, mask: Mask) -> None:
    """Zero the pruned weights in place, as one fused multiply over all layers."""
    params = dict(model.named_parameters())
    names = list(mask)
    torch._foreach_mul_([params[n] for n in names], [mask[n] for n in names])


def masked(weights: Weights, mask: Mask) -> Weights:
    """A copy of a state dict with the prunable weights multiplied by the mask."""
    return {n: (w * mask[n] if n in mask else w).clone() for n, w in weights.items()}
