"""Training: masks stay exact zeros, learning-rate schedules, bit-identical seeds, noise vs init seeds."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from replication import masks as M
from replication.data import batch_indices
from replication.engine.imp import round_noise_seed, run_experiment
from replication.spec import SpecError
from replication.store import RunStore
from replication.evaluation import evaluate
from replication.engine.training import lr_factor, steps_per_epoch, train

from conftest import tiny_model, tiny_spec, tiny_train

FAST = settings(max_examples=30, deadline=None)


def random_mask(model, density=0.5, seed=3):
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    return {n: (torch.rand(params[n].shape, generator=gen) < density).float() for n in M.prunable_names(model)}


# -- masks survive the optimizer ------------------------------------------------------

@pytest.mark.parametrize("train_kwargs", [
    dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-2),
    dict(optimizer="adam", lr=1e-2, weight_decay=1e-2),
    dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3, schedule="cosine", warmup_epochs=1),
], ids=["sgd-momentum-wd", "adam-wd", "sgd-cosine-warmup"])
def test_pruned_weights_stay_exact_zeros(digits, train_kwargs):
    model = tiny_model(seed=5)
    mask = random_mask(model)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    spec = tiny_train(epochs=2, **train_kwargs)
    seen_epochs = []

    def check_zeros(epoch):
        params = dict(model.named_parameters())
        seen_epochs.append(epoch)
        for n, m in mask.items():
            assert bool((params[n][m == 0] == 0.0).all()), f"{n} pruned weight moved in epoch {epoch}"

    outcome = train(model, mask, digits, spec, noise_seed=0, on_epoch=check_zeros)
    assert seen_epochs == [0, 1]
    assert not outcome.diverged
    assert outcome.steps == 2 * steps_per_epoch(digits.n_train, spec.batch_size)
    after = model.state_dict()
    for n, m in mask.items():
        pruned, kept = m == 0, m > 0
        assert bool((after[n][pruned] == 0.0).all())
        moved = (after[n][kept] != start[n][kept]).float().mean().item()
        assert moved > 0.95, f"{n}: only {moved:.0%} of the surviving weights moved"
    for n in after:  # biases are not masked and train too
        if n.endswith(".bias"):
            assert not torch.equal(after[n], start[n])
    _, acc = evaluate(model, digits.x_test, digits.y_test)
    assert acc > 0.3  # it learned something


def test_batch_larger_than_dataset_is_a_spec_error(digits):
    model = tiny_model()
    with pytest.raises(SpecError, match="batch size"):
        train(model, M.dense_mask(model), digits, tiny_train(batch_size=digits.n_train + 1), 0)


def test_non_finite_loss_stops_and_marks_diverged(digits):
    model = tiny_model()
    outcome = train(model, M.dense_mask(model), digits, tiny_train(), 0,
                    extra_loss=lambda m: torch.tensor(float("nan")))
    assert outcome.diverged and outcome.steps == 0


# -- learning-rate schedules ----------------------------------------------------------

@FAST
@given(epochs=st.integers(2, 12), per_epoch=st.integers(1, 20), data=st.data())
def test_warmup_is_linear_then_flat(epochs, per_epoch, data):
    warmup = data.draw(st.integers(1, epochs))
    spec = tiny_train(epochs=epochs, warmup_epochs=warmup)
    n_warm = warmup * per_epoch
    factors = [lr_factor(s, spec, per_epoch) for s in range(epochs * per_epoch)]
    for s in range(n_warm):
        assert factors[s] == pytest.approx((s + 1) / n_warm)
    assert factors[n_warm - 1] == pytest.approx(1.0)
    assert all(f == 1.0 for f in factors[n_warm:])
    steps = [b - a for a, b in zip(factors[:n_warm], factors[1:n_warm])]
    assert all(d == pytest.approx(1 / n_warm) for d in steps)


def test_no_warmup_constant_is_one():
    spec = tiny_train(epochs=3)
    assert {lr_factor(s, spec, 7) for s in range(21)} == {1.0}


@FAST
@given(epochs=st.integers(3, 40), per_epoch=st.integers(1, 10), gamma=st.sampled_from([0.1, 0.5, 0.2]),
       data=st.data())
def test_step_schedule_divides_at_milestones(epochs, per_epoch, gamma, data):
    milestones = tuple(sorted(data.draw(st.sets(st.integers(1, epochs - 1), min_size=1, max_size=3))))
    spec = tiny_train(epochs=epochs, schedule="step", milestones=milestones, gamma=gamma)
    for step in range(epochs * per_epoch):
        epoch = step // per_epoch
        passed = sum(epoch >= m for m in milestones)
        assert lr_factor(step, spec, per_epoch) == pytest.approx(gamma ** passed)
    for m in milestones:  # the change happens exactly at the first step of the milestone epoch
        before, at = lr_factor(m * per_epoch - 1, spec, per_epoch), lr_factor(m * per_epoch, spec, per_epoch)
        assert at == pytest.approx(before * gamma)


def test_step_schedule_resnet20_values():
    spec = tiny_train(epochs=85, schedule="step", milestones=(56, 71))
    assert lr_factor(0, spec, 100) == 1.0
    assert lr_factor(55 * 100 + 99, spec, 100) == 1.0
    assert lr_factor(56 * 100, spec, 100) == pytest.approx(0.1)
    assert lr_factor(71 * 100, spec, 100) == pytest.approx(0.01)
    assert lr_factor(85 * 100 - 1, spec, 100) == pytest.approx(0.01)


@FAST
@given(epochs=st.integers(1, 30), per_epoch=st.integers(1, 30))
def test_cosine_goes_from_one_to_zero(epochs, per_epoch):
    spec = tiny_train(epochs=epochs, schedule="cosine")
    total = epochs * per_epoch
    factors = [lr_factor(s, spec, per_epoch) for s in range(total)]
    assert factors[0] == 1.0
    assert all(a >= b for a, b in zip(factors, factors[1:]))
    assert all(0.0 <= f <= 1.0 for f in factors)
    assert factors[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * (total - 1) / total)))
    assert lr_factor(total, spec, per_epoch) == pytest.approx(0.0, abs=1e-12)
    if total % 2 == 0:
        assert factors[total // 2] == pytest.approx(0.5)


def test_cosine_ends_near_zero_for_a_real_length():
    spec = tiny_train(epochs=75, schedule="cosine")
    assert lr_factor(75 * 391 - 1, spec, 391) < 1e-6


def test_warmup_multiplies_the_schedule():
    spec = tiny_train(epochs=10, schedule="cosine", warmup_epochs=2)
    for s in range(20):
        cosine = 0.5 * (1 + math.cos(math.pi * s / 100))
        assert lr_factor(s, spec, 10) == pytest.approx(cosine * (s + 1) / 20)


# -- determinism and the two seeds ------------------------------------------------------

def _tensors_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seeds_give_bit_identical_runs(digits, tmp_path):
    spec = tiny_spec(rounds=2, init_seed=3, noise_seed=4)
    one = run_experiment(spec, RunStore(tmp_path / "a"), data=digits)
    two = run_experiment(spec, RunStore(tmp_path / "b"), data=digits)
    assert one.path != two.path and one.path.name == two.path.name == spec.hash()
    assert len(one.rounds) == len(two.rounds) == 3
    assert _tensors_equal(one.init, two.init)
    for r1, r2 in zip(one.rounds, two.rounds):
        assert _tensors_equal(r1.mask, r2.mask)
        assert _tensors_equal(r1.start, r2.start)
        assert _tensors_equal(r1.trained, r2.trained)
        drop = lambda m: {k: v for k, v in m.items() if k != "seconds"}  # noqa: E731
        assert drop(r1.metrics) == drop(r2.metrics)


def test_direct_training_is_deterministic(digits):
    out = []
    for _ in range(2):
        model = tiny_model(seed=2)
        train(model, random_mask(model), digits, tiny_train(optimizer="adam", lr=1e-2), noise_seed=9)
        out.append(model.state_dict())
    assert _tensors_equal(*out)


def test_noise_seed_changes_data_order_not_init(digits, tmp_path):
    a_spec = tiny_spec(rounds=0, init_seed=1, noise_seed=0)
    b_spec = a_spec.with_(noise_seed=1)
    assert a_spec.hash() != b_spec.hash()
    a = run_experiment(a_spec, RunStore(tmp_path), data=digits)
    b = run_experiment(b_spec, RunStore(tmp_path), data=digits)
    assert _tensors_equal(a.init, b.init)
    assert _tensors_equal(a.rounds[0].start, b.rounds[0].start)
    assert not _tensors_equal(a.rounds[0].trained, b.rounds[0].trained)
    # the data order differs because the per-round noise seeds differ
    seed_a, seed_b = round_noise_seed(a_spec, 0), round_noise_seed(b_spec, 0)
    assert seed_a != seed_b
    assert a.rounds[0].metrics["noise_seed"] == seed_a and b.rounds[0].metrics["noise_seed"] == seed_b
    order_a = torch.cat(list(batch_indices(digits.n_train, 64, torch.Generator().manual_seed(seed_a))))
    order_b = torch.cat(list(batch_indices(digits.n_train, 64, torch.Generator().manual_seed(seed_b))))
    assert not torch.equal(order_a, order_b)
    assert torch.equal(order_a.sort().values, torch.arange(digits.n_train))
    # and the init seed, not the noise seed, fixes the start
    c = run_experiment(a_spec.with_(init_seed=2), RunStore(tmp_path), data=digits)
    assert not _tensors_equal(a.init, c.init)


def test_batch_indices_cover_each_example_once_per_epoch():
    gen = torch.Generator().manual_seed(0)
    batches = list(batch_indices(103, 10, gen))
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(103))
    again = list(batch_indices(103, 10, torch.Generator().manual_seed(0)))
    assert all(torch.equal(x, y) for x, y in zip(batches, again))
