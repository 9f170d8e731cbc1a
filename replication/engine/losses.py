"""The repellent / attractive loss of the paper (its section on repelling previous optima).

    J_r(θ) = (λ_r / |Θ|) · Σ_{θ_r ∈ Θ} cos²(θ ⊙ m, θ_r ⊙ m)

Θ holds previous trained optima, m is the current mask. λ_r > 0 repels (2 in the
paper), λ_r < 0 attracts (−1). Only the weights under the current mask matter, so
each optimum is kept as one unit vector over the surviving weights: memory is
|Θ| × (surviving weights) floats, e.g. 25 × 274K × 4 B ≈ 27 MB for ResNet-20.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..masks import Mask

if TYPE_CHECKING:
    from .training import Member


def flat_masked(weights: dict[str, torch.Tensor], mask: Mask) -> torch.Tensor:
    return torch.cat([(weights[n] * mask[n]).flatten() for n in mask])


class RepellentLoss:
    """The loss of one network. Built on the host, where the store keeps the optima and the mask, and moved to
    the network's device once; the surviving weights are gathered by a fixed index, since a boolean mask would
    make every step wait on the host."""

    def __init__(self, optima: list[dict[str, torch.Tensor]], mask: Mask, strength: float,
                 device: torch.device | str = "cpu"):
        self.names = list(mask)
        self.strength = strength
        keep = (torch.cat([mask[n].flatten() for n in self.names]) > 0).nonzero().squeeze(1)
        vectors = [flat_masked(o, mask).index_select(0, keep) for o in optima]
        self.keep = keep.to(device)
        self.units = torch.stack([v / v.norm().clamp_min(1e-12) for v in vectors]).to(device) if vectors else None

    def __call__(self, model: nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        if self.units is None:
            return params[self.names[0]].new_zeros(())
        theta = torch.cat([params[n].flatten() for n in self.names]).index_select(0, self.keep)
        cos = (self.units @ theta) / theta.norm().clamp_min(1e-12)
        return self.strength * (cos ** 2).mean()


class StackedRepellence:
    """The same loss for K members at once (population.py, conv_population.py), one value per member.

    Each member keeps its previous optima as unit vectors over its own mask (K × |Θ| × P,
    P the flattened `names`). `align` widens P with zeros to a width of its choosing (the MLP
    engine's 16-float units); the padding changes no value.
    """

    def __init__(self, members: list[Member], names: list[str], strength: float, device: torch.device,
                 align: Callable[[int], int] | None = None):
        counts = {len(m.optima) for m in members}
        if len(counts) != 1:
            raise ValueError(f"members of one population need the same number of previous optima, got {counts}")
        units = []
        for m in members:
            flat = [torch.cat([(o[n] * m.mask[n]).flatten() for n in names]) for o in m.optima]
            units.append(torch.stack([v / v.norm().clamp_min(1e-12) for v in flat]))
        width = units[0].shape[1]
        self.pad = (align(width) if align else width) - width
        self.units = F.pad(torch.stack(units), (0, self.pad)).to(device)
        self.strength = strength

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """theta: K × P, each member's weights over `names` in order (pruned ones are 0)."""
        theta = F.pad(theta, (0, self.pad))
        # An elementwise product and sum, not bmm: batched matrix-vector products round a member's
        # dot products differently with the stack's size.
        dots = (self.units * theta.unsqueeze(1)).sum(2)  # K × |Θ|
        cos = dots / theta.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self.strength * (cos ** 2).mean(dim=1)  # K
