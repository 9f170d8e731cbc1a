"""Convnets trained as one vmapped population (engine/stacked_convnet.py, TrainSpec.stacking="vmap").

What holds on the CPU, and is tested here: each member trains on exactly the batches and augmentation draws
it would see alone; its forward pass and batch-norm buffers equal its one-model twin's bit for bit; its
gradient equals the twin's, and its own gradient in other company, within GRADIENT_TOLERANCE (grouped
kernels sum in another order, and max-pool ties may route a gradient elsewhere, so not bit for bit). Over
many steps such differences grow as fast as SGD lets them (for the BN ResNet at lr 0.1 that is the very
instability the paper measures): a vmapped run is one computation only with its company, which is why
the spec's hash names the stacking and the CPU default stays the one-model loop."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from replication import masks as M
from replication.engine.stacked_convnet import StackedNet, train_conv_population
from replication.evaluation import evaluate
from replication.engine.losses import RepellentLoss, StackedRepellence
from replication.engine.imp import run_experiments
from replication.models import build_model
from replication.engine.stacked_mlp import Member
from replication.store import RunStore
from replication.engine.training import train

from conftest import tiny_spec, tiny_train

GRADIENT_TOLERANCE = 1e-5  # one step; measured at most 9e-7 (ResNet-20 width 4, Conv-4) when set
MODELS = [("resnet20", {"width": 4}), ("resnet20", {"width": 4, "projection": True}), ("conv4", {})]


def _members(name, kwargs, k=3, density=0.7):
    models, members = [], []
    for seed in range(k):
        model = build_model(name, (1, 8, 8), 10, "kaiming_normal", seed, **kwargs)
        start = {n: v.clone() for n, v in model.state_dict().items()}
        mask = M.prune_global({n: start[n] for n in M.prunable_names(model)}, M.dense_mask(model), 1 - density).mask
        models.append(model)
        members.append(Member(start, mask, 100 + seed))
    return models, members


def _spec(name, kwargs, **changes):
    settings = dict(model=name, init="kaiming_normal", augment=True, weight_decay=1e-4,
                    model_args=tuple(kwargs.items()), stacking="vmap")
    return tiny_train(**{**settings, **changes})


# Where the grouped convolutions of a stacked forward round as the one-model convolutions do: ATen's AVX-512
# kernels (a Xeon and an AVX-512 EPYC, bit for bit). With its AVX2 kernels (an EPYC without AVX-512, 2026-12-08)
# the stacked ResNet-20's logits differed from its twins' by up to 5e-6, Conv-4's by nothing.
EXACT_CPU_KERNELS = ("AVX512",)


def _same(a: torch.Tensor, b: torch.Tensor, device: torch.device) -> bool:
    """Bit for bit on a CPU whose kernels were checked to give them; within GRADIENT_TOLERANCE elsewhere (where
    cuDNN may pick another algorithm per shape, or the CPU's grouped convolutions round differently)."""
    if device.type == "cpu" and torch.backends.cpu.get_cpu_capability() in EXACT_CPU_KERNELS:
        return torch.equal(a, b)
    return bool((a - b).abs().max() <= GRADIENT_TOLERANCE)


@pytest.mark.parametrize("name, kwargs", MODELS, ids=["resnet20", "resnet20-projection", "conv4"])
def test_a_members_forward_buffers_and_gradient_are_its_one_model_twins(name, kwargs, device):
    models, members = _members(name, kwargs)
    models = [m.to(device) for m in models]
    net = StackedNet(models[0], members, device)
    x, y = torch.randn(3, 32, 1, 8, 8, device=device), torch.randint(0, 10, (3, 32), device=device)
    logits = net.forward(net.params, net.buffers, x)
    F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(3, -1).mean(1).sum().backward()
    for k, model in enumerate(models):
        model.train()
        assert _same(logits[k], model(x[k]), device)
        F.cross_entropy(model(x[k]), y[k]).backward()  # a second forward: the buffers moved twice, as below
        for n, p in model.named_parameters():
            torch.testing.assert_close(net.params[n].grad[k], p.grad, rtol=0, atol=GRADIENT_TOLERANCE)
    net.forward(net.params, net.buffers, x)
    for k, model in enumerate(models):
        for n, b in model.named_buffers():
            assert _same(net.buffers[n][k], b, device), n  # each member's own running statistics


@pytest.mark.parametrize("name, kwargs", MODELS[::2], ids=["resnet20", "conv4"])
def test_a_members_gradient_does_not_depend_on_its_company(name, kwargs, device):
    models, members = _members(name, kwargs, k=4)
    x, y = torch.randn(4, 32, 1, 8, 8, device=device), torch.randint(0, 10, (4, 32), device=device)
    grads = []
    for keep in (slice(0, 4), slice(2, 3)):
        net = StackedNet(models[0], members[keep], device)
        out = net.forward(net.params, net.buffers, x[keep])
        F.cross_entropy(out.flatten(0, 1), y[keep].flatten(), reduction="none").view(len(out), -1).mean(1).sum().backward()
        grads.append({n: p.grad for n, p in net.params.items()})
    for n in grads[1]:
        torch.testing.assert_close(grads[0][n][2], grads[1][n][0], rtol=0, atol=GRADIENT_TOLERANCE)


@pytest.mark.parametrize("strength", [2.0, -1.0])
def test_each_members_repellent_loss_and_its_gradient_are_its_one_model_twins(strength):
    """The stacked repellent (λ > 0) or attractive (λ < 0) loss, member by member, against RepellentLoss on the
    member's own network: the same value and gradient, each member against its own optima and mask."""
    models, members = _members("resnet20", {"width": 4}, k=2)
    for k, member in enumerate(members):
        torch.manual_seed(k)
        member.optima = [{n: member.start[n] + torch.randn_like(member.start[n]) * member.start[n].std()
                          for n in member.mask} for _ in range(3)]  # near the start: cos² well above 0
    net = StackedNet(models[0], members, torch.device("cpu"))
    net.apply_masks()
    theta = torch.cat([net.params[n].flatten(1) for n in net.prunable], dim=1)
    stacked = StackedRepellence(members, net.prunable, strength, torch.device("cpu"))(theta)
    stacked.sum().backward()
    for k, (model, member) in enumerate(zip(models, members)):
        model.load_state_dict(net.state_dict(k))
        alone = RepellentLoss(member.optima, member.mask, strength)(model)
        alone.backward()
        torch.testing.assert_close(stacked[k], alone, rtol=1e-5, atol=0)  # float32 sums over P in another order
        for n in net.prunable:  # the loss sees masked weights: a pruned weight's gradient is the mask's business
            grad = dict(model.named_parameters())[n].grad * member.mask[n]
            torch.testing.assert_close(net.params[n].grad[k] * member.mask[n], grad, rtol=0, atol=GRADIENT_TOLERANCE)


def test_a_member_sees_exactly_the_batches_it_would_see_alone(digits, monkeypatch):
    """Every augmented batch a member trains on, recorded, equals its one-model twin's, step for step: its noise
    comes from its own seed, drawn in the same order, whatever its company."""
    import replication.engine.stacked_convnet as population_module
    import replication.engine.training as training_module

    seen = []
    recording = lambda real: lambda x, g, *a, **k: seen.append(real(x, g, *a, **k)) or seen[-1]  # noqa: E731
    monkeypatch.setattr(population_module, "augment", recording(population_module.augment))
    monkeypatch.setattr(training_module, "augment", recording(training_module.augment))
    spec = _spec("conv4", {}, epochs=2)
    models, members = _members("conv4", {})
    train_conv_population(models[0], members, digits, spec)
    stacked, seen[:] = list(seen), []
    for k, member in enumerate(members):
        train(models[k], member.mask, digits, dataclasses.replace(spec, stacking="loop"), member.noise_seed)
        alone, seen[:] = list(seen), []
        mine = stacked[k::len(members)]
        assert len(mine) == len(alone) == 46 and all(torch.equal(a, b) for a, b in zip(mine, alone))


def test_pruned_weights_stay_zero_and_buffers_stay_per_member(digits):
    spec = _spec("resnet20", {"width": 4}, epochs=3, augment=False)  # 8×8 digits cropped ±4 barely train
    models, members = _members("resnet20", {"width": 4})
    stacked, outcomes = train_conv_population(models[0], members, digits, spec)
    for state, member in zip(stacked, members):
        for n, mask in member.mask.items():
            assert torch.all(state[n][mask == 0] == 0), n
        assert not any("bn" in n for n in member.mask)  # masks cover conv and linear weights only
        assert "output.weight" in member.mask
    assert not torch.equal(stacked[0]["bn.running_mean"], stacked[1]["bn.running_mean"])
    model = models[0]
    for state in stacked:
        model.load_state_dict(state)
        assert evaluate(model, digits.x_test, digits.y_test)[1] > 0.5  # learns: chance is 0.1
    assert all(not o.diverged for o in outcomes)


def test_a_diverging_member_is_flagged_and_leaves_the_others_alone(digits):
    spec = _spec("conv4", {}, lr=1e6)
    models, members = _members("conv4", {}, k=2)
    calm = dataclasses.replace(spec, lr=0.05)
    _, outcomes = train_conv_population(models[0], members, digits, spec)
    assert all(o.diverged for o in outcomes) and all(o.steps < 23 for o in outcomes)
    alone, _ = train_conv_population(models[0], members[1:], digits, calm)
    assert all(torch.isfinite(v.float()).all() for v in alone[0].values())


@pytest.mark.parametrize("stacking", ["vmap", "loop"])
def test_imp_trains_convnets_either_way_and_names_the_way_in_the_hash(digits, tmp_path, device, stacking):
    spec = tiny_spec(rounds=2, model="resnet20", init="kaiming_normal", model_args=(("width", 4),),
                     stacking=stacking)
    other = "loop" if stacking == "vmap" else "vmap"
    assert spec.hash() != spec.with_(train=dataclasses.replace(spec.train, stacking=other)).hash()
    runs = run_experiments([spec.with_(init_seed=s, noise_seed=s) for s in range(2)] + [spec.copy_of(1)],
                           RunStore(tmp_path), device=str(device), data=digits.to(device))
    assert all(run.complete and len(run.rounds) == n for run, n in zip(runs, (3, 3, 1)))
    assert runs[0].rounds[2].metrics["density"] < 0.7 and runs[0].rounds[2].metrics["test_acc"] > 0.2


def test_a_population_cap_splits_the_vmapped_members_and_each_part_trains_alone(digits, tmp_path):
    """--population 1: every member is its own vmapped population, so its bits are those of training it alone."""
    spec = tiny_spec(rounds=1, model="conv4", init="kaiming_normal", model_args=(), stacking="vmap")
    specs = [spec.with_(init_seed=s, noise_seed=s) for s in range(3)]
    capped = run_experiments(specs, RunStore(tmp_path / "capped"), data=digits, population=1)
    alone = run_experiments(specs[2:], RunStore(tmp_path / "alone"), data=digits)
    for a, b in zip(capped[2].rounds, alone[0].rounds):
        assert all(torch.equal(a.trained[n], b.trained[n]) for n in a.trained)
