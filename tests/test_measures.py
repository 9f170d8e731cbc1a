"""Every measure of the paper pinned against small hand-computed cases.

Expected numbers are literals or short closed forms worked out by hand (the working is in each
docstring or comment); none is produced by the function under test or a copy of its code.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st
from torch import nn

import replication.landscape as landscape
from replication.accuracy import (dense_accuracy, failed_to_train, mean_over_rounds, rounds_at_or_below,
                                 ticket_advantage, ticket_minus_dense)
from replication.data import TensorData
from replication.landscape import (BARRIER_POINTS, LII_POINTS, ErrorPath, error_barrier, error_path, instability,
                                   interpolate, recompute_batchnorm)
from replication.magnitudes import bimodality_coefficient, own_thresholds, surviving_weights, thresholds
from replication.similarity import (angular_distance, cosine_distance, distance_matrix, euclidean_distance,
                                    mean_successive_distance, successive_distances)
from replication.stability import subnetwork_instability
from replication.store import RoundRecord, Run

from conftest import tiny_spec


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def one(values) -> dict[str, torch.Tensor]:
    """A one-layer weight (or mask) dict."""
    return {"w": torch.tensor(values, dtype=torch.float32)}


def fake_run(rounds: list[tuple[dict, dict, dict]], init: dict | None = None, fraction: float = 0.2) -> Run:
    """A Run from (mask, trained, metrics) per round; start weights are the init (unused by the measures)."""
    init = init if init is not None else rounds[0][1]
    records = [RoundRecord(i, mask, init, trained, metrics) for i, (mask, trained, metrics) in enumerate(rounds)]
    return Run(tiny_spec(fraction=fraction), Path("/nonexistent"), init, records, complete=True)


# ======================================================================================
# Similarity: angular, cosine and Euclidean distances over the weights both masks keep
# ======================================================================================

FULL2 = one([1, 1])


def test_identical_vectors_are_at_distance_zero():
    """Same vector: angle 0, cos 1, difference 0."""
    w = one([3, -4, 12])
    m = one([1, 1, 1])
    assert angular_distance(w, m, w, m) == pytest.approx(0.0, abs=1e-7)
    assert cosine_distance(w, m, w, m) == pytest.approx(0.0, abs=1e-12)
    assert euclidean_distance(w, m, w, m) == 0.0


def test_orthogonal_vectors_are_at_angular_distance_one():
    """(1, 0) vs (0, 1): angle π/2, so 2·(π/2)/π = 1; cosine distance 1 − 0 = 1."""
    assert angular_distance(one([1, 0]), FULL2, one([0, 1]), FULL2) == pytest.approx(1.0)
    assert cosine_distance(one([1, 0]), FULL2, one([0, 1]), FULL2) == pytest.approx(1.0)


def test_opposite_vectors_are_at_angular_distance_two():
    """(1, 2) vs (−1, −2): angle π, so 2; cosine distance 1 − (−1) = 2."""
    assert angular_distance(one([1, 2]), FULL2, one([-1, -2]), FULL2) == pytest.approx(2.0)
    assert cosine_distance(one([1, 2]), FULL2, one([-1, -2]), FULL2) == pytest.approx(2.0)


def test_45_and_60_degrees():
    """(1, 0)·(1, 1): 45° -> 2·(π/4)/π = 0.5, cosine 1 − 1/√2. (1, 0)·(1, √3): 60° -> 2/3, cosine 1 − 1/2."""
    assert angular_distance(one([1, 0]), FULL2, one([1, 1]), FULL2) == pytest.approx(0.5)
    assert cosine_distance(one([1, 0]), FULL2, one([1, 1]), FULL2) == pytest.approx(1 - 1 / math.sqrt(2))
    assert angular_distance(one([1, 0]), FULL2, one([1, math.sqrt(3)]), FULL2) == pytest.approx(2 / 3)
    assert cosine_distance(one([1, 0]), FULL2, one([1, math.sqrt(3)]), FULL2) == pytest.approx(0.5)


def test_weights_outside_the_shared_mask_are_ignored():
    """(1, 2, 100) vs (1, 2, −50) differ only where one mask is 0: distance 0 whichever mask drops it.
    (1, 0, 5) vs (0, 1, 5) with the third weight dropped: orthogonal, 1 (with it kept: cos 25/26)."""
    w1, w2 = one([1, 2, 100]), one([1, 2, -50])
    keep, drop = one([1, 1, 1]), one([1, 1, 0])
    for m1, m2 in [(drop, keep), (keep, drop), (drop, drop)]:
        assert angular_distance(w1, m1, w2, m2) == pytest.approx(0.0, abs=1e-7)
        assert euclidean_distance(w1, m1, w2, m2) == 0.0
    a, b = one([1, 0, 5]), one([0, 1, 5])
    assert angular_distance(a, keep, b, drop) == pytest.approx(1.0)
    assert angular_distance(a, keep, b, keep) == pytest.approx(2 * math.acos(25 / 26) / math.pi)


def test_unmasked_entries_such_as_biases_are_ignored():
    """Only the masked (prunable) names count: differing biases leave the distance at 0."""
    m = {"w": t(1, 1)}
    w1 = {"w": t(1, 2), "bias": t(5.0)}
    w2 = {"w": t(1, 2), "bias": t(-7.0)}
    assert angular_distance(w1, m, w2, m) == pytest.approx(0.0, abs=1e-7)
    assert euclidean_distance(w1, m, w2, m) == 0.0


def test_layers_are_concatenated_into_one_vector():
    """a: (1, 0), b: [[1, 0]] vs a: (1, 0), b: [[0, 1]] -> (1,0,1,0)·(1,0,0,1) = 1, norms √2·√2:
    cos 1/2, 60°, distance 2/3 (a per-layer mean would give (0 + 1)/2 = 0.5)."""
    m = {"a": t(1, 1), "b": torch.ones(1, 2)}
    w1 = {"a": t(1, 0), "b": torch.tensor([[1.0, 0.0]])}
    w2 = {"a": t(1, 0), "b": torch.tensor([[0.0, 1.0]])}
    assert angular_distance(w1, m, w2, m) == pytest.approx(2 / 3)
    assert cosine_distance(w1, m, w2, m) == pytest.approx(0.5)
    assert euclidean_distance(w1, m, w2, m) == pytest.approx(math.sqrt(2))


def test_euclidean_distance_is_over_the_masked_vectors():
    """(0, 0, 7) vs (3, 4, −9) with the third weight masked: |(3, 4)| = 5 (a 3-4-5 triangle)."""
    m = one([1, 1, 0])
    assert euclidean_distance(one([0, 0, 7]), m, one([3, 4, -9]), m) == pytest.approx(5.0)
    assert euclidean_distance(one([0, 0, 7]), one([1, 1, 1]), one([3, 4, -9]), one([1, 1, 1])) == \
        pytest.approx(math.sqrt(9 + 16 + 256))


def _two_round_run() -> Run:
    """Masks m0 = 1111, m1 = 1110; trained0 = (1,0,0,0), trained1 = (0,1,0,9); init = (1,1,0,√2).

    (0,1) over 1110: (1,0,0)·(0,1,0) = 0 -> 1.
    (0,init) over m0·m0 = 1111: (1,0,0,0)·(1,1,0,√2) = 1, |init| = 2 -> cos 1/2 -> 2/3
        (with round 1's mask it would be (1,0,0)·(1,1,0): 45° -> 0.5).
    (1,init) over m1·m0 = 1110: (0,1,0)·(1,1,0) = 1, norms 1·√2 -> 45° -> 1/2.
    """
    m0, m1 = one([1, 1, 1, 1]), one([1, 1, 1, 0])
    return fake_run([(m0, one([1, 0, 0, 0]), {}), (m1, one([0, 1, 0, 9]), {})],
                    init=one([1, 1, 0, math.sqrt(2)]))


def test_distance_matrix_of_two_rounds_and_init():
    """Hand-computed entries (see _two_round_run); symmetric, zero diagonal, the init last."""
    d = distance_matrix(_two_round_run())
    expected = np.array([[0, 1, 2 / 3],
                         [1, 0, 1 / 2],
                         [2 / 3, 1 / 2, 0]])
    assert d.shape == (3, 3)
    np.testing.assert_allclose(d, expected, atol=1e-7)
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)


def test_distance_matrix_cosine_kind():
    """Same run, cosine distances 1 − cos: (0,1) 1 − 0, (0,init) 1 − 1/2, (1,init) 1 − 1/√2."""
    d = distance_matrix(_two_round_run(), "cosine")
    c = 1 - 1 / math.sqrt(2)
    np.testing.assert_allclose(d, [[0, 1, 0.5], [1, 0, c], [0.5, c, 0]], atol=1e-12)


def test_successive_distances_and_their_mean():
    """Rounds 0,1 as in _two_round_run (distance 1), plus round 2 with mask 1100 and trained (0,1,5,5):
    (1,2) over 1100: (0,1)·(0,1) -> 0. Successive [1, 0], mean 0.5; a one-round run has no mean (NaN)."""
    run = _two_round_run()
    assert successive_distances(run) == pytest.approx([1.0])
    run.rounds.append(RoundRecord(2, one([1, 1, 0, 0]), run.init, one([0, 1, 5, 5]), {}))
    np.testing.assert_allclose(successive_distances(run), [1.0, 0.0], atol=1e-7)
    single = fake_run([(one([1, 1]), one([1, 2]), {})])
    means = mean_successive_distance([run, single])
    assert means[0] == pytest.approx(0.5)
    assert math.isnan(means[1])


vectors = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n),
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n)))


@settings(max_examples=60)
@given(vectors, st.floats(0.01, 100))
def test_angular_distance_properties(case, scale):
    """Symmetric, in [0, 2], unchanged by positive scaling; w vs −w is 2 (all over the shared weights)."""
    a, b, keep = case
    m = one([float(k) for k in keep])
    w1, w2 = one(a), one(b)
    assume(float((w1["w"] * m["w"]).norm()) > 1e-2 and float((w2["w"] * m["w"]).norm()) > 1e-2)
    d = angular_distance(w1, m, w2, m)
    assert 0.0 <= d <= 2.0
    assert angular_distance(w2, m, w1, m) == pytest.approx(d, abs=1e-9)
    assert angular_distance({"w": w1["w"] * scale}, m, w2, m) == pytest.approx(d, abs=1e-5)
    assert angular_distance(w1, m, {"w": -w1["w"]}, m) == pytest.approx(2.0)


# ======================================================================================
# Magnitudes: pruning thresholds, surviving weights, bimodality
# ======================================================================================

def test_thresholds_read_the_recorded_metric():
    """Just the recorded metrics["threshold"] of each round, as floats."""
    m = one([1, 1])
    run = fake_run([(m, one([1, 2]), {"threshold": 0.0}), (m, one([1, 2]), {"threshold": 0.125}),
                    (m, one([1, 2]), {"threshold": 0.25})])
    out = thresholds(run)
    assert out.dtype == float
    np.testing.assert_array_equal(out, [0.0, 0.125, 0.25])


def test_own_thresholds_prune_20_percent_of_survivors_by_magnitude():
    """Round 0: 10 alive, round(0.2·10) = 2 pruned: magnitudes 0.0625, 0.125 -> threshold 0.125.
    Round 1: 8 alive (dead weights hold 0.03125 and 0.015625 and must not count), 0.2·8 = 1.6 rounds
    to 2: smallest alive 0.125, 0.25 -> 0.25 (floor would prune 1 -> 0.125). Biases are never pruned."""
    m0 = {"a": torch.ones(2, 3), "b": torch.ones(4)}
    trained0 = {"a": torch.tensor([[0.5, -0.125, 0.75], [0.375, -0.875, 0.25]]),
                "b": t(0.625, -1.0, 0.0625, 1.5), "b.bias": t(0.001)}
    m1 = {"a": torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]), "b": t(1, 1, 0, 1)}
    trained1 = {"a": torch.tensor([[-0.5, 0.03125, 0.25], [1.0, -0.375, 0.75]]),
                "b": t(0.125, -0.875, 0.015625, 0.625), "b.bias": t(0.001)}
    run = fake_run([(m0, trained0, {}), (m1, trained1, {})], fraction=0.2)
    np.testing.assert_array_equal(own_thresholds(run), [0.125, 0.25])


def test_own_thresholds_round_halves_up():
    """Fraction 0.5 of 5 alive = 2.5 -> 3 pruned (halves round up, not to even): 0.125, 0.25, 0.5 -> 0.5."""
    run = fake_run([(one([1, 1, 1, 1, 1]), one([0.25, -0.5, 0.75, -1.0, 0.125]), {})], fraction=0.5)
    np.testing.assert_array_equal(own_thresholds(run), [0.5])


def test_surviving_weights_in_layer_then_flat_order():
    """a = [[1,2],[3,4]] keeps the diagonal -> 1, 4; b = (5,6,7) keeps the first two -> 5, 6."""
    record = RoundRecord(0, {"a": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "b": t(1, 1, 0)}, {},
                         {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": t(5, 6, 7), "b.bias": t(9)}, {})
    out = surviving_weights(record)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, 4.0, 5.0, 6.0])


def _bc_from_g(n: int, g1: float, g2: float) -> float:
    """Sarle's coefficient from the *biased* moment ratios g1 = m3/m2^1.5 and g2 = m4/m2² − 3 (hand
    computed), bias-corrected by the textbook formulas."""
    G1 = math.sqrt(n * (n - 1)) / (n - 2) * g1
    G2 = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6)
    return (G1 ** 2 + 1) / (G2 + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def test_bimodality_of_a_skewed_four_point_sample():
    """[0,0,0,1]: mean 1/4, m2 = 3/16, m3 = 3/32, m4 = 21/256 -> g1 = 2/√3, g2 = 7/3 − 3 = −2/3;
    G1 = √12/2 · 2/√3 = 2, G2 = 3/2 · (5·(−2/3) + 6) = 4; BC = (4 + 1)/(4 + 27/2) = 2/7.
    (Uncorrected skew/kurtosis would give (4/3 + 1)/(−2/3 + 27/2) ≈ 0.182.)"""
    assert _bc_from_g(4, 2 / math.sqrt(3), -2 / 3) == pytest.approx(2 / 7)
    assert bimodality_coefficient(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(2 / 7)


def test_bimodality_of_a_symmetric_five_point_sample():
    """[−2,−1,0,1,2]: skew 0, m2 = 2, m4 = 34/5 -> g2 = 1.7 − 3 = −1.3; G2 = 4/6 · (6·(−1.3) + 6) = −1.2;
    BC = 1/(−1.2 + 3·16/6) = 1/6.8 = 5/34."""
    assert _bc_from_g(5, 0.0, -1.3) == pytest.approx(5 / 34)
    assert bimodality_coefficient(np.array([-2.0, -1.0, 0.0, 1.0, 2.0])) == pytest.approx(5 / 34)


def test_two_point_symmetric_sample_is_bimodal():
    """50 × −1 and 50 × +1: skew 0, g2 = −2; G2 = 99/(98·97) · (101·(−2) + 6) = −99·196/9506,
    correction 3·99²/9506, so BC = 9506/(29403 − 19404) = 9506/9999 ≈ 0.951 > 0.555."""
    values = np.array([-1.0] * 50 + [1.0] * 50)
    bc = bimodality_coefficient(values)
    assert bc == pytest.approx(9506 / 9999)
    assert bc > 0.555


def test_bimodality_of_large_normal_and_uniform_samples():
    """Large samples approach the population values: normal 1/(0 + 3) = 1/3, uniform 1/(−1.2 + 3) = 5/9."""
    rng = np.random.default_rng(0)
    normal = bimodality_coefficient(rng.standard_normal(20000))
    uniform = bimodality_coefficient(rng.uniform(-1, 1, 20000))
    assert abs(normal - 1 / 3) < 0.01
    assert abs(uniform - 5 / 9) < 0.01


# ======================================================================================
# Landscape: interpolation, batch-norm recomputation, error paths, LII and error barrier
# ======================================================================================

def test_interpolate_floats_and_keeps_integer_buffers_of_w1():
    """α = 0.25 between (0, 4) and (2, 8): 0.75·(0,4) + 0.25·(2,8) = (0.5, 5); an integer count comes from w1."""
    w1 = {"w": t(0, 4), "n": torch.tensor(5)}
    w2 = {"w": t(2, 8), "n": torch.tensor(7)}
    out = interpolate(w1, w2, 0.25)
    assert torch.equal(out["w"], t(0.5, 5.0))
    assert out["n"].dtype == torch.int64 and int(out["n"]) == 5
    assert torch.equal(interpolate(w1, w2, 0.0)["w"], w1["w"])
    assert torch.equal(interpolate(w1, w2, 1.0)["w"], w2["w"])
    assert int(interpolate(w1, w2, 1.0)["n"]) == 5


def _product_model() -> nn.Module:
    """x -> u·x -> (v·u·x, −v·u·x): the logit difference is 2·u·v·x, class 0 iff u·v·x > 0."""
    return nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 2, bias=False))


# w1: u = 1, v = 3; w2: u = −3, v = −1. Along the path u = 1 − 4α, v = 3 − 4α: both endpoints give 6x,
# but for 1/4 < α < 3/4 the product u·v is negative and every x ≠ 0 is classified the wrong way round.
W1 = {"0.weight": torch.tensor([[1.0]]), "1.weight": torch.tensor([[3.0], [-3.0]])}
W2 = {"0.weight": torch.tensor([[-3.0]]), "1.weight": torch.tensor([[-1.0], [1.0]])}


def _column(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)


# Train: all right at the ends (0 %), all wrong in the middle (100 %).
# Test: x = 3 is labelled 1, so wrong at the ends (25 %) and right in the middle (75 % wrong).
TOY = TensorData("toy", _column(-2, -1, 1, 2), torch.tensor([1, 1, 0, 0]),
                 _column(-1, 1, 2, 3), torch.tensor([1, 0, 0, 1]), 2)


def test_error_path_alphas_errors_and_barrier():
    """6 points: α = 0, .2, .4, .6, .8, 1; only .4 and .6 lie in (1/4, 3/4). Test errors 25,25,75,75,25,25 %;
    barrier 75 − (25 + 25)/2 = 50."""
    path = error_path(_product_model(), W1, W2, TOY, "test", points=6)
    np.testing.assert_allclose(path.alphas, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(path.errors, [25, 25, 75, 75, 25, 25])
    assert path.barrier == pytest.approx(50.0)


def test_error_path_on_the_train_split_with_30_and_20_points():
    """30 points α = k/29: k/29 in (1/4, 3/4) for k = 8..21 (14 points). 20 points α = k/19: k = 5..14 (10)."""
    path30 = error_path(_product_model(), W1, W2, TOY, "train", points=30)
    np.testing.assert_allclose(path30.alphas, np.arange(30) / 29)
    np.testing.assert_array_equal(path30.errors, [0.0] * 8 + [100.0] * 14 + [0.0] * 8)
    path20 = error_path(_product_model(), W1, W2, TOY, "train", points=20)
    np.testing.assert_array_equal(path20.errors, [0.0] * 5 + [100.0] * 10 + [0.0] * 5)
    assert path30.barrier == 100.0


def test_error_path_barrier_is_max_minus_mean_of_endpoints():
    """(10, 40, 20): 40 − 15 = 25; (30, 10, 10): the max may be an endpoint, 30 − 20 = 10."""
    assert ErrorPath(np.array([0, 0.5, 1]), np.array([10.0, 40.0, 20.0])).barrier == 25.0
    assert ErrorPath(np.array([0, 0.5, 1]), np.array([30.0, 10.0, 10.0])).barrier == 10.0


def _record_inputs(model: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model.register_forward_hook(lambda module, args, output: seen.append(args[0].clone()))
    return seen


@pytest.mark.parametrize("measure, points, split, expected", [
    (instability, LII_POINTS, "x_test", 50.0),  # 75 − 25 (the train split would give 100)
    (error_barrier, BARRIER_POINTS, "x_train", 100.0),  # 100 − 0 (the test split would give 50)
], ids=["LII on test error", "successive barrier on training error"])
def test_each_measure_reads_its_split_at_its_point_count(measure, points, split, expected):
    """LII: test error at 30 points; the barrier between rounds: training error at 20 (the paper's counts)."""
    assert (LII_POINTS, BARRIER_POINTS) == (30, 20)
    model = _product_model()
    seen = _record_inputs(model)
    assert measure(model, W1, W2, TOY) == pytest.approx(expected)
    assert len(seen) == points
    assert all(torch.equal(x, getattr(TOY, split)) for x in seen)


def test_unknown_batchnorm_handling_is_rejected():
    with pytest.raises(ValueError, match="batch-norm"):
        error_path(_product_model(), W1, W2, TOY, "test", points=3, bn="freeze")


def test_recompute_batchnorm_gives_exact_statistics_of_the_inputs_reaching_it():
    """Linear 2x + 1 on x = (1, 2, 3, 6) gives (3, 5, 7, 13): mean 7, unbiased variance (16+4+0+36)/3 = 56/3.
    A previous recompute on other data (and stale buffers) must leave no trace; the model ends in eval mode."""
    linear, bn = nn.Linear(1, 1), nn.BatchNorm1d(1)
    model = nn.Sequential(linear, bn)
    with torch.no_grad():
        linear.weight.fill_(2.0)
        linear.bias.fill_(1.0)
        bn.running_mean.fill_(10.0)
        bn.running_var.fill_(0.5)
    recompute_batchnorm(model, _column(100, 300))
    recompute_batchnorm(model, _column(1, 2, 3, 6))
    assert float(bn.running_mean) == pytest.approx(7.0)
    assert float(bn.running_var) == pytest.approx(56 / 3)
    assert not model.training


def test_recompute_batchnorm_averages_the_statistics_of_its_chunks(monkeypatch):
    """With chunks of 2, x = (1, 2, 3, 6): chunk means 1.5 and 4.5, unbiased chunk variances 0.5 and 4.5,
    so running mean 3 and running variance (0.5 + 4.5)/2 = 2.5 (the exact variance over x would be 14/3)."""
    monkeypatch.setattr(landscape, "EVAL_BATCH", 2)
    bn = nn.BatchNorm1d(1)
    recompute_batchnorm(nn.Sequential(bn), _column(1, 2, 3, 6))
    assert float(bn.running_mean) == pytest.approx(3.0)
    assert float(bn.running_var) == pytest.approx(2.5)


def test_recompute_batchnorm_folds_a_one_example_tail_into_the_chunk_before(monkeypatch):
    """x = (1, 2, 3, 6, 8) in chunks of 2 would leave (8) alone, which train-mode batch norm rejects; it joins
    (3, 6): chunks (1, 2) and (3, 6, 8), means 1.5 and 17/3, unbiased variances 0.5 and
    (64/9 + 1/9 + 49/9)/2 = 19/3, averaged."""
    monkeypatch.setattr(landscape, "EVAL_BATCH", 2)
    bn = nn.BatchNorm1d(1)
    recompute_batchnorm(nn.Sequential(bn), _column(1, 2, 3, 6, 8))
    assert float(bn.running_mean) == pytest.approx((1.5 + 17 / 3) / 2)
    assert float(bn.running_var) == pytest.approx((0.5 + 19 / 3) / 2)


def _bn_model() -> nn.Module:
    """h = u·x, z = (h − mean)/sd + 1 (BN with γ = 1, β = 1), logits (z, −z): class 0 iff h > mean − sd."""
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1), nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        model[1].bias.fill_(1.0)
        model[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    return model


def _bn_weights(model: nn.Module, u: float, running_var: float) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["0.weight"] = torch.tensor([[u]])
    state["1.running_mean"] = torch.tensor([0.0])
    state["1.running_var"] = torch.tensor([running_var])
    return state


def test_recomputed_batchnorm_changes_the_error_at_the_midpoint():
    """x_train = (−1, 1). Endpoints u = 1 (h var 2) and u = 3 (h var 18), buffers consistent with x_train:
    both classify class 0 iff x > −√2. Midpoint u = 2: recomputed var 8 -> 2x/√8 + 1 > 0 iff x > −√2 again;
    interpolated var (2 + 18)/2 = 10 -> 2x/√10 + 1 > 0 iff x > −√10/2 ≈ −1.58. Test x = (−1.5, 0, 1, 10, 11),
    labels (1, 0, 0, 0, 0): recompute errs nowhere (0 %); interpolate gets −1.5 wrong at the midpoint (20 %).
    The statistics come from x_train: the test inputs (mean 4.1, sd √35.05 ≈ 5.9) would put −1.5 in class 0."""
    model = _bn_model()
    w1, w2 = _bn_weights(model, 1.0, 2.0), _bn_weights(model, 3.0, 18.0)
    data = TensorData("bn", _column(-1, 1), torch.tensor([1, 0]),
                      _column(-1.5, 0, 1, 10, 11), torch.tensor([1, 0, 0, 0, 0]), 2)
    recomputed = error_path(model, w1, w2, data, "test", points=3, bn="recompute")
    interpolated = error_path(_bn_model(), w1, w2, data, "test", points=3, bn="interpolate")
    np.testing.assert_allclose(recomputed.errors, [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(interpolated.errors, [0.0, 20.0, 0.0])
    assert interpolated.barrier == pytest.approx(20.0)


def test_error_path_on_the_first_examples_is_the_path_on_data_cut_to_them():
    """`examples` (registry.LANDSCAPE_EXAMPLES) reads the first N test or training examples and recomputes batch
    norm on the first N training examples: the same path as on a dataset holding only those. On the hand case
    above with a far training outlier and a wrongly labelled test point appended, N = 2 training and 5 test
    examples would differ; N = 5 keeps the outlier out of batch norm (x_train has 2 + the outlier at index 2, so
    the cut must leave it in: the recomputed statistics change and so can the errors)."""
    model = _bn_model()
    w1, w2 = _bn_weights(model, 1.0, 2.0), _bn_weights(model, 3.0, 18.0)
    full = TensorData("bn", _column(-1, 1, 40, 41, 42, 43), torch.tensor([1, 0, 0, 0, 0, 0]),
                      _column(-1.5, 0, 1, 10, 11, -30), torch.tensor([1, 0, 0, 0, 0, 0]), 2)
    for n in (2, 5):
        cut = TensorData("bn", full.x_train[:n], full.y_train[:n], full.x_test[:n], full.y_test[:n], 2)
        for split in ("test", "train"):
            np.testing.assert_array_equal(error_path(model, w1, w2, full, split, points=3, examples=n).errors,
                                          error_path(model, w1, w2, cut, split, points=3).errors)
    # the hand case: on the first 2 training examples (−1, 1) batch norm is as in the test above, so the first two
    # test points are right at every α; with all six, the outliers move the statistics and −1.5 flips
    np.testing.assert_allclose(error_path(model, w1, w2, full, "test", points=3, examples=2).errors, [0.0] * 3)
    assert error_path(model, w1, w2, full, "test", points=3).errors.max() > 0


# ======================================================================================
# Accuracy by density
# ======================================================================================

def _acc_run(accs: list, densities=(1.0, 0.8, 0.8 * 0.8, 0.8 * 0.8 * 0.8)) -> Run:
    m = one([1])
    return fake_run([(m, one([1]), {"density": d, "test_acc": a, "train_acc": 1.0 if a is None else a / 2})
                     for d, a in zip(densities, accs)])


def test_rounds_at_or_below_a_density():
    """Densities 1, .8, .8² (= 0.6400000000000001 in floating point), .8³ = .512: at or below 0.64 -> rounds 2, 3;
    below 0.5 -> none; at or below 1 -> all."""
    run = _acc_run([0.5, 0.6, 0.7, 0.9])
    assert rounds_at_or_below(run, 0.64) == [2, 3]
    assert rounds_at_or_below(run, 0.8) == [1, 2, 3]
    assert rounds_at_or_below(run, 0.5) == []
    assert rounds_at_or_below(run, 1.0) == [0, 1, 2, 3]


@pytest.mark.filterwarnings("error")
def test_mean_over_rounds_in_percent_with_nan_for_diverged_or_missing():
    """Rounds 1 and 3 of (.5, .6, .7, .9): 100·(.6 + .9)/2 = 75. A diverged round (None) or a missing one
    (a run with only 2 rounds) gives NaN, as do no rounds at all. train_acc = half, scale 1 -> .375."""
    good = _acc_run([0.5, 0.6, 0.7, 0.9])
    diverged = _acc_run([0.5, 0.6, 0.7, None])
    short = _acc_run([0.5, 0.6])
    out = mean_over_rounds([good, diverged, short], [1, 3])
    assert out[0] == pytest.approx(75.0)
    assert math.isnan(out[1]) and math.isnan(out[2])
    assert mean_over_rounds([good, short], [0, 1]) == pytest.approx([55.0, 55.0])
    assert math.isnan(mean_over_rounds([good], [])[0])
    assert mean_over_rounds([good], [1, 3], metric="train_acc", scale=1.0)[0] == pytest.approx(0.375)


def test_a_control_trained_at_some_rounds_is_read_by_round_index():
    """A reinitialization that trained only rounds 2 and 3 (stored as its first two records, indexed 2 and 3):
    its mean over rounds 2, 3 is 100·(.7 + .9)/2 = 80, not the mean of records 0 and 1 (or of its own
    rounds' positions); the ticket's advantage over it at ≤ 64% remaining (rounds 2, 3 of the ticket: .8 and .9)
    is 85 − 80 = 5; a round it did not train is missing (NaN)."""
    full = _acc_run([0.5, 0.6, 0.7, 0.9])
    sparse = dataclasses.replace(full, rounds=full.rounds[2:])
    assert [r.index for r in sparse.rounds] == [2, 3] and sparse.at(3) is full.rounds[3] and sparse.at(0) is None
    assert mean_over_rounds([sparse], [2, 3]) == pytest.approx([80.0])
    assert math.isnan(mean_over_rounds([sparse], [1, 3])[0])
    ticket = _acc_run([0.9, 0.9, 0.8, 0.9])
    assert ticket_advantage([ticket], [sparse], 0.64) == pytest.approx([5.0])


@pytest.mark.filterwarnings("error")
def test_the_accuracy_evidence_shows_a_partly_trained_control_only_where_it_trained(tmp_path):
    """IMP at 100, 80, 64, 51.2% and a reinitialization trained at the last two rounds only (listed first, so
    the densities must come from the run that has every round): the table reads n/a where it did not train."""
    from replication.evidence import accuracy
    from replication.figures import FigureFolder
    from replication.registry import CLAIMS, Setup

    imp = _acc_run([0.5, 0.6, 0.7, 0.9])
    reinit = dataclasses.replace(_acc_run([0.1, 0.2, 0.3, 0.4]), rounds=_acc_run([0.1, 0.2, 0.3, 0.4]).rounds[2:])
    evidence = accuracy(FigureFolder(tmp_path, "synthetic"), CLAIMS["random-reinit-fails"],
                        Setup("lenet-digits", seeds=1, rounds=3), {"reinit": [reinit], "IMP": [imp]})
    rows = evidence.tables[0].markdown.splitlines()[2:]  # below the header and its rule
    assert [row.split(" | ")[0] for row in rows] == ["| 100.00", "| 80.00", "| 64.00", "| 51.20"]
    assert [row.count("n/a") for row in rows] == [1, 1, 0, 0]
    assert "30.00 ± 0.00" in rows[2] and "90.00 ± 0.00" in rows[3]


# ======================================================================================
# Winning tickets: the ticket against its own dense network; controls that failed to train
# ======================================================================================

def _accuracy_run(accuracies: list[float | None]) -> Run:
    """Rounds at 100, 80, 64, 51.2 … % remaining with these test accuracies (None: diverged)."""
    w = one([1.0])
    return fake_run([(w, w, {"density": 0.8 ** i, "test_acc": a, "diverged": a is None})
                     for i, a in enumerate(accuracies)])


def test_ticket_minus_dense_averages_the_low_rounds_against_round_0():
    # rounds at or below 60%: 64% is above, so rounds 3 (51.2%) and 4 (40.96%): (0.93 + 0.89) / 2 = 0.91;
    # dense 0.90: +1 point. Second seed: (0.80 + 0.78) / 2 = 0.79 against 0.85: −6 points.
    runs = [_accuracy_run([0.90, 0.91, 0.92, 0.93, 0.89]), _accuracy_run([0.85, 0.84, 0.83, 0.80, 0.78])]
    assert ticket_minus_dense(runs, 0.6) == pytest.approx([1.0, -6.0])
    assert dense_accuracy(runs) == pytest.approx([90.0, 85.0])


def test_failed_to_train_is_below_chance_plus_half_the_dense_gain():
    # 10 classes: chance 10%. Ticket dense 90%: the bar is 10 + 0.5 × 80 = 50%. Reinits at rounds 3–4 average
    # (0.52 + 0.50) / 2 = 51% (trained), (0.45 + 0.50) / 2 = 47.5% (failed), and one diverged (failed).
    ticket = _accuracy_run([0.90, 0.9, 0.9, 0.9, 0.9])
    reinits = [_accuracy_run([0.9, 0.8, 0.7, 0.52, 0.50]), _accuracy_run([0.9, 0.8, 0.7, 0.45, 0.50]),
               _accuracy_run([0.9, 0.8, 0.7, 0.6, None])]
    failed = failed_to_train(reinits, [ticket] * 3, 0.6, classes=10, floor=0.5)
    assert failed.tolist() == [False, True, True]


def test_subnetwork_instability_is_the_mean_over_the_named_rounds_only():
    by_round = {0: np.array([40.0, 50.0]), 5: np.array([2.0, 4.0]), 10: np.array([6.0, 8.0])}
    assert subnetwork_instability(by_round, (5, 10)) == pytest.approx([4.0, 6.0])  # the dense 40–50 left out
    assert np.isnan(subnetwork_instability({5: np.array([1.0, math.nan])}, (5,))[1])
