"""Population training for convnets: K networks of one architecture as one vmapped computation.

The members' parameters and batch-norm buffers are stacked along a leading K axis
and `torch.func.vmap(functional_call(...))` runs the model's own forward over all
of them at once: convolutions become grouped convolutions, batch norm keeps its
statistics (and running buffers) per member. One fused optimizer then steps every
stacked tensor; its arithmetic is elementwise, so each member's step is its own.

Each member keeps its own start weights, mask, optimizer state, batch-norm running
statistics and loss, and its own noise: a generator on the data's device seeded
with the member's noise seed draws its epoch orders and augmentation in the same
sequence as the one-model trainer (training.train), so a member sees exactly the
batches it would see alone. The arithmetic is not the one-model trainer's (grouped
kernels sum in another order), so `tests/test_conv_population.py` holds a member
to its one-model twin, and to itself in other company, within a stated tolerance;
`TrainSpec.stacking` puts the choice in the spec's hash.

Divergence is a flag per member kept on the device and read once per epoch.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from ..data import TensorData, augment, epoch_order
from .losses import StackedRepellence
from ..masks import prunable_names
from ..spec import TrainSpec
from ..devices import tf32
from .training import Member, TrainOutcome, autocast, lr_factor, make_optimizer, steps_per_epoch

STACKABLE = ("conv2", "conv4", "conv6", "resnet20", "vgg16")  # ResNet-50 trains one at a time


def can_vmap(model_name: str, stacking: str) -> bool:
    return stacking == "vmap" and model_name in STACKABLE


class StackedNet:
    """K members of `template`'s architecture: parameters as K-stacked leaves, buffers K-stacked."""

    def __init__(self, template: nn.Module, members: list[Member], device: torch.device):
        self.template = copy.deepcopy(template).to("meta")
        self.param_names = [n for n, _ in template.named_parameters()]
        self.buffer_names = [n for n, _ in template.named_buffers()]
        stack = lambda name: torch.stack([m.start[name] for m in members]).to(device)  # noqa: E731
        self.params = {n: stack(n).requires_grad_() for n in self.param_names}
        self.buffers = {n: stack(n) for n in self.buffer_names}
        self.prunable = prunable_names(template)
        self.masks = [torch.stack([m.mask[n] for m in members]).to(device) for n in self.prunable]
        self.forward = vmap(self._one, in_dims=(0, 0, 0), randomness="different")

    def _one(self, params, buffers, x):
        return functional_call(self.template, (params, buffers), (x,))

    @torch.no_grad()
    def apply_masks(self) -> None:
        torch._foreach_mul_([self.params[n] for n in self.prunable], self.masks)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights and buffers, in the template's state-dict order."""
        both = {**self.params, **self.buffers}
        return {n: both[n][k].detach().clone() for n in self.template.state_dict()}


def train_conv_population(template: nn.Module, members: list[Member], data: TensorData, spec: TrainSpec,
                          repel: float = 0.0) -> tuple[list[dict], list[TrainOutcome]]:
    """Train every member for spec.epochs; returns (state dicts, outcomes) in member order."""
    with tf32(spec.tf32):
        return _train(template, members, data, spec, repel)


def _train(template: nn.Module, members: list[Member], data: TensorData, spec: TrainSpec,
           repel: float) -> tuple[list[dict], list[TrainOutcome]]:
    device = data.x_train.device
    net = StackedNet(template, members, device)
    repellence = StackedRepellence(members, net.prunable, repel, device) if repel and members[0].optima else None
    net.apply_masks()
    optimizer = make_optimizer(list(net.params.values()), spec)
    generators = [torch.Generator(device=device).manual_seed(m.noise_seed) for m in members]
    per_epoch, k = steps_per_epoch(data.n_train, spec.batch_size), len(members)
    first_bad = torch.full((k,), -1, dtype=torch.long, device=device)  # each member's first non-finite step
    step = 0
    for _ in range(spec.epochs):
        orders = [epoch_order(data.n_train, g).split(spec.batch_size) for g in generators]
        for batches in zip(*orders):
            x = torch.stack([_batch(data, idx, g, spec.augment, spec.augment_pad)
                             for idx, g in zip(batches, generators)])
            y = torch.stack([data.y_train[idx] for idx in batches])
            for group in optimizer.param_groups:
                group["lr"] = spec.lr * lr_factor(step, spec, per_epoch)
            with autocast(spec, device):
                logits = net.forward(net.params, net.buffers, x)
            losses = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view(k, -1).mean(1)
            if repellence is not None:
                losses = losses + repellence(torch.cat([net.params[n].flatten(1) for n in net.prunable], dim=1))
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(losses), step, first_bad)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            net.apply_masks()
            step += 1
        if bool((first_bad.cpu() >= 0).all()):  # the one read of the epoch: every member has diverged
            break
    bad = first_bad.tolist()
    return ([net.state_dict(i) for i in range(k)],
            [TrainOutcome(b if b >= 0 else step, b >= 0, None) for b in bad])


def _batch(data: TensorData, idx: torch.Tensor, generator: torch.Generator, augmented: bool,
           pad: int) -> torch.Tensor:
    x = data.x_train[idx]
    return augment(x, generator, pad) if augmented else x
