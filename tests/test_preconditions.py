"""What a claim presupposes (replication/preconditions.py) on hand-computed cases, and how a failed one decides:
NOT TESTABLE for the claim or the one part it gates, never REFUTED, and recorded with its numbers either way."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from replication import preconditions, stats
from replication.registry import Claim, Part
from replication.store import RoundRecord, Run
from replication.verdicts import NOT_TESTABLE, REFUTED, SUPPORTED

from conftest import tiny_spec


def accuracy_run(accuracies: list[float], densities: list[float]) -> Run:
    """A run whose rounds carry only their test accuracy (a fraction) and density."""
    rounds = [RoundRecord(i, {}, {}, {}, {"test_acc": a, "density": d, "diverged": False})
              for i, (a, d) in enumerate(zip(accuracies, densities))]
    return Run(tiny_spec(), Path("/nonexistent"), {}, rounds, complete=True)


def test_subnetworks_unstable_needs_a_mean_at_the_cut():
    # mean of 9 and 11 is 10: at the cut, so it holds; 9 and 10.9 (mean 9.95) does not; a diverged seed never does
    assert preconditions.subnetworks_unstable(np.array([9.0, 11.0]), 16, (5, 10)).holds
    below = preconditions.subnetworks_unstable(np.array([9.0, 10.9]), 16, (5, 10))
    assert not below.holds and "9.9 (per seed 9.0–10.9)" in below.numbers and "rounds 5, 10" in below.needs
    assert not preconditions.subnetworks_unstable(np.array([30.0, math.nan]), 16, (5,)).holds


def test_dense_not_stable_is_the_two_point_cut():
    assert preconditions.dense_not_stable(np.array([2.0, 2.0]), 256).holds
    assert not preconditions.dense_not_stable(np.array([0.5, 3.0]), 256).holds  # mean 1.75


def test_controls_train_counts_the_seeds_below_the_bar():
    # 10 classes: chance 10%. The tickets' dense networks are at 90%, so the bar is 10 + 0.5 × 80 = 50%.
    # At the low densities (≤ 10%: rounds 1 and 2) one control averages 60% and the other 45%: 1 of 2 failed.
    densities = [1.0, 0.1, 0.05]
    tickets = [accuracy_run([0.9, 0.9, 0.9], densities)] * 2
    controls = [accuracy_run([0.9, 0.6, 0.6], densities), accuracy_run([0.9, 0.5, 0.4], densities)]
    found = preconditions.controls_train({"reinit": (controls, tickets)}, 0.1, classes=10)
    assert not found.holds and found.numbers == "reinit: 1 of 2 failed"
    assert preconditions.controls_train({"reinit": (controls[:1], tickets[:1])}, 0.1, classes=10).holds


def test_tickets_lost_and_won_are_each_others_complement_at_the_margin():
    for advantage, lost in (([0.5, 1.4], True), ([1.0, 1.0], False), ([3.0, 2.0], False)):
        a = np.array(advantage)
        assert preconditions.tickets_lost(a, 8, 1.0).holds is lost
        assert preconditions.tickets_win(a, 8, 1.0).holds is (not lost)


def test_threshold_collapses_needs_a_peak_before_the_last_round_in_most_seeds():
    peaks = np.array([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0], [1.0, 4.0, 1.0]])  # peak rounds 1, 2, 1: two of three
    found = preconditions.threshold_collapses(peaks, 512)
    assert found.holds and "2 of 3" in found.numbers and "[1, 2, 1]" in found.numbers
    assert not preconditions.threshold_collapses(peaks[1:2], 512).holds  # still rising at the last round


def test_densities_reached_counts_the_pairs_that_end_at_or_below():
    densities = 0.8 ** np.arange(21)  # round 20 is at 1.15%, round 19 at 1.44%
    assert preconditions.densities_reached(densities, 0.014, pairs=1).holds
    assert not preconditions.densities_reached(densities, 0.014, pairs=2).holds
    assert not preconditions.densities_reached(densities[:12], 0.014, pairs=1).holds


def _claim(parts: int):
    return Claim(
        0, "c", "", "", "", tuple(Part("superiority", 1.0, "points") for _ in range(parts)), lambda s: ())


CLEAR = stats.Reading(np.array([5.0, 5.2, 4.9, 5.1, 5.0]))  # far above the margin of 1: SUPPORTED alone
NONE = stats.Reading(np.array([0.0, 0.1, -0.1, 0.05, -0.05]))  # no effect: REFUTED alone


def test_a_failed_precondition_of_the_claim_makes_it_not_testable_whatever_its_test_says():
    failed = stats.Precondition("the small batch is unstable", False, "its LII is 0.2 points")
    for reading in (CLEAR, NONE):
        decision = stats.decide(_claim(1), [reading], preconditions=[failed])
        assert decision.verdict == NOT_TESTABLE
        assert "its LII is 0.2 points" in decision.reason and "the test alone" in decision.reason
        assert decision.preconditions == [failed]
    held = stats.Precondition("the small batch is unstable", True, "its LII is 40 points")
    assert stats.decide(_claim(1), [NONE], preconditions=[held]).verdict == REFUTED
    assert stats.decide(_claim(1), [CLEAR], preconditions=[held]).preconditions == [held]


def test_a_failed_precondition_of_a_part_gates_that_part_alone():
    gate = stats.Precondition("rounds reach 1.4%", False, "none do", part=2)
    assert stats.decide(_claim(2), [CLEAR, NONE], preconditions=[gate]).verdict == NOT_TESTABLE
    # a part whose preconditions hold and whose statement fails still refutes the claim
    assert stats.decide(_claim(2), [NONE, CLEAR], preconditions=[gate]).verdict == REFUTED
    decision = stats.decide(_claim(2), [CLEAR, CLEAR], preconditions=[gate])
    assert decision.verdict == NOT_TESTABLE and [p.verdict for p in decision.parts] == [SUPPORTED, NOT_TESTABLE]


@pytest.mark.parametrize("n,verdict", [(4, "INCONCLUSIVE"), (5, SUPPORTED)])
def test_a_perfect_trend_needs_five_seeds_for_an_exact_sign_flip_p_under_alpha(n, verdict):
    # every seed's ρ is 1: the exact sign-flip p is 2^−n (1/16 = 0.0625 with 4 seeds, 1/32 with 5)
    d = stats.trend([16, 64, 256], np.tile([1.0, 2.0, 3.0], (n, 1)), margin=0.5)
    assert d.verdict == verdict and d.p_value == pytest.approx(2.0 ** -n) and d.ci_low is None
    if n == 4:
        assert d.seeds_for_80_power == 5 and "at least 5" in d.reason


def test_a_trend_below_its_margin_is_refuted_by_the_sign_flip_of_margin_minus_rho():
    # ρ = −1 for 8 seeds: margin − ρ = 1.5 in every seed, sign-flip p 1/256 < 0.025
    d = stats.trend([1, 2, 3], np.tile([3.0, 2.0, 1.0], (8, 1)), margin=0.5)
    assert d.verdict == REFUTED
    # and a three-level ρ that takes only ±0.5 and ±1 is not given p = 0 when every seed agrees
    same = stats.trend([1, 2, 3], np.tile([1.0, 3.0, 2.0], (6, 1)), margin=0.5)  # ρ = 0.5 in every seed
    assert same.p_value == pytest.approx(2.0 ** -6) and same.verdict == SUPPORTED


def test_identical_seeds_get_their_exact_sign_flip_p_not_zero():
    assert stats.exceeds_zero([2.0, 2.0, 2.0], margin=1.0).p_value == pytest.approx(1 / 8)
    assert stats.exceeds_zero([2.0, 2.0, 2.0], margin=1.0).verdict == "INCONCLUSIVE"
    assert stats.noninferior([0.0] * 5, margin=1.0).p_value == pytest.approx(1 / 32)
