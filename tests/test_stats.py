"""replication.stats: the decision rules, their error rates under simulated nulls, and order invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from replication import stats
from replication.stats import ALPHA, ERROR, INCONCLUSIVE, NOT_TESTABLE, REFUTED, SUPPORTED, VERDICTS, Decision

REPS = 2000
# The largest rate a rule with true error rate ≤ α may show in REPS draws (three binomial standard errors).
RATE_LIMIT = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPS)


@pytest.fixture
def fast_power(monkeypatch):
    """seeds_for_power only fills an informational field (it can loop 1000 times per call near the TOST
    boundary); the verdicts never depend on it, so the simulations stub it out to stay fast."""
    monkeypatch.setattr(stats, "seeds_for_power", lambda *args, **kwargs: None)


def _rate(draw, verdict: str, reps: int = REPS, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([draw(rng).verdict == verdict for _ in range(reps)]))


# -- exceeds_zero / beats: the three verdicts and ERROR ------------------------------------------------

def test_clear_effect_is_supported():
    a = np.array([95.1, 94.8, 95.3, 95.0, 94.9, 95.2, 95.4, 94.7])
    b = a - np.array([3.1, 2.9, 3.2, 3.0, 2.8, 3.3, 3.1, 2.9])
    d = stats.beats(a, b, margin=1.0)
    assert d.verdict == SUPPORTED
    assert d.p_value < ALPHA
    assert d.ci_low > 0 and d.ci_high >= 1.0
    assert d.n_seeds == 8 and d.margin == 1.0
    assert d.effect == pytest.approx(3.0375)
    assert d.fraction_positive == 1.0
    assert d.seeds_for_80_power is None
    assert d.per_seed == pytest.approx((a - b).tolist())


def test_effect_with_interval_below_margin_is_refuted():
    # A real but tiny advantage: significantly > 0, yet the whole interval is below the margin of 1.
    diffs = [0.10, 0.12, 0.09, 0.11, 0.10, 0.13, 0.08, 0.11]
    d = stats.exceeds_zero(diffs, margin=1.0)
    assert d.verdict == REFUTED
    assert d.ci_high < 1.0
    assert "below the margin" in d.reason
    # and a clearly negative effect is refuted too
    assert stats.exceeds_zero([-2.0, -1.5, -2.2, -1.8, -2.1], margin=0.5).verdict == REFUTED


def test_noisy_small_sample_is_inconclusive_with_power_estimate():
    diffs = [1.5, -1.0, 2.5, -0.5, 0.8]
    d = stats.exceeds_zero(diffs, margin=1.0)
    assert d.verdict == INCONCLUSIVE
    assert d.p_value >= ALPHA and d.ci_low < 0 < 1.0 <= d.ci_high
    n = d.seeds_for_80_power
    assert isinstance(n, int) and n > len(diffs)
    # the n it names reaches 80% power for the margin at the observed sd, and n - 1 does not
    sd = float(np.std(diffs, ddof=1))

    def power(k: int) -> float:
        return float(sps.nct.sf(stats.critical(k, 1 - ALPHA), k - 1, 1.0 / sd * math.sqrt(k)))

    assert power(n) >= 0.8 > power(n - 1)
    assert str(n) in d.reason


@pytest.mark.parametrize("diffs", [[], [1.0], [1.0, float("nan"), 2.0], [1.0, float("inf")]],
                         ids=["none", "one-seed", "nan", "inf"])
def test_too_few_or_non_finite_seeds_is_error(diffs):
    d = stats.exceeds_zero(diffs, margin=1.0)
    assert d.verdict == ERROR
    assert d.reason


def test_beats_error_on_nan_arm():
    assert stats.beats([1.0, 2.0, float("nan")], [0.0, 0.0, 0.0], margin=0.5).verdict == ERROR
    assert stats.beats([1.0], [0.0], margin=0.5).verdict == ERROR


def _skewed_sf(t: float, n: int, draws: int = 200_000) -> float:
    """P(T ≥ t) for n centred left-skewed exponential draws, simulated here independently of stats."""
    d = 1.0 - np.random.default_rng(99).exponential(1.0, (draws, n))
    return float(np.mean(d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n)) >= t))


def test_interval_is_the_t_interval_widened_to_the_skewed_quantile():
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.7, 1.3, size=7)
    d = stats.exceeds_zero(diffs, margin=0.5)
    q = stats.critical(7, 0.975)
    assert q > sps.t.ppf(0.975, 6)  # the skewed law's tail is the heavier at 7 seeds
    assert _skewed_sf(q, 7) == pytest.approx(0.025, abs=0.002)
    assert (d.ci_low, d.ci_high) == pytest.approx((diffs.mean() - q * sps.sem(diffs), diffs.mean() + q * sps.sem(diffs)),
                                                  rel=1e-12)
    assert d.effect == pytest.approx(diffs.mean())
    assert d.standardized == pytest.approx(diffs.mean() / diffs.std(ddof=1))


@pytest.mark.parametrize("t", [-1.0, 0.5, 2.0, 4.0])
def test_p_is_the_larger_of_students_and_the_skewed_laws(t):
    student = sps.t.sf(t, 5)
    assert stats.one_sided_p(t, 6) == pytest.approx(max(student, _skewed_sf(t, 6)), abs=0.006)  # two simulations: 4 SE
    assert stats.one_sided_p(t, 6) >= student


def test_beats_p_is_the_robust_p_of_the_paired_t_statistic():
    rng = np.random.default_rng(4)
    a, b = rng.normal(1, 1, 6), rng.normal(0, 1, 6)
    d = stats.beats(a, b, margin=0.5)
    t = sps.ttest_rel(a, b).statistic
    assert d.p_value == stats.one_sided_p(t, 6)
    assert d.p_value >= sps.ttest_rel(a, b, alternative="greater").pvalue


def test_noninferior_hand_computed():
    # mean −0.2, sd 0.1: well above −1, far below −1 with the sign turned, and straddling −0.25
    diffs = [-0.1, -0.2, -0.3, -0.2, -0.1, -0.3]
    assert stats.noninferior(diffs, margin=1.0).verdict == SUPPORTED
    assert stats.noninferior([v - 3 for v in diffs], margin=1.0).verdict == REFUTED
    d = stats.noninferior(diffs, margin=0.25)
    t = (np.mean(diffs) + 0.25) / sps.sem(diffs)
    assert d.p_value == stats.one_sided_p(t, 6)
    assert d.verdict == (SUPPORTED if d.p_value < ALPHA else INCONCLUSIVE)
    assert stats.noninferior([1.0, float("nan")], margin=1.0).verdict == ERROR


def test_sign_flip_p_is_exact_for_small_n():
    diffs = np.array([0.3, 1.2, 0.8, 2.0, 0.5, 0.1, 1.7, 0.9])
    assert stats.sign_flip_p(diffs) == 1 / 256
    assert stats.exceeds_zero(diffs, margin=0.1).permutation_p == 1 / 256
    # one negative seed, the smallest in size: the observed pattern and the one flipping it are ≥ observed
    assert stats.sign_flip_p(np.array([1.0, 2.0, 3.0, -0.5])) == 2 / 16
    # no effect at all: every pattern ties
    assert stats.sign_flip_p(np.zeros(5)) == 1.0
    # all negative: every pattern is ≥ the observed mean
    assert stats.sign_flip_p(-diffs) == 1.0


# -- error rates under simulated nulls ---------------------------------------------------------------

@pytest.mark.parametrize("arm", ["normal", "exponential"])
def test_beats_supported_at_most_alpha_under_aa_null(fast_power, arm):
    def draw(rng):
        sample = (lambda: rng.normal(0, 1, 8)) if arm == "normal" else (lambda: rng.exponential(1.0, 8))
        return stats.beats(sample(), sample(), margin=0.5)

    rate = _rate(draw, SUPPORTED)
    assert rate <= RATE_LIMIT, f"A/A ({arm}): SUPPORTED in {rate:.3%} of {REPS} runs"


@pytest.mark.parametrize("sign", [1, -1], ids=["at+margin", "at-margin"])
def test_equivalent_supported_at_most_alpha_at_tost_boundary(fast_power, sign):
    margin = 1.0

    def draw(rng):
        return stats.equivalent(rng.normal(sign * margin, 1, 8), rng.normal(0, 1, 8), margin)

    rate = _rate(draw, SUPPORTED, seed=1)
    assert rate <= RATE_LIMIT, f"TOST at the boundary: SUPPORTED in {rate:.3%} of {REPS} runs"


def test_equivalent_supported_at_most_alpha_at_boundary_skewed(fast_power):
    margin = 1.0

    def draw(rng):
        return stats.equivalent(rng.exponential(1.0, 8) + margin, rng.exponential(1.0, 8), margin)

    rate = _rate(draw, SUPPORTED, seed=2)
    assert rate <= RATE_LIMIT, f"TOST at the boundary (exponential arms): SUPPORTED in {rate:.3%}"


@pytest.mark.parametrize("levels", [3, 5])
def test_trend_supported_at_most_alpha_without_trend(fast_power, levels):
    grid = list(range(levels))
    reps = 1000  # a Spearman ρ per seed makes each draw ~8x dearer than a t-test

    def draw(rng):
        return stats.trend(grid, rng.normal(0, 1, size=(8, levels)), margin=0.3)

    rate = _rate(draw, SUPPORTED, reps=reps, seed=3)
    assert rate <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps), f"no trend over {levels} levels: {rate:.3%}"


@pytest.mark.parametrize("arm", ["normal", "exponential"])
def test_true_effect_at_margin_is_refuted_at_most_alpha(fast_power, arm):
    margin = 1.0

    def draw(rng):
        sample = (lambda: rng.normal(0, 1, 8)) if arm == "normal" else (lambda: rng.exponential(1.0, 8))
        return stats.beats(sample() + margin, sample(), margin)

    rate = _rate(draw, REFUTED, seed=4)
    assert rate <= RATE_LIMIT, f"true effect = margin ({arm}): REFUTED in {rate:.3%}"


def test_large_true_effect_is_mostly_supported(fast_power):
    """Power sanity check: an effect 3 sd above the margin with 8 seeds is found nearly always."""
    def draw(rng):
        return stats.beats(rng.normal(4.0, 1, 8), rng.normal(0, 1, 8), margin=1.0)

    assert _rate(draw, SUPPORTED, reps=300, seed=5) > 0.95
    assert _rate(draw, REFUTED, reps=300, seed=5) == 0.0


@pytest.mark.parametrize("n", [5, 8])
def test_exceeds_zero_null_with_left_skewed_effects(fast_power, n):
    def draw(rng):
        return stats.exceeds_zero(1.0 - rng.exponential(1.0, n), margin=0.5)  # mean 0, long left tail

    rate = _rate(draw, SUPPORTED, reps=1000, seed=6)
    assert rate <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / 1000), f"SUPPORTED in {rate:.3%}"


@pytest.mark.parametrize("n", [5, 8])
def test_true_effect_at_margin_with_right_skewed_effects_is_refuted_at_most_alpha(fast_power, n):
    def draw(rng):
        return stats.exceeds_zero(1.0 + rng.exponential(1.0, n) - 1.0, margin=1.0)  # mean = margin, long right tail

    rate = _rate(draw, REFUTED, reps=1000, seed=7)
    assert rate <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / 1000), f"REFUTED in {rate:.3%}"


# -- equivalent -----------------------------------------------------------------------------------------

def test_equivalent_identical_arms_supported():
    a = [90.1, 91.3, 89.7, 90.8, 90.0]
    d = stats.equivalent(a, a, margin=1.0)
    # identical seeds have no t statistic: their exact sign-flip p, 2^−5, not 0
    assert d.verdict == SUPPORTED and d.p_value == 2 ** -5 and d.effect == 0.0


def test_equivalent_near_identical_noisy_arms_supported():
    rng = np.random.default_rng(7)
    a = rng.normal(90, 1, 8)
    d = stats.equivalent(a, a + rng.normal(0, 0.05, 8), margin=1.0)
    assert d.verdict == SUPPORTED and d.p_value < ALPHA


def test_equivalent_far_apart_refuted():
    rng = np.random.default_rng(8)
    a = rng.normal(0, 0.1, 8)
    d = stats.equivalent(a + 10.0, a + rng.normal(0, 0.1, 8), margin=1.0)
    assert d.verdict == REFUTED
    assert d.ci_low > 1.0
    assert stats.equivalent(a - 10.0, a, margin=1.0).verdict == REFUTED


def test_equivalent_p_is_the_larger_of_two_one_sided_tests():
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.3, 1, 7), rng.normal(0, 1, 7)
    margin = 1.5
    d = a - b
    lower = stats.one_sided_p(sps.ttest_1samp(d, -margin).statistic, 7)  # effect > −margin
    upper = stats.one_sided_p(-sps.ttest_1samp(d, margin).statistic, 7)  # effect < margin: the mirror image
    assert stats.equivalent(a, b, margin).p_value == max(lower, upper)
    assert max(lower, upper) >= max(sps.ttest_1samp(d, -margin, alternative="greater").pvalue,
                                    sps.ttest_1samp(d, margin, alternative="less").pvalue)


def test_equivalent_errors():
    assert stats.equivalent([1.0], [1.0], 1.0).verdict == ERROR
    assert stats.equivalent([1.0, float("nan")], [1.0, 2.0], 1.0).verdict == ERROR


def test_trend_detects_a_clear_rise_and_rejects_bad_shapes():
    rng = np.random.default_rng(10)
    levels = [8, 32, 128, 512]
    values = np.array(levels, dtype=float)[None, :] + rng.normal(0, 1, (6, 4))
    assert stats.trend(levels, values, margin=0.5).verdict == SUPPORTED
    assert stats.trend(levels, -values, margin=0.5).verdict == REFUTED
    assert stats.trend([1, 2], np.zeros((5, 2)), margin=0.5).verdict == ERROR
    assert stats.trend([1, 2, 3], np.zeros((5, 4)), margin=0.5).verdict == ERROR


# -- properties ---------------------------------------------------------------------------------------

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def paired_arms(draw, min_size: int = 2, max_size: int = 9):
    n = draw(st.integers(min_size, max_size))
    a = draw(st.lists(finite, min_size=n, max_size=n))
    b = draw(st.lists(finite, min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    return np.array(a), np.array(b), np.array(order)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def module_fast_power():
    """As fast_power, for hypothesis tests (function-scoped fixtures are not reset between examples)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats, "seeds_for_power", lambda *args, **kwargs: None)
        yield
margins = st.sampled_from([0.1, 1.0, 5.0])


def _same_decision(d1: Decision, d2: Decision) -> None:
    assert d1.verdict == d2.verdict
    for key in ("p_value", "effect", "ci_low", "ci_high", "permutation_p", "fraction_positive"):
        v1, v2 = getattr(d1, key), getattr(d2, key)
        assert (v1 is None) == (v2 is None), key
        if v1 is not None:
            assert v1 == pytest.approx(v2, rel=1e-9, abs=1e-9), key
    assert sorted(d1.per_seed) == pytest.approx(sorted(d2.per_seed))


@PROPERTY
@given(paired_arms(), margins)
def test_beats_does_not_depend_on_seed_order(module_fast_power, arms, margin):
    a, b, order = arms
    _same_decision(stats.beats(a, b, margin), stats.beats(a[order], b[order], margin))


@PROPERTY
@given(paired_arms(), margins)
def test_equivalent_does_not_depend_on_seed_order(module_fast_power, arms, margin):
    a, b, order = arms
    _same_decision(stats.equivalent(a, b, margin), stats.equivalent(a[order], b[order], margin))


@PROPERTY
@given(paired_arms(min_size=0), margins)
def test_p_values_lie_in_unit_interval(module_fast_power, arms, margin):
    a, b, _ = arms
    for d in (stats.beats(a, b, margin), stats.equivalent(a, b, margin), stats.exceeds_zero(a, margin)):
        assert d.verdict in VERDICTS
        for p in (d.p_value, d.permutation_p):
            if p is not None:
                assert 0.0 <= p <= 1.0
        if d.verdict != ERROR:
            assert d.p_value is not None and d.ci_low <= d.effect <= d.ci_high


@PROPERTY
@given(st.integers(2, 8), st.integers(3, 5), st.data())
def test_trend_p_in_unit_interval_and_order_invariant(module_fast_power, n, k, data):
    values = np.array(data.draw(st.lists(st.lists(finite, min_size=k, max_size=k), min_size=n, max_size=n)))
    order = np.array(data.draw(st.permutations(range(n))))
    levels = list(range(k))
    d1, d2 = stats.trend(levels, values, 0.3), stats.trend(levels, values[order], 0.3)
    assert d1.verdict == d2.verdict
    if d1.p_value is not None:
        assert 0.0 <= d1.p_value <= 1.0
        assert d1.p_value == pytest.approx(d2.p_value, rel=1e-9, abs=1e-9)


decisions = st.builds(
    lambda verdict, p, effect, n: Decision(verdict, f"part-{verdict}", effect=effect, ci_low=effect - 1,
                                           ci_high=effect + 1, p_value=p, n_seeds=n, reason=f"why {verdict}"),
    st.sampled_from(VERDICTS), st.floats(0, 1), finite, st.integers(2, 10))


@settings(max_examples=200, deadline=None)
@given(st.lists(decisions, min_size=1, max_size=5))
def test_combine_is_intersection_union(parts):
    combined = stats.combine(parts, test="combined")
    verdicts = [p.verdict for p in parts]
    if ERROR in verdicts:
        assert combined.verdict == ERROR
    elif REFUTED in verdicts:
        assert combined.verdict == REFUTED
    elif NOT_TESTABLE in verdicts:  # a part whose precondition failed: the claim was not put to the test
        assert combined.verdict == NOT_TESTABLE
    elif all(v == SUPPORTED for v in verdicts):
        assert combined.verdict == SUPPORTED
        assert combined.p_value == max(p.p_value for p in parts)
    else:
        assert combined.verdict == INCONCLUSIVE
    if combined.verdict == SUPPORTED:
        assert all(v == SUPPORTED for v in verdicts)
    assert combined.test == "combined"
    assert [p.verdict for p in combined.parts] == verdicts
    assert combined.parts == list(parts)
    assert 0.0 <= combined.p_value <= 1.0


def test_combine_of_real_decisions():
    good = stats.exceeds_zero([3.0, 3.2, 2.9, 3.1], margin=1.0)
    tiny = stats.exceeds_zero([0.10, 0.12, 0.09, 0.11], margin=1.0)
    assert good.verdict == SUPPORTED and tiny.verdict == REFUTED
    both = stats.combine([good, tiny])
    assert both.verdict == REFUTED and tiny.test in both.reason
    assert stats.combine([good, good]).verdict == SUPPORTED
    assert stats.combine([good, stats.error("x", "broke")]).verdict == ERROR


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 7).flatmap(lambda k: st.lists(st.lists(st.integers(0, 3), min_size=k, max_size=k),
                                                      min_size=2, max_size=6)))
def test_trend_rho_is_scipys_spearman_with_ties(rows):
    """The vectorized per-seed ρ equals scipy's spearmanr (ties averaged); a constant seed counts as ρ = 0."""
    values = np.array(rows, dtype=float)
    levels = list(range(values.shape[1]))
    expected = [0.0 if np.ptp(r) == 0 else sps.spearmanr(levels, r).statistic for r in values]
    assert np.allclose(stats.trend(levels, values, 0.5).per_seed, expected)


def test_trend_with_a_diverged_seed_is_error_not_a_zero_rho():
    values = np.array([[1.0, 2.0, 3.0], [1.0, float("nan"), 3.0], [1.0, 2.0, 4.0]])
    decision = stats.trend([1, 2, 3], values, 0.5)
    assert decision.verdict == ERROR and "non-finite" in decision.reason


def test_a_claim_of_more_parts_refutes_each_with_a_wider_interval():
    assert stats.refuting_confidence(1) == stats.refuting_confidence(2) == 0.95
    assert stats.refuting_confidence(3) == pytest.approx(1 - 2 * stats.ALPHA / 3)
    d = [0.05, 0.08, 0.02, 0.06, 0.04]
    narrow, wide = stats.exceeds_zero(d, 1.0), stats.exceeds_zero(d, 1.0, confidence=stats.refuting_confidence(3))
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high
    assert "96.7% interval" in wide.reason


# -- stats.decide: each part's declared rule applied to its reading (hand-checked against the rule functions) --
def _claim(*parts):
    from replication.registry import Part

    return type("C", (), {"parts": tuple(Part(rule, margin, "points") for rule, margin in parts)})()


def test_decide_applies_each_parts_rule_to_its_reading():
    a, b = np.array([3.0, 2.5, 4.0, 3.5, 2.0]), np.array([1.0, 1.5, 0.5, 1.0, 1.0])
    one = stats.decide(_claim(("superiority", 1.0)), [stats.Reading(a, b, test="a > b")])
    assert one == stats.exceeds_zero(a - b, 1.0, test="a > b")  # one part: the decision itself, not combined
    both = stats.decide(_claim(("non-inferiority", 1.0), ("equivalence", 5.0)),
                        [stats.Reading(a - b), stats.Reading(a, b, test="a ≈ b")], test="both")
    assert both.parts == [stats.noninferior(a - b, 1.0), stats.equivalent(a, b, 5.0, test="a ≈ b")]
    assert both.test == "both"
    levels, values = [1, 2, 3], np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [0.0, 1.0, 2.0], [2.0, 1.0, 3.0]])
    rising = stats.decide(_claim(("trend", 0.5)), [stats.Reading(values, levels=levels)])
    assert rising == stats.trend(levels, values, 0.5)


def test_decide_gives_every_part_of_a_three_part_claim_the_wider_interval():
    d = np.array([3.0, 2.5, 4.0, 3.5, 2.0])
    three = stats.decide(_claim(("superiority", 1.0), ("superiority", 1.0), ("superiority", 1.0)),
                         [stats.Reading(d)] * 3)
    level = stats.refuting_confidence(3)
    assert level > 0.95 and [p.confidence for p in three.parts] == [level] * 3
    assert three.parts[0] == stats.exceeds_zero(d, 1.0, confidence=level)
    # a scale that reads fewer parts (an arm it lacks) keeps the claim's level
    two_read = stats.decide(_claim(("superiority", 1.0), ("superiority", 1.0), ("superiority", 1.0)),
                            [stats.Reading(d)] * 2)
    assert [p.confidence for p in two_read.parts] == [level] * 2


def test_decide_refuses_an_unknown_rule():
    part = type("P", (), {"rule": "vibes", "margin": 1.0})()
    with pytest.raises(ValueError, match="unknown rule 'vibes'"):
        stats.decide_part(part, stats.Reading([1.0, 2.0]))
