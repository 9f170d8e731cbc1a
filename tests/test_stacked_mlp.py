"""Stacked (population) training must match training the members one at a time."""

import pytest
import torch

from replication import masks as M
from replication.models import build_model
from replication.engine.stacked_mlp import Member, train_population
from replication.evaluation import evaluate
from replication.engine.training import train

from conftest import tiny_model, tiny_train


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1.2e-3)])
def test_stacked_training_matches_one_at_a_time(digits, optimizer, lr):
    spec = tiny_train(optimizer=optimizer, lr=lr, epochs=3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    models = [tiny_model(seed) for seed in range(3)]
    starts = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    dense = M.dense_mask(models[0])
    masks = [dense, M.random_mask_like(dense, generator), M.prune_global(starts[2], dense, 0.5).mask]
    stacked, outcomes = train_population([Member(s, m, 10 + i) for i, (s, m) in enumerate(zip(starts, masks))],
                                         digits, spec)
    for i, model in enumerate(models):
        train(model, masks[i], digits, spec, 10 + i)
        alone = model.state_dict()
        for name, tensor in alone.items():
            torch.testing.assert_close(stacked[i][name], tensor, rtol=1e-4, atol=1e-5)
        acc_alone = evaluate(model, digits.x_test, digits.y_test)[1]
        model.load_state_dict(stacked[i])
        assert f"{evaluate(model, digits.x_test, digits.y_test)[1]:.3f}" == f"{acc_alone:.3f}"
        assert not outcomes[i].diverged
        for name, m in masks[i].items():  # pruned weights stay exactly zero
            assert torch.all(stacked[i][name][m == 0] == 0)


@pytest.mark.parametrize("strength", [2.0, -1.0])
def test_stacked_repellence_matches_the_one_model_loss(digits, strength):
    """The repellent/attractive loss trained stacked matches RepellentLoss trained one at a time."""
    from replication.engine.losses import RepellentLoss

    spec = tiny_train(epochs=2)
    models = [tiny_model(seed) for seed in range(2)]
    starts = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    optima = [{k: v + 0.1 * torch.randn_like(v) for k, v in tiny_model(7 + i).state_dict().items()} for i in range(3)]
    mask = M.prune_global(starts[0], M.dense_mask(models[0]), 0.3).mask
    stacked, _ = train_population([Member(s, mask, i, optima) for i, s in enumerate(starts)], digits, spec, strength)
    for i, model in enumerate(models):
        train(model, mask, digits, spec, i, extra_loss=RepellentLoss(optima, mask, strength))
        for name, tensor in model.state_dict().items():
            torch.testing.assert_close(stacked[i][name], tensor, rtol=1e-4, atol=1e-5)


def test_repellent_loss_equals_the_formula_and_its_gradient():
    """J = λ/|Θ| Σ cos²(θ⊙m, θ_r⊙m), against a direct computation with autograd."""
    from replication.engine.losses import RepellentLoss

    model = tiny_model(0)
    mask = M.prune_global(dict(model.named_parameters()), M.dense_mask(model), 0.5).mask
    M.apply_mask(model, mask)
    optima = [{k: torch.randn_like(v) for k, v in model.state_dict().items()} for _ in range(3)]
    loss = RepellentLoss(optima, mask, 2.0)(model)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if n in mask}
    theta = torch.cat([dict(model.named_parameters())[n].detach().flatten() for n in mask]).double().requires_grad_()
    direct = 0
    for o in optima:
        other = torch.cat([(o[n] * mask[n]).flatten() for n in mask]).double()
        direct = direct + torch.nn.functional.cosine_similarity(theta * torch.cat([mask[n].flatten() for n in mask]).double(), other, dim=0) ** 2
    direct = 2.0 * direct / len(optima)
    direct.backward()
    assert abs(loss.item() - direct.item()) < 1e-5
    flat = torch.cat([grads[n].flatten() for n in mask]).double()
    kept = torch.cat([mask[n].flatten() for n in mask]) > 0
    torch.testing.assert_close(flat[kept], theta.grad[kept], rtol=1e-3, atol=1e-7)


def test_bf16_trains_as_well_as_fp32_with_fp32_master_weights(digits):
    """precision='bf16' runs the matmuls in bfloat16 but keeps weights, optimizer and loss in fp32: the
    members learn as well (within a point on digits), stay fp32, keep their masks, and the bits differ."""
    results = {}
    for precision in ("fp32", "bf16"):
        spec = tiny_train(optimizer="sgd", lr=0.05, epochs=5, precision=precision)
        models = [tiny_model(seed) for seed in range(3)]
        dense = M.dense_mask(models[0])
        masks = [M.prune_global(m.state_dict(), dense, 0.5).mask for m in models]
        trained, outcomes = train_population(
            [Member({k: v.clone() for k, v in m.state_dict().items()}, mask, 7 + i)
             for i, (m, mask) in enumerate(zip(models, masks))], digits, spec)
        accuracy = []
        for model, state, mask in zip(models, trained, masks):
            assert all(t.dtype == torch.float32 for t in state.values())
            assert all(torch.all(state[n][m == 0] == 0) for n, m in mask.items())
            model.load_state_dict(state)
            accuracy.append(evaluate(model, digits.x_test, digits.y_test)[1])
        assert not any(o.diverged for o in outcomes)
        results[precision] = (accuracy, trained)
    for a, b in zip(results["fp32"][0], results["bf16"][0]):
        assert abs(a - b) < 0.01
    assert not torch.equal(results["fp32"][1][0]["output.weight"], results["bf16"][1][0]["output.weight"])


def test_bf16_one_model_trainer_matches_the_stacked_one_closely(digits):
    spec = tiny_train(optimizer="adam", lr=1.2e-3, epochs=2, precision="bf16")
    model = tiny_model(1)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    mask = M.dense_mask(model)
    stacked, _ = train_population([Member(start, mask, 3)], digits, spec)
    train(model, mask, digits, spec, 3)
    acc_alone = evaluate(model, digits.x_test, digits.y_test)[1]
    model.load_state_dict(stacked[0])
    assert abs(evaluate(model, digits.x_test, digits.y_test)[1] - acc_alone) < 0.01


@pytest.mark.parametrize("optimizer,lr,precision,threads,repel,compiled", [
    ("sgd", 0.05, "fp32", 1, 0.0, True), ("adam", 1.2e-3, "fp32", 1, 0.0, True),
    ("sgd", 0.05, "bf16", 1, 0.0, True), ("adam", 1.2e-3, "bf16", 2, 0.0, True),
    ("sgd", 0.05, "bf16", 1, 0.0, False), ("adam", 1.2e-3, "bf16", 2, 0.0, False),
    ("adam", 1.2e-3, "fp32", 2, 0.0, True), ("sgd", 0.05, "fp32", 1, 2.0, True)])
def test_a_members_bits_do_not_depend_on_its_place_or_company_in_the_stack(digits, monkeypatch, optimizer, lr,
                                                                           precision, threads, repel, compiled):
    """The fused optimizers round a tensor's scalar tail differently from its vector body (fused SGD
    measurably so); StackedMLP pads every member to whole vectors, so the bits are the same alone,
    first, last, or among 4 others, also with the repellent loss. Widths 12 and 6 make weights
    (12×6, 6×10), biases and activations (B×6, B×10) that are not whole vectors, as LeNet-300-100's
    10×100 output layer and B×10 logits are not."""
    spec = tiny_train(optimizer=optimizer, lr=lr, epochs=2, weight_decay=1e-4, precision=precision,
                      model_args=(("widths", (12, 6)),), bf16_step="direct" if compiled else "autograd")
    members = []
    for seed in range(5):
        model = build_model("lenet", (1, 8, 8), 10, "kaiming_uniform", seed, widths=(12, 6))
        start = model.state_dict()
        optima = [build_model("lenet", (1, 8, 8), 10, "kaiming_uniform", 50 + seed + i, widths=(12, 6)).state_dict()
                  for i in range(2)] if repel else []
        members.append(Member(start, M.prune_global(start, M.dense_mask(model), 0.3).mask, 20 + seed, optima))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        alone = train_population([members[2]], digits, spec, repel)[0][0]
        for order in ([2, 0], [1, 2], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]):
            got = train_population([members[i] for i in order], digits, spec, repel)[0][order.index(2)]
            assert [n for n in alone if not torch.equal(got[n], alone[n])] == [], order
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("needs_input_grad", [True, False])
def test_the_stacked_layer_gradients_equal_autograds(needs_input_grad):
    """_StackedLinear computes the weight gradient as gᵀx directly; it must equal autograd's, in
    float64 and on a strided weight view like StackedMLP's padded leaves."""
    from replication.engine.stacked_mlp import _StackedLinear

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 7, generator=g, dtype=torch.float64)
    leaf = torch.randn(3, 4 * 7 + 4, generator=g, dtype=torch.float64)  # padded, as in StackedMLP
    b = torch.randn(3, 4, generator=g, dtype=torch.float64)
    upstream = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    grads = []
    for layer in (lambda x, w, b: _StackedLinear.apply(x, w, b, torch.float64),
                  lambda x, w, b: torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))):
        xs, ls, bs = x.clone().requires_grad_(needs_input_grad), leaf.clone().requires_grad_(), b.clone()
        bs.requires_grad_()
        (layer(xs, ls[:, :28].view(3, 4, 7), bs) * upstream).sum().backward()
        grads.append([xs.grad, ls.grad, bs.grad])
    for ours, reference in zip(*grads):
        assert (ours is None) == (reference is None) == (not needs_input_grad and ours is grads[0][0])
        if ours is not None:
            torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
