"""Evaluating a network: loss and accuracy on a split, in eval mode, in fixed-size batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EVAL_BATCH = 2048


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in eval mode."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), EVAL_BATCH):
        logits = model(x[start:start + EVAL_BATCH])
        target = y[start:start + EVAL_BATCH]
        total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    return total_loss / len(y), correct / len(y)
