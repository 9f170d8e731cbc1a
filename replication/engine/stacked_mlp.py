"""Population training: K independent fully connected networks trained as one batched computation.

IMP experiments are many small, independent trainings. For LeNet-style MLPs we
stack the K members' weights (each parameter a K-row leaf, read as K×out×in
views) and run every layer as one batched matmul. Each member keeps its own
mask, start weights, data order and loss; the optimizers (SGD with momentum and
weight decay, Adam) act elementwise, so a member's step is the arithmetic of its
own step alone, up to the rounding of the fused kernels' scalar tails, which the
padding below keeps off member data. `tests/test_population.py` checks that
members match one-at-a-time training, and that a member's bits do not depend on
its company in the stack.

A step is AutogradStep (autograd and torch's fused optimizers: fp32, and bf16 where
the spec asks for it or a repellent loss needs autograd) or DirectBF16Step (bf16 on
the CPU: a hand-written backward and the compiled masked step).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import kernels
from ..data import TensorData, epoch_order
from .losses import StackedRepellence
from ..spec import SpecError, TrainSpec
from .training import (  # noqa: F401 (Member is re-exported: it was defined here)
    ADAM_BETAS, ADAM_EPS, Member, TrainOutcome, lr_factor, make_optimizer, steps_per_epoch)


def can_stack(model_name: str, spec: TrainSpec) -> bool:
    """Stacking covers the LeNet MLPs; convnets fall back to one-at-a-time training."""
    return model_name == "lenet" and not spec.augment


def _layer_names(state: dict[str, torch.Tensor]) -> list[str]:
    hidden = sorted({k.split(".")[1] for k in state if k.startswith("hidden.")}, key=int)
    return [f"hidden.{i}" for i in hidden] + ["output"]


class _StackedLinear(torch.autograd.Function):
    """x @ wᵀ + b for every member, with the weight gradient computed directly as gᵀ @ x.

    Autograd's baddbmm backward makes xᵀ @ g (K×in×out) and then copies it, transposed, into
    the K×out×in gradient, a strided copy as large as the weights (benchmarks/README.md). `dtype` is
    the matmul precision: bfloat16 for precision='bf16' (matmuls in
    bf16 as under autocast, but the bias gradient summed in the weights' precision), while the
    weights and their gradients keep their own dtype (float32).
    """

    @staticmethod
    def forward(ctx, x, w, b, dtype):
        xc, wc = x.to(dtype), w.to(dtype)
        ctx.save_for_backward(xc, wc)
        ctx.dtypes = x.dtype, w.dtype, b.dtype
        return torch.baddbmm(b.to(dtype).unsqueeze(1), xc, wc.transpose(1, 2))

    @staticmethod
    def backward(ctx, g):
        xc, wc = ctx.saved_tensors
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        gc = g.to(xc.dtype)
        grad_x = torch.bmm(gc, wc).to(x_dtype) if ctx.needs_input_grad[0] else None
        grad_w = torch.bmm(gc.transpose(1, 2), xc).to(w_dtype)
        return grad_x, grad_w, g.to(b_dtype).sum(1), None


LANES = 16  # float32s in the fused optimizers' 64-byte work unit (and ≥ any CPU's float32 vector width)


def _padded(n: int) -> int:
    return -(-n // LANES) * LANES


class StackedMLP:
    """Weights read as K×out×in, nn.Linear's layout. K×in×out would be faster on CPU, but there the
    batched-matmul kernels round a member's numbers differently by its position in the stack, and a
    run's bits must not depend on its company (tests/test_population.py checks they do not).

    Each parameter lives in a K×(size rounded up to 16) leaf and the layers read views of it. The
    fused optimizers (training.make_optimizer) split a tensor into 64-byte units, update them in
    vectors and finish the tensor's last size mod (vector width) numbers in scalar code that
    rounds differently; with every member padded to a multiple of 16 floats, every number takes
    the vector path wherever its member sits in the stack.
    """

    def __init__(self, members: list[Member], device: torch.device):
        self.layers = _layer_names(members[0].start)
        self.names = [f"{l}.{kind}" for kind in ("weight", "bias") for l in self.layers]
        self.shapes = {n: members[0].start[n].shape for n in self.names}
        # the input's and every layer's output width: the activations _aligned_batch keeps aligned
        first = self.shapes[f"{self.layers[0]}.weight"][1]
        self.widths = [first, *(self.shapes[f"{l}.weight"][0] for l in self.layers)]
        self.leaves = {n: self._leaf([m.start[n] for m in members], device).requires_grad_() for n in self.names}
        masks = {n: self._leaf([m.mask[n] for m in members], device) for n in self.names if n.endswith(".weight")}
        self.masked = [self.leaves[n] for n in masks]
        self.masks = list(masks.values())

    def _leaf(self, tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
        flat = torch.stack([t.flatten() for t in tensors]).to(device=device, dtype=torch.float32)
        return F.pad(flat, (0, _padded(flat.shape[1]) - flat.shape[1])).contiguous()

    def view(self, name: str) -> torch.Tensor:
        """The K members' values of one parameter, in its own shape (a view of the padded leaf)."""
        shape = self.shapes[name]
        return self.leaves[name][:, :shape.numel()].view(-1, *shape)

    @property
    def weights(self) -> list[torch.Tensor]:
        return [self.view(f"{l}.weight") for l in self.layers]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.leaves.values())

    def forward(self, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """x: K×B×features -> K×B×classes, the matmuls in `dtype`."""
        for i, l in enumerate(self.layers):
            x = _StackedLinear.apply(x, self.view(f"{l}.weight"), self.view(f"{l}.bias"), dtype)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x

    @torch.no_grad()
    def apply_masks(self) -> None:
        torch._foreach_mul_(self.masked, self.masks)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        return {n: self.view(n)[k].detach().clone() for n in self.names}


class AutogradStep:
    """One step for every member through autograd and torch's fused optimizers, in either precision,
    with the repellent / attractive loss when there is one."""

    def __init__(self, net: StackedMLP, spec: TrainSpec, repellence: StackedRepellence | None):
        self.net, self.repellence = net, repellence
        self.optimizer = make_optimizer(net.parameters(), spec)
        self.dtype = torch.bfloat16 if spec.precision == "bf16" else torch.float32
        self.input_dtype = torch.float32  # _StackedLinear casts to self.dtype

    def __call__(self, x: torch.Tensor, y: torch.Tensor, row_weight: torch.Tensor, lr: float) -> torch.Tensor:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.net.forward(x, self.dtype)
        losses = F.cross_entropy(logits.float().flatten(0, 1), y, reduction="none")
        per_member = (losses.view(x.shape[0], -1) * row_weight).sum(1)  # the batch mean; padding rows weigh 0
        if self.repellence is not None:
            theta = torch.cat([w.flatten(1) for w in self.net.weights], dim=1)  # K × P; pruned are 0
            per_member = per_member + self.repellence(theta)
        self.optimizer.zero_grad(set_to_none=True)
        per_member.sum().backward()
        self.optimizer.step()
        self.net.apply_masks()
        return per_member.detach()


class DirectBF16Step:
    """One precision='bf16' step for every member with a hand-written backward and the compiled masked
    optimizer (kernels.py, masked_step.c): the autograd path's arithmetic up to rounding (bf16 matmuls
    and activations, fp32 loss and bias gradients, fp32 master weights and optimizer state), in fewer
    passes over memory. The optimizer reads the bf16 weight gradient, applies the mask, and writes
    the fp32 weights and the bf16 copies the next forward multiplies with, in one pass; the weight
    gradients go to buffers allocated once. Used on the CPU for bf16_step='direct' when there is no
    repellent loss (which needs autograd); tests/test_kernels.py checks its gradients and steps
    against AutogradStep's.
    """

    def __init__(self, net: StackedMLP, spec: TrainSpec, kernel: kernels.MaskedStep):
        self.net, self.spec, self.kernel = net, spec, kernel
        net.apply_masks()  # the bf16 copies below are the masked weights
        weights = [f"{l}.weight" for l in net.layers]
        self.masks = {n: (m[:, :net.shapes[n].numel()] != 0).to(torch.uint8).contiguous()
                      for n, m in zip(weights, net.masks)}
        self.copies = {n: net.view(n).detach().to(torch.bfloat16).contiguous() for n in net.names}
        self.state = {n: [torch.zeros_like(leaf) for _ in range(2 if spec.optimizer == "adam" else 1)]
                      for n, leaf in net.leaves.items()}
        self.grads = {n: torch.empty_like(self.copies[n]) for n in weights}
        self.count = 0
        self.input_dtype = torch.bfloat16

    def __call__(self, x: torch.Tensor, y: torch.Tensor, row_weight: torch.Tensor, lr: float) -> torch.Tensor:
        """x: K×rows×features (bf16), y: K·rows labels, row_weight: the rows' loss weights; returns K losses.

        Activations are kept feature-major (K×features×rows): the bf16 matmul W @ hᵀ is the faster
        layout for LeNet's wide first layer (benchmarks/README.md)."""
        net, copies = self.net, self.copies
        inputs, h = [], x.transpose(1, 2)
        for i, l in enumerate(net.layers):
            inputs.append(h)
            h = torch.baddbmm(copies[f"{l}.bias"].unsqueeze(2), copies[f"{l}.weight"], h)
            if i < len(net.layers) - 1:
                h = h.relu_()
        # the loss, (softmax − onehot) · row weight rounded to bf16 as autograd rounds it, and the bias's sum
        losses, grad, bias_grad = self.kernel.softmax_xent(h, y, row_weight)
        self.count += 1
        for i in reversed(range(len(net.layers))):
            w, b = f"{net.layers[i]}.weight", f"{net.layers[i]}.bias"
            if i < len(net.layers) - 1:
                bias_grad = grad.float().sum(2)
            torch.bmm(grad, inputs[i].transpose(1, 2), out=self.grads[w])
            if i > 0:  # the input gradient through the relu (autograd's own op), before the weights change
                grad = torch.ops.aten.threshold_backward(torch.bmm(copies[w].transpose(1, 2), grad), inputs[i], 0)
            self._update(w, self.grads[w], self.masks[w], lr)
            self._update(b, bias_grad, None, lr)
        return losses

    def _update(self, name: str, grad: torch.Tensor, mask: torch.Tensor | None, lr: float) -> None:
        spec, leaf, state, copy = self.spec, self.net.leaves[name], self.state[name], self.copies[name]
        if spec.optimizer == "adam":
            self.kernel.adam(leaf.data, *state, grad, mask, copy, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                             weight_decay=spec.weight_decay, step=self.count)
        else:
            self.kernel.sgd(leaf.data, state[0], grad, mask, copy, lr=lr, momentum=spec.momentum,
                            weight_decay=spec.weight_decay)


def _kernel() -> kernels.MaskedStep:
    kernel = kernels.load()
    if kernel is None:
        raise SpecError("bf16_step='direct' needs the compiled optimizer step, which cannot be built here (no "
                        "working C compiler); install one (apt-get install gcc) or pass --set bf16_step=autograd")
    return kernel


def _aligned_batch(idx: torch.Tensor, widths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a K×B batch with rows of weight 0 so that every K×rows×width activation and gradient gives
    each member a whole number of 16-float units: MKL's small matmuls round differently on operands
    that start off such a boundary, so without this a member's bits would depend on its place in
    the stack (LeNet's K×60×10 logits put odd members 32 bytes off). Returns (K×rows indices, the
    rows' loss weights: 1/B for the batch, 0 for the padding, which repeats the first example)."""
    k, batch = idx.shape
    unit = max(LANES // math.gcd(w, LANES) for w in widths)
    rows = -(-batch // unit) * unit
    weight = torch.zeros(rows, device=idx.device)
    weight[:batch] = 1.0 / batch
    if rows > batch:
        idx = torch.cat([idx, idx[:, :1].expand(k, rows - batch)], dim=1)
    return idx, weight


def _epoch_batches(orders: torch.Tensor, batch: int, widths: list[int]):
    """An epoch's K×n orders as aligned batches: yields (K·rows indices, contiguous so that one gather
    serves every member; the rows' loss weights). The whole batches are padded in one operation."""
    whole = orders.shape[1] // batch * batch
    if whole:
        steps = orders[:, :whole].view(orders.shape[0], -1, batch).transpose(0, 1)  # steps×K×B
        padded, row_weight = _aligned_batch(steps.flatten(0, 1), widths)
        yield from ((idx, row_weight) for idx in padded.view(steps.shape[0], -1))
    if whole < orders.shape[1]:
        idx, row_weight = _aligned_batch(orders[:, whole:], widths)
        yield idx.reshape(-1), row_weight


def train_population(members: list[Member], data: TensorData, spec: TrainSpec,
                     repel: float = 0.0) -> tuple[list[dict], list[TrainOutcome]]:
    """Train every member for spec.epochs; returns (trained state dicts, outcomes) in member order.

    repel: the repellent (> 0) or attractive (< 0) loss weight λ, applied against each
    member's `optima` when it has any.
    """
    device = data.x_train.device
    net = StackedMLP(members, device)
    repellence = (StackedRepellence(members, [f"{l}.weight" for l in net.layers], repel, device, align=_padded)
                  if repel and members[0].optima else None)
    net.apply_masks()
    direct = spec.precision == "bf16" and spec.bf16_step == "direct" and repellence is None and device.type == "cpu"
    step_all = DirectBF16Step(net, spec, _kernel()) if direct else AutogradStep(net, spec, repellence)
    generators = [torch.Generator().manual_seed(m.noise_seed) for m in members]
    per_epoch = steps_per_epoch(data.n_train, spec.batch_size)
    x_all = data.x_train.flatten(1).to(step_all.input_dtype)  # cast once, not every batch
    k = len(members)
    diverged = torch.zeros(k, dtype=torch.bool, device=device)
    step = 0
    for _ in range(spec.epochs):
        # Each member's own permutation (the same draws as the one-model trainer), as one K×n tensor.
        orders = torch.stack([epoch_order(data.n_train, g) for g in generators])
        for idx, row_weight in _epoch_batches(orders.to(device), spec.batch_size, net.widths):
            x = x_all.index_select(0, idx).view(k, -1, x_all.shape[1])
            per_member = step_all(x, data.y_train.index_select(0, idx), row_weight,
                                  spec.lr * lr_factor(step, spec, per_epoch))
            diverged |= ~torch.isfinite(per_member)
            step += 1
    flags = diverged.tolist()
    return [net.state_dict(i) for i in range(k)], [TrainOutcome(step, flags[i], None) for i in range(k)]
