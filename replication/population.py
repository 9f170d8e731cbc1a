"""Population training: K independent fully connected networks trained as one batched computation.

IMP experiments are many small, independent trainings. For LeNet-style MLPs we
stack the K members' weights into (K, out, in) tensors and run every layer as one
batched matmul. Each member keeps its own mask, start weights, data order and
loss; the optimizers (SGD with momentum and weight decay, Adam) act elementwise,
so a stacked step is the same arithmetic as K separate steps. `tests/test_population.py`
checks that members match one-at-a-time training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data import TensorData, epoch_order
from .masks import Mask
from .spec import TrainSpec
from .training import TrainOutcome, autocast, lr_factor, make_optimizer, steps_per_epoch


def can_stack(model_name: str, spec: TrainSpec) -> bool:
    """Stacking covers the LeNet MLPs; convnets fall back to one-at-a-time training."""
    return model_name == "lenet" and not spec.augment


@dataclass
class Member:
    start: dict[str, torch.Tensor]  # a LeNet state dict (hidden.i.weight/bias, output.weight/bias)
    mask: Mask
    noise_seed: int
    optima: list[dict[str, torch.Tensor]] = field(default_factory=list)  # previous optima, for repellence


def _layer_names(state: dict[str, torch.Tensor]) -> list[str]:
    hidden = sorted({k.split(".")[1] for k in state if k.startswith("hidden.")}, key=int)
    return [f"hidden.{i}" for i in hidden] + ["output"]


class StackedMLP:
    """Weights held as K×out×in, nn.Linear's layout. K×in×out measured faster on CPU, but there the
    batched-matmul kernels round a member's numbers differently by its position in the stack, and a
    run's bits must not depend on its company (tests/test_imp.py checks they do not)."""

    def __init__(self, members: list[Member], device: torch.device):
        self.layers = _layer_names(members[0].start)
        stack = lambda key: torch.stack([m.start[key] for m in members]).to(device).clone()  # noqa: E731
        self.weights = [stack(f"{l}.weight").requires_grad_() for l in self.layers]
        self.biases = [stack(f"{l}.bias").requires_grad_() for l in self.layers]
        self.masks = [torch.stack([m.mask[f"{l}.weight"] for m in members]).to(device) for l in self.layers]

    def parameters(self) -> list[torch.Tensor]:
        return self.weights + self.biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: K×B×features -> K×B×classes."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            if i < len(self.weights) - 1:
                x = F.relu(x)
        return x

    @torch.no_grad()
    def apply_masks(self) -> None:
        torch._foreach_mul_(self.weights, self.masks)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        out = {}
        for l, w, b in zip(self.layers, self.weights, self.biases):
            out[f"{l}.weight"] = w[k].detach().clone()
            out[f"{l}.bias"] = b[k].detach().clone()
        return out


class StackedRepellence:
    """The repellent / attractive loss (losses.py) for every member at once.

    Each member keeps its previous optima as unit vectors over its own mask
    (K × |Θ| × weights); the loss is λ · mean over Θ of cos²(θ_k, θ_r ⊙ m_k).
    """

    def __init__(self, members: list[Member], net: StackedMLP, strength: float):
        counts = {len(m.optima) for m in members}
        if len(counts) != 1:
            raise ValueError(f"members of one population need the same number of previous optima, got {counts}")
        names = [f"{l}.weight" for l in net.layers]
        units = []
        for m in members:
            flat = [torch.cat([(o[n] * m.mask[n]).flatten() for n in names]) for o in m.optima]
            units.append(torch.stack([v / v.norm().clamp_min(1e-12) for v in flat]))
        self.units = torch.stack(units).to(net.weights[0].device)  # K × |Θ| × P
        self.strength = strength

    def __call__(self, net: StackedMLP) -> torch.Tensor:
        theta = torch.cat([w.flatten(1) for w in net.weights], dim=1)  # K × P, pruned entries are zero
        cos = torch.bmm(self.units, theta.unsqueeze(2)).squeeze(2) / theta.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self.strength * (cos ** 2).mean(dim=1)  # K


def train_population(members: list[Member], data: TensorData, spec: TrainSpec,
                     repel: float = 0.0) -> tuple[list[dict], list[TrainOutcome]]:
    """Train every member for spec.epochs; returns (trained state dicts, outcomes) in member order.

    repel: the repellent (> 0) or attractive (< 0) loss weight λ, applied against each
    member's `optima` when it has any.
    """
    device = data.x_train.device
    net = StackedMLP(members, device)
    repellence = StackedRepellence(members, net, repel) if repel and members[0].optima else None
    optimizer = make_optimizer(net.parameters(), spec)
    generators = [torch.Generator().manual_seed(m.noise_seed) for m in members]
    per_epoch = steps_per_epoch(data.n_train, spec.batch_size)
    x_all = data.x_train.flatten(1)
    k = len(members)
    diverged = torch.zeros(k, dtype=torch.bool, device=device)
    net.apply_masks()
    step = 0
    for _ in range(spec.epochs):
        # Each member's own permutation (the same draws as the one-model trainer), as one K×n tensor.
        orders = torch.stack([epoch_order(data.n_train, g) for g in generators])
        for idx in orders.to(device).split(spec.batch_size, dim=1):  # K×B
            for group in optimizer.param_groups:
                group["lr"] = spec.lr * lr_factor(step, spec, per_epoch)
            with autocast(spec, device):
                logits = net.forward(x_all[idx])
            losses = F.cross_entropy(logits.float().flatten(0, 1), data.y_train[idx].flatten(), reduction="none")
            per_member = losses.view(k, -1).mean(1)
            if repellence is not None:
                per_member = per_member + repellence(net)
            diverged |= ~torch.isfinite(per_member)
            optimizer.zero_grad(set_to_none=True)
            per_member.sum().backward()
            optimizer.step()
            net.apply_masks()
            step += 1
    flags = diverged.tolist()
    return [net.state_dict(i) for i in range(k)], [TrainOutcome(step, flags[i], None) for i in range(k)]
