"""The loss landscape along straight lines: linear interpolation instability and error barriers.

    LII(θ₁, θ₂) = max_α E((1−α)θ₁ + αθ₂) − (E(θ₁) + E(θ₂))/2     (points of error)

Instability (Frankle et al. 2020a): θ₁ and θ₂ are two trainings of the same
start with different SGD noise; test error, 30 points. The error barrier between
successive IMP rounds uses the same measure with training error, 20 points.

Batch norm at interpolated points: by default its running statistics are
recomputed on the training data at every point (`bn="recompute"`); the paper does
not say, and this is the usual choice. `bn="interpolate"` mixes the buffers instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import TensorData
from .devices import tf32, to_device
from .evaluation import EVAL_BATCH, evaluate

LII_POINTS = 30
BARRIER_POINTS = 20


@dataclass
class ErrorPath:
    alphas: np.ndarray
    errors: np.ndarray  # percent error at each alpha

    @property
    def barrier(self) -> float:
        """Largest error on the path minus the endpoints' mean, in points."""
        return float(self.errors.max() - (self.errors[0] + self.errors[-1]) / 2)


def interpolate(w1: dict[str, torch.Tensor], w2: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """(1−α)·w1 + α·w2 for floating tensors; integer buffers (batch counts) come from w1."""
    return {k: ((1 - alpha) * v + alpha * w2[k]) if v.is_floating_point() else v.clone() for k, v in w1.items()}


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """Replace the running statistics by their average over train-mode passes through x in EVAL_BATCH
    chunks (momentum None: a cumulative average of the chunks' batch statistics, as torch's
    swa_utils.update_bn does). Within one chunk they are exact; over several, the variance is the mean
    of the chunks' variances, which is what batch norm's running statistics estimate in training too.
    A last chunk of one example (no variance) joins the chunk before it."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    starts = list(range(0, len(x), EVAL_BATCH))
    if len(starts) > 1 and len(x) - starts[-1] == 1:
        starts.pop()
    for start, end in zip(starts, starts[1:] + [len(x)]):
        model(x[start:end])
    model.eval()


def error_path(model: nn.Module, w1, w2, data: TensorData, split: str = "test", points: int = LII_POINTS,
               bn: str = "recompute", examples: int | None = None) -> ErrorPath:
    """Error (%) at `points` evenly spaced α in [0, 1] on the chosen split (its first `examples` examples, and batch
    norm recomputed on the first `examples` training examples, when given)."""
    if bn not in ("recompute", "interpolate"):
        raise ValueError(f"unknown batch-norm handling {bn!r}; use 'recompute' or 'interpolate'")
    alphas = np.linspace(0.0, 1.0, points)
    x, y = (t[:examples] for t in data.split(split))
    w1, w2 = to_device(w1, x.device), to_device(w2, x.device)  # interpolated where the model runs, copied once
    errors = []
    for alpha in alphas:
        model.load_state_dict(interpolate(w1, w2, float(alpha)))
        if bn == "recompute" and _has_batchnorm(model):
            with tf32(False):
                recompute_batchnorm(model, data.x_train[:examples])
        errors.append(100.0 * (1.0 - evaluate(model, x, y)[1]))
    return ErrorPath(alphas, np.array(errors))


def instability(model: nn.Module, w1, w2, data: TensorData, points: int = LII_POINTS, bn: str = "recompute",
                examples: int | None = None) -> float:
    """Linear interpolation instability in points of test error."""
    return error_path(model, w1, w2, data, "test", points, bn, examples).barrier


def error_barrier(model: nn.Module, w1, w2, data: TensorData, points: int = BARRIER_POINTS,
                  bn: str = "recompute", examples: int | None = None) -> float:
    """Barrier between successive rounds, in points of training error (paper Fig. 8)."""
    return error_path(model, w1, w2, data, "train", points, bn, examples).barrier
