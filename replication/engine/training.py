"""Training one (masked) network: an explicit loop you can read top to bottom.

Learning-rate warm-up and schedules are per step. Pruned weights stay exactly
zero: the mask is re-applied after every optimizer step, so neither momentum nor
weight decay can move them. A non-finite loss stops training and marks the run
diverged instead of reporting a meaningless accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import TensorData, augment, batch_indices
from ..devices import tf32
from ..masks import Mask, apply_mask
from ..spec import SpecError, TrainSpec

ExtraLoss = Callable[[nn.Module], torch.Tensor]


@dataclass
class Member:
    """One network of a population (population.py, conv_population.py): what it trains from."""

    start: dict[str, torch.Tensor]  # its state dict
    mask: Mask
    noise_seed: int
    optima: list[dict[str, torch.Tensor]] = field(default_factory=list)  # previous optima, for repellence


def lr_factor(step: int, spec: TrainSpec, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at a given optimizer step."""
    total = spec.epochs * steps_per_epoch
    warmup = round(spec.warmup_epochs * steps_per_epoch)  # whole steps: a fraction of an epoch is allowed
    factor = 1.0
    if spec.schedule == "step":
        epoch = step / steps_per_epoch
        factor = spec.gamma ** sum(epoch >= m for m in spec.milestones)
    elif spec.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * step / total))
    if warmup and step < warmup:
        factor *= (step + 1) / warmup
    return factor


ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch's defaults, named so that population's compiled step shares them


def make_optimizer(params, spec: TrainSpec) -> torch.optim.Optimizer:
    """The fused kernels: one pass over each tensor instead of foreach's eight or so (timings in
    benchmarks/README.md). They round the scalar tail of a tensor (its
    last numbers short of a whole vector) differently from the vector body; population.StackedMLP pads its
    members so that a run's bits never depend on its neighbours in a stack."""
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=spec.weight_decay,
                                fused=True)
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay,
                           fused=True)


@dataclass
class TrainOutcome:
    steps: int
    diverged: bool
    rewind_state: dict[str, torch.Tensor] | None  # weights after `capture_step` steps, if asked


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return math.ceil(n_train / batch_size)


def train(model: nn.Module, mask: Mask, data: TensorData, spec: TrainSpec, noise_seed: int,
          extra_loss: ExtraLoss | None = None, capture_step: int | None = None,
          on_epoch: Callable[[int], None] | None = None) -> TrainOutcome:
    """Train `model` in place under `mask` (see _train), with the spec's TF32 setting."""
    with tf32(spec.tf32):
        return _train(model, mask, data, spec, noise_seed, extra_loss, capture_step, on_epoch)


def _train(model: nn.Module, mask: Mask, data: TensorData, spec: TrainSpec, noise_seed: int,
           extra_loss: ExtraLoss | None, capture_step: int | None,
           on_epoch: Callable[[int], None] | None) -> TrainOutcome:
    """Train `model` in place under `mask`.

    One generator on the data's device, seeded with noise_seed, draws the epoch orders and the
    augmentation, so a run's noise depends on its seed alone and never crosses to the host. A
    non-finite loss stops training: on the CPU it is checked at every step, where that costs
    nothing; on an accelerator a flag stays on the device and is read once per epoch, so the
    loop never waits for the device (the weights then go on to the end of that epoch).
    """
    if spec.batch_size > data.n_train:
        raise SpecError(f"batch size {spec.batch_size} exceeds the {data.n_train} training examples of "
                        f"{data.name}; pass a smaller --batch-size")
    device = data.x_train.device
    generator = torch.Generator(device=device).manual_seed(noise_seed)
    if spec.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model.parameters(), spec)
    task_loss = _task_loss(model, spec, device)
    per_epoch = steps_per_epoch(data.n_train, spec.batch_size)
    on_host = device.type == "cpu"
    first_bad = torch.full((), -1, dtype=torch.long, device=device)  # the first non-finite step, or -1
    apply_mask(model, mask)
    model.train()
    step, rewind_state = 0, None
    for epoch in range(spec.epochs):
        for idx in batch_indices(data.n_train, spec.batch_size, generator):
            if step == capture_step:
                rewind_state = _snapshot(model)
            x, y = data.x_train[idx], data.y_train[idx]
            if spec.augment:
                x = augment(x, generator, spec.augment_pad)
            for group in optimizer.param_groups:
                group["lr"] = spec.lr * lr_factor(step, spec, per_epoch)
            loss = task_loss(x, y)
            if extra_loss is not None:
                loss = loss + extra_loss(model)
            if on_host:
                if not torch.isfinite(loss):
                    return TrainOutcome(step, True, rewind_state)
            else:
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            apply_mask(model, mask)
            step += 1
        if not on_host and (bad := int(first_bad)) >= 0:  # the one read of the epoch
            return TrainOutcome(bad, True, rewind_state)
        if on_epoch is not None:
            on_epoch(epoch)
    if capture_step is not None and rewind_state is None:
        rewind_state = _snapshot(model)
    return TrainOutcome(step, False, rewind_state)


def _task_loss(model: nn.Module, spec: TrainSpec, device: torch.device) -> Callable[..., torch.Tensor]:
    """The cross-entropy of a batch: the forward pass under the spec's precision and layout, the loss in
    fp32; compiled when the spec asks (the first batches then take the compilation's time)."""
    layout = torch.channels_last if spec.channels_last else torch.contiguous_format

    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(spec, device):
            logits = model(x.contiguous(memory_format=layout))
        return F.cross_entropy(logits.float(), y)

    return torch.compile(loss) if spec.compile else loss


def autocast(spec: TrainSpec, device: torch.device):
    """bfloat16 autocast for the forward pass when the spec asks for it (a no-op context for fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=spec.precision == "bf16")


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
