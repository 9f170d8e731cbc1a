"""The compiled masked optimizer step (replication/masked_step.c) against torch.optim."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from replication.engine import kernels
from replication import masks as M
from replication.engine.stacked_mlp import (AutogradStep, DirectBF16Step, Member, StackedMLP, _aligned_batch,
                                    train_population)
from replication.evaluation import evaluate
from replication.spec import SpecError

from conftest import tiny_model, tiny_spec, tiny_train

kernel = kernels.load()
needs_kernel = pytest.mark.skipif(kernel is None, reason="no C compiler here: the torch-op path is used")


PAD = 7.0  # a value no stray write would leave in the padding


def _problem(seed=0, members=3, n=50, stride=64):
    g = torch.Generator().manual_seed(seed)
    p = torch.full((members, stride), PAD)
    p[:, :n] = torch.randn(members, n, generator=g)
    mask = (torch.rand(members, n, generator=g) > 0.4).to(torch.uint8)
    p[:, :n] *= mask
    grads = [torch.randn(members, n, generator=g) for _ in range(4)]
    return p, mask, grads


@needs_kernel
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("n,stride,threads", [(50, 64, 1), (2 * 4096 + 37, 2 * 4096 + 48, 2)])
def test_the_masked_step_is_torchs_step_followed_by_the_mask(optimizer, weight_decay, n, stride, threads):
    """Also over several of the kernel's 4096-number blocks per member, split across threads."""
    p, mask, grads = _problem(n=n, stride=stride)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _step_against_torch(p, mask, grads, optimizer, weight_decay)
    finally:
        torch.set_num_threads(before)


def _step_against_torch(p, mask, grads, optimizer, weight_decay):
    n = mask.shape[1]
    reference = p[:, :n].clone().requires_grad_()
    torch_opt = (torch.optim.Adam([reference], lr=1e-2, weight_decay=weight_decay) if optimizer == "adam" else
                 torch.optim.SGD([reference], lr=1e-2, momentum=0.9, weight_decay=weight_decay))
    state = [torch.zeros_like(p) for _ in range(2)]
    for s in state:
        s[:, n:] = PAD
    copy = torch.empty(mask.shape, dtype=torch.bfloat16)
    for step, g in enumerate(grads, start=1):
        reference.grad = g.clone()
        torch_opt.step()
        with torch.no_grad():
            reference.mul_(mask)
        if optimizer == "adam":
            kernel.adam(p, *state, g, mask, copy, lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                        weight_decay=weight_decay, step=step)
        else:
            kernel.sgd(p, state[0], g, mask, copy, lr=1e-2, momentum=0.9, weight_decay=weight_decay)
    torch.testing.assert_close(p[:, :n], reference.detach(), rtol=1e-5, atol=1e-6)
    assert torch.all(p[:, :n][mask == 0] == 0)  # pruned weights exactly zero
    assert all(torch.all(t[:, n:] == PAD) for t in (p, *state))  # the padding is never touched
    assert torch.equal(copy, p[:, :n].to(torch.bfloat16))  # the bf16 copy rounds as torch does


@needs_kernel
def test_bf16_gradients_are_read_exactly_and_no_mask_means_nothing_pruned():
    p, _, grads = _problem(1)
    n = grads[0].shape[1]
    bf16 = [g.to(torch.bfloat16) for g in grads]
    twin = p.clone()
    states = [[torch.zeros_like(p) for _ in range(2)] for _ in range(2)]
    copy = torch.empty(p.shape[0], n, dtype=torch.bfloat16)
    for step, (g16, g32) in enumerate(zip(bf16, [g.float() for g in bf16]), start=1):
        for target, state, g in ((p, states[0], g16), (twin, states[1], g32)):
            kernel.adam(target, *state, g, None, copy, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                        step=step)
    assert torch.equal(p, twin)
    assert torch.all(p[:, :n] != 0)
    assert torch.all(p[:, n:] == PAD)


@needs_kernel
def test_softmax_xent_is_the_weighted_cross_entropy_and_its_gradient():
    g = torch.Generator().manual_seed(2)
    logits = (3 * torch.randn(4, 10, 24, generator=g)).to(torch.bfloat16)
    labels = torch.randint(0, 10, (4 * 24,), generator=g)
    weight = torch.full((24,), 1 / 20)
    weight[20:] = 0  # padding rows
    losses, grad, bias_grad = kernel.softmax_xent(logits, labels, weight)
    z = logits.float().requires_grad_()
    nll = F.cross_entropy(z.transpose(1, 2).reshape(-1, 10), labels, reduction="none").view(4, 24)
    reference = (nll * weight).sum(1)
    reference.sum().backward()
    torch.testing.assert_close(losses, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad.float(), z.grad.to(torch.bfloat16).float(), rtol=0, atol=2 ** -9 / 20)
    assert torch.all(grad[:, :, 20:] == 0)
    torch.testing.assert_close(bias_grad, grad.float().sum(2), rtol=1e-5, atol=1e-6)


@needs_kernel
def test_operands_that_do_not_fit_are_refused():
    p, mask, grads = _problem()
    state = [torch.zeros_like(p) for _ in range(2)]
    with pytest.raises(ValueError, match="bf16 copy"):
        kernel.adam(p, *state, grads[0], mask, None, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, step=1)
    with pytest.raises(ValueError, match="gradient"):
        kernel.sgd(p, state[0], torch.randn(3, 80), None, torch.empty(3, 80, dtype=torch.bfloat16), lr=1e-2,
                   momentum=0.9, weight_decay=0.0)


def _members(count=3, density=0.5):
    models = [tiny_model(seed) for seed in range(count)]
    return [Member({k: v.clone() for k, v in m.state_dict().items()},
                   M.prune_global(m.state_dict(), M.dense_mask(m), density).mask, 5 + i) for i, m in enumerate(models)]


class _Recorder:
    """A kernel that records the gradients DirectBF16Step hands it and changes nothing."""

    def __init__(self):
        self.grads = {}
        self.softmax_xent = kernel.softmax_xent

    def sgd(self, p, state, grad, mask, copy, **_):
        self.grads[p.data_ptr()] = grad.float().clone()


@needs_kernel
def test_the_hand_written_backward_gives_autograds_gradients(digits):
    """Element by element, on the same weights and batch: the weight and bias gradients DirectBF16Step
    passes to the optimizer are those autograd computes for the bf16 forward, to bf16 rounding."""
    spec = tiny_train(precision="bf16")
    members = _members()
    nets = [StackedMLP(members, torch.device("cpu")) for _ in range(2)]
    recorder = _Recorder()
    nets[1].apply_masks()
    direct, autograd = DirectBF16Step(nets[0], spec, recorder), AutogradStep(nets[1], spec, None)
    autograd.optimizer.step = lambda: None  # keep autograd's gradients and the weights as they are
    g = torch.Generator().manual_seed(1)
    idx, weight = _aligned_batch(torch.randint(0, digits.n_train, (3, 20), generator=g), nets[0].widths)
    x_all = digits.x_train.flatten(1)
    x, y = x_all[idx.reshape(-1)].view(3, -1, x_all.shape[1]), digits.y_train[idx.reshape(-1)]
    direct(x.to(torch.bfloat16), y, weight, 0.1)
    autograd(x, y, weight, 0.1)
    for name in nets[0].names:
        ours = recorder.grads[nets[0].leaves[name].data_ptr()].view(-1)
        reference = nets[1].leaves[name].grad[:, :nets[0].shapes[name].numel()].reshape(-1)
        scale = reference.abs().max()
        assert scale > 0, name
        torch.testing.assert_close(ours, reference, rtol=0, atol=float(scale) * 2 ** -7, msg=name)


@needs_kernel
@pytest.mark.parametrize("optimizer,lr", [("adam", 1.2e-3), ("sgd", 0.05)])
def test_direct_bf16_steps_equal_autograd_bf16_steps(digits, optimizer, lr):
    """Three steps from one start on the same batches: the hand-written backward and the fused
    update agree with autograd and torch's optimizer plus the mask multiply, to bf16 rounding."""
    spec = tiny_train(optimizer=optimizer, lr=lr, weight_decay=1e-4, precision="bf16")
    members = _members()
    nets = [StackedMLP(members, torch.device("cpu")) for _ in range(2)]
    for net in nets:
        net.apply_masks()
    steps = [DirectBF16Step(nets[0], spec, kernel), AutogradStep(nets[1], spec, None)]
    g = torch.Generator().manual_seed(0)
    x_all = digits.x_train.flatten(1)
    for _ in range(3):
        idx, weight = _aligned_batch(torch.randint(0, digits.n_train, (3, 20), generator=g), nets[0].widths)
        x, y = x_all[idx.reshape(-1)].view(3, -1, x_all.shape[1]), digits.y_train[idx.reshape(-1)]
        losses = [step(x.to(step.input_dtype), y, weight, lr) for step in steps]
        torch.testing.assert_close(losses[0], losses[1], rtol=1e-3, atol=1e-4)
    for name in nets[0].names:
        torch.testing.assert_close(nets[0].view(name), nets[1].view(name), rtol=1e-3, atol=1e-4)
    for name, mask in zip([n for n in nets[0].names if n.endswith("weight")], nets[0].masks):
        assert torch.all(nets[0].leaves[name][mask == 0] == 0)


@needs_kernel
@pytest.mark.parametrize("optimizer,lr", [("adam", 1.2e-3), ("sgd", 0.05)])
def test_the_direct_bf16_path_learns_as_well_as_the_autograd_path(digits, monkeypatch, optimizer, lr):
    spec = tiny_train(optimizer=optimizer, lr=lr, epochs=3, weight_decay=1e-4, precision="bf16")
    direct, outcomes = train_population(_members(), digits, spec)
    autograd, _ = train_population(_members(), digits, dataclasses.replace(spec, bf16_step="autograd"))
    model = tiny_model(0)
    accuracy = []
    for state in direct + autograd:
        model.load_state_dict(state)
        accuracy.append(evaluate(model, digits.x_test, digits.y_test)[1])
    # single members drift apart by a few test examples (bf16 rounding compounds); their mean does not
    assert abs(sum(accuracy[:3]) - sum(accuracy[3:])) / 3 < 0.015, accuracy
    assert not any(o.diverged for o in outcomes)


def test_the_bf16_step_is_the_specs_choice_and_a_missing_kernel_is_an_error_not_a_silent_switch(digits, monkeypatch):
    """Which bf16 step trains is part of the spec's hash; a machine without a compiler must not quietly
    train a direct-step spec the autograd way (the stored run would not mean one computation)."""
    model = tiny_model(0)
    member = Member(model.state_dict(), M.dense_mask(model), 1)
    autograd = tiny_train(precision="bf16", bf16_step="autograd")
    assert autograd.bf16_step == "autograd" and "bf16_step" not in tiny_spec().to_dict()["train"]
    assert tiny_spec(precision="bf16", bf16_step="autograd").hash() != tiny_spec(precision="bf16").hash()
    monkeypatch.setattr(kernels, "load", lambda: None)
    with pytest.raises(SpecError, match="bf16_step='direct' needs the compiled optimizer step"):
        train_population([member], digits, tiny_train(precision="bf16"))
    (weights,), (outcome,) = train_population([member], digits, autograd)
    assert not outcome.diverged and all(torch.isfinite(w).all() for w in weights.values())


@needs_kernel
def test_the_kernel_refuses_tensors_off_the_cpu():
    p, mask, grads = _problem()
    state = [torch.zeros_like(p) for _ in range(2)]
    meta = torch.empty(grads[0].shape, device="meta")
    with pytest.raises(ValueError, match="CPU tensors only"):
        kernel.adam(p, *state, meta, mask, torch.empty(mask.shape, dtype=torch.bfloat16), lr=1e-2,
                    betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, step=1)


@pytest.mark.parametrize("compiler", ["false", "no-such-compiler"])
def test_a_failing_or_missing_compiler_falls_back_with_a_warning_and_leaves_nothing(monkeypatch, tmp_path, compiler):
    monkeypatch.setenv("CC", compiler)
    if compiler != "false":
        monkeypatch.setenv("PATH", str(tmp_path))  # and no gcc to fall back on
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="needs bf16_step='autograd'"):
        assert kernels.load.__wrapped__() is None
    assert not list(tmp_path.rglob("*.so"))
