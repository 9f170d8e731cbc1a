"""Evaluating a network: loss and accuracy on a split, in eval mode, in fixed-size batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .devices import tf32

EVAL_BATCH = 2048


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in eval mode, in fp32 (no TF32). The sums stay on the device and are read
    once: a read per chunk would stall a GPU twice per EVAL_BATCH examples."""
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    with tf32(False):
        for start in range(0, len(y), EVAL_BATCH):
            logits = model(x[start:start + EVAL_BATCH])
            target = y[start:start + EVAL_BATCH]
            total_loss += F.cross_entropy(logits, target, reduction="sum").double()
            correct += (logits.argmax(1) == target).sum()
    return float(total_loss) / len(y), int(correct) / len(y)
