"""The repellent / attractive loss of the paper (its section on repelling previous optima).

    J_r(θ) = (λ_r / |Θ|) · Σ_{θ_r ∈ Θ} cos²(θ ⊙ m, θ_r ⊙ m)

Θ holds previous trained optima, m is the current mask. λ_r > 0 repels (2 in the
paper), λ_r < 0 attracts (−1). Only the weights under the current mask matter, so
each optimum is kept as one unit vector over the surviving weights: memory is
|Θ| × (surviving weights) floats, e.g. 25 × 274K × 4 B ≈ 27 MB for ResNet-20.
"""

from __future__ import annotations

import torch
from torch import nn

from .masks import Mask


def flat_masked(weights: dict[str, torch.Tensor], mask: Mask) -> torch.Tensor:
    return torch.cat([(weights[n] * mask[n]).flatten() for n in mask])


class RepellentLoss:
    def __init__(self, optima: list[dict[str, torch.Tensor]], mask: Mask, strength: float):
        self.names = list(mask)
        self.mask = mask
        self.strength = strength
        keep = torch.cat([mask[n].flatten() for n in self.names]) > 0
        self.keep = keep
        vectors = [flat_masked(o, mask)[keep] for o in optima]
        self.units = torch.stack([v / v.norm().clamp_min(1e-12) for v in vectors]) if vectors else None

    def __call__(self, model: nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        if self.units is None:
            return params[self.names[0]].new_zeros(())
        theta = torch.cat([params[n].flatten() for n in self.names])[self.keep.to(params[self.names[0]].device)]
        cos = (self.units.to(theta.device) @ theta) / theta.norm().clamp_min(1e-12)
        return self.strength * (cos ** 2).mean()
