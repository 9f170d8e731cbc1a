"""Masks and global magnitude pruning: the integer rule, no revival, exact global order, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from replication import masks as M
from replication.models import build_model

from conftest import tiny_model

FAST = settings(max_examples=40, deadline=None)


# -- strategies --------------------------------------------------------------------

shapes = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=4)


@st.composite
def weights_and_mask(draw, tie_heavy: bool | None = None):
    """A few layers of float32 weights (often with many ties) and a random 0/1 mask over them."""
    layer_shapes = draw(shapes)
    seed = draw(st.integers(0, 2**31 - 1))
    ties = draw(st.booleans()) if tie_heavy is None else tie_heavy
    keep_p = draw(st.sampled_from([1.0, 0.9, 0.5, 0.2]))
    rng = np.random.default_rng(seed)
    weights, mask = {}, {}
    for i, shape in enumerate(layer_shapes):
        if ties:  # a handful of distinct magnitudes, both signs: lots of exact ties across layers
            w = rng.integers(-3, 4, size=shape).astype(np.float32) / 4
        else:
            w = rng.standard_normal(shape).astype(np.float32)
        weights[f"layer{i}.weight"] = torch.from_numpy(w)
        mask[f"layer{i}.weight"] = torch.from_numpy((rng.random(shape) < keep_p).astype(np.float32))
    return weights, mask


def brute_force_prune(weights, mask, count):
    """Reference: sort surviving (|w|, layer index, flat index) lexicographically, drop the first `count`."""
    names = list(mask)
    live = []
    for li, n in enumerate(names):
        mag = np.abs(weights[n].numpy().astype(np.float32)).ravel()
        alive = mask[n].numpy().ravel() > 0
        live += [(mag[j], li, j) for j in np.flatnonzero(alive)]
    live.sort()
    chosen = live[:count]
    new = {n: mask[n].numpy().ravel().copy() for n in names}
    for _, li, j in chosen:
        new[names[li]][j] = 0.0
    threshold = float(chosen[-1][0]) if chosen else 0.0
    return {n: new[n].reshape(mask[n].shape) for n in names}, threshold


# -- the integer rule ---------------------------------------------------------------

def test_prune_count_rounds_halves_up():
    assert M.prune_count(5, 0.5) == 3  # 2.5 -> 3
    assert M.prune_count(1, 0.5) == 1  # 0.5 -> 1
    assert M.prune_count(3, 0.5) == 2  # 1.5 -> 2
    assert M.prune_count(10, 0.25) == 3  # 2.5 -> 3
    assert M.prune_count(10, 0.2) == 2
    assert M.prune_count(12, 0.2) == 2  # 2.4 -> 2
    assert M.prune_count(13, 0.2) == 3  # 2.6 -> 3
    assert M.prune_count(0, 0.2) == 0
    assert M.prune_count(266_200, 0.2) == 53_240


def test_expected_alive_matches_paper_densities():
    total = 266_200  # LeNet-300-100's prunable weights: 784*300 + 300*100 + 100*10
    for r in (0, 1, 10, 25):
        assert M.expected_alive(total, 0.2, r) / total == pytest.approx(0.8 ** r, rel=1e-3, abs=2 / total)


@FAST
@given(total=st.integers(1, 400), fraction=st.floats(0.05, 0.95), rounds=st.integers(0, 8),
       seed=st.integers(0, 2**31 - 1))
def test_repeated_global_pruning_follows_integer_rule(total, fraction, rounds, seed):
    rng = np.random.default_rng(seed)
    cut = sorted(rng.integers(0, total + 1, size=2))
    sizes = [s for s in (cut[0], cut[1] - cut[0], total - cut[1]) if s > 0]
    mask = {f"l{i}": torch.ones(s) for i, s in enumerate(sizes)}
    n = total
    for r in range(1, rounds + 1):
        weights = {k: torch.from_numpy(rng.standard_normal(v.shape).astype(np.float32)) for k, v in mask.items()}
        mask = M.prune_global(weights, mask, fraction).mask
        n -= M.prune_count(n, fraction)
        assert M.alive(mask) == n == M.expected_alive(total, fraction, r)
    assert M.alive(mask) == M.expected_alive(total, fraction, rounds)
    assert M.size(mask) == total


# -- global magnitude order ----------------------------------------------------------

@FAST
@given(data=weights_and_mask(), fraction=st.floats(0.01, 0.99))
def test_pruning_never_revives(data, fraction):
    weights, mask = data
    new = M.prune_global(weights, mask, fraction).mask
    for n in mask:
        assert new[n].shape == mask[n].shape
        assert bool((new[n] <= mask[n]).all())
        assert set(torch.unique(new[n]).tolist()) <= {0.0, 1.0}


@settings(max_examples=50, deadline=None)
@given(data=weights_and_mask(), share=st.floats(0.0, 1.0))
def test_global_pruning_matches_brute_force(data, share):
    weights, mask = data
    count = int(round(share * M.alive(mask)))
    got = M.prune_smallest(weights, mask, count)
    want_mask, want_threshold = brute_force_prune(weights, mask, count)
    for n in mask:
        np.testing.assert_array_equal(got.mask[n].numpy(), want_mask[n])
    assert got.threshold == want_threshold
    assert M.alive(got.mask) == M.alive(mask) - count


@FAST
@given(data=weights_and_mask(tie_heavy=False), fraction=st.floats(0.05, 0.95))
def test_threshold_is_largest_pruned_and_survivors_are_at_least_as_large(data, fraction):
    weights, mask = data
    pruned = M.prune_global(weights, mask, fraction)
    removed = torch.cat([(weights[n].abs()[(mask[n] > 0) & (pruned.mask[n] == 0)]).flatten() for n in mask])
    kept = torch.cat([(weights[n].abs()[pruned.mask[n] > 0]).flatten() for n in mask])
    if removed.numel() == 0:
        assert pruned.threshold == 0.0
    else:
        assert pruned.threshold == float(removed.max())
        if kept.numel():
            assert float(kept.min()) >= pruned.threshold


def test_ties_broken_by_layer_order_then_flat_index():
    weights = {"a": torch.tensor([1.0, 0.5, 0.5]), "b": torch.tensor([0.5, -0.5, 2.0])}
    mask = {n: torch.ones(3) for n in weights}
    out = M.prune_smallest(weights, mask, 3)
    assert out.mask["a"].tolist() == [1.0, 0.0, 0.0]
    assert out.mask["b"].tolist() == [0.0, 1.0, 1.0]
    assert out.threshold == 0.5


def test_dead_weights_are_never_candidates():
    weights = {"a": torch.tensor([0.0, 0.1, 5.0, 6.0])}
    mask = {"a": torch.tensor([0.0, 0.0, 1.0, 1.0])}
    out = M.prune_smallest(weights, mask, 1)
    assert out.mask["a"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert out.threshold == 5.0
    # asking for more than is alive removes what is alive, nothing more
    assert M.alive(M.prune_smallest(weights, mask, 10).mask) == 0
    nothing = M.prune_smallest(weights, mask, 0)
    assert nothing.threshold == 0.0 and torch.equal(nothing.mask["a"], mask["a"])


# -- one-shot and random masks ---------------------------------------------------------

@FAST
@given(data=weights_and_mask(), target=st.floats(0.0, 1.0))
def test_prune_to_density_hits_rounded_target(data, target):
    weights, _ = data
    total = sum(w.numel() for w in weights.values())
    out = M.prune_to_density(weights, target)
    assert M.alive(out.mask) == math.floor(target * total + 0.5)
    dense = {n: torch.ones_like(w) for n, w in weights.items()}
    want, threshold = brute_force_prune(weights, dense, total - M.alive(out.mask))
    for n in weights:
        np.testing.assert_array_equal(out.mask[n].numpy(), want[n])
    assert out.threshold == threshold


def test_prune_to_density_from_a_mask_counts_the_whole_size():
    weights = {"a": torch.arange(1.0, 11.0)}
    mask = {"a": torch.tensor([0.0] * 2 + [1.0] * 8)}
    out = M.prune_to_density(weights, 0.3, mask)
    assert out.mask["a"].tolist() == [0.0] * 7 + [1.0] * 3
    assert out.threshold == 7.0


@FAST
@given(data=weights_and_mask(), seed=st.integers(0, 2**31 - 1))
def test_random_mask_keeps_per_layer_counts(data, seed):
    _, mask = data
    out = M.random_mask_like(mask, torch.Generator().manual_seed(seed))
    again = M.random_mask_like(mask, torch.Generator().manual_seed(seed))
    assert list(out) == list(mask)
    for n in mask:
        assert out[n].shape == mask[n].shape and out[n].dtype == mask[n].dtype
        assert int(out[n].sum()) == int(mask[n].sum())
        assert set(torch.unique(out[n]).tolist()) <= {0.0, 1.0}
        assert torch.equal(out[n], again[n])
    assert M.layer_densities(out) == M.layer_densities(mask)


# -- what is prunable -------------------------------------------------------------------

def test_prunable_names_resnet20_has_conv_and_output_weights_only():
    model = build_model("resnet20", (3, 32, 32), 10, "kaiming_normal", 0)
    names = M.prunable_names(model)
    params = dict(model.named_parameters())
    expected = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert names == expected
    assert len(names) == 20  # 19 convolutions (no projection shortcuts) + the output layer
    assert "conv.weight" in names and "output.weight" in names
    assert all(n in params and params[n].dim() in (2, 4) for n in names)
    assert not any(n.endswith(".bias") for n in names)
    bn_params = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)
                 for p in ("weight", "bias")}
    assert bn_params and not bn_params & set(names)
    # everything not prunable is a bias or a batch-norm parameter
    assert set(params) - set(names) <= bn_params | {n for n in params if n.endswith(".bias")}
    dense = M.dense_mask(model)
    assert list(dense) == names and M.density(dense) == 1.0


def test_prunable_names_lenet_includes_output_excludes_biases():
    model = tiny_model()
    assert M.prunable_names(model) == ["hidden.0.weight", "hidden.1.weight", "output.weight"]


def test_apply_mask_and_masked_zero_exactly_the_pruned_weights():
    model = tiny_model()
    gen = torch.Generator().manual_seed(1)
    mask = {n: (torch.rand(p.shape, generator=gen) < 0.5).float() for n, p in model.named_parameters()
            if n in M.prunable_names(model)}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    copy = M.masked(state, mask)
    M.apply_mask(model, mask)
    after = model.state_dict()
    for n, w in state.items():
        if n in mask:
            assert torch.equal(after[n], w * mask[n]) and torch.equal(copy[n], w * mask[n])
            assert bool((after[n][mask[n] == 0] == 0).all())
        else:
            assert torch.equal(after[n], w) and torch.equal(copy[n], w)
