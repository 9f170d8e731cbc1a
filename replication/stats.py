"""Statistics over seeds: the seed is the unit, arms are paired by seed.

Densities within one seed are not independent, so every comparison first
reduces each seed to one number (for example its mean difference over a density
range) and then tests across seeds.

Decision rules (each claim declares `margin`, its smallest effect of interest,
before looking at data):

- superiority "A beats B": SUPPORTED when the one-sided test rejects "no
  advantage" at α and the 95% interval still reaches the margin; REFUTED when
  the interval lies entirely below the margin (any advantage is smaller than the
  claim needs); otherwise INCONCLUSIVE, with the seeds 80% power would need. A
  claim of more than two parts refutes each with a wider interval
  (refuting_confidence), so that the claim is wrongly REFUTED at most at rate α.
- non-inferiority "A is not worse than B by more than the margin": the same
  test on the effect plus the margin; REFUTED when the interval lies entirely
  below minus the margin.
- equivalence "A is not noticeably different from B": TOST against ±margin.
- trend across an ordered factor: each seed's Spearman correlation between the
  factor and the measure, then the exact sign-flip test on those correlations
  (a ρ over three levels takes only ±0.5 and ±1: no t law fits it, and the
  sign-flip p cannot fall below 2^−n, so at least 5 seeds are needed at α = 0.05).
- preconditions: what a claim presupposes of its setting (the small batch's
  subnetworks unstable, its controls trained, its densities reached). Where one
  fails the claim, or the part it gates, is NOT TESTABLE whatever its test says:
  a claim is REFUTED only where its preconditions hold.

Every test and interval is skew-robust: the studentized mean is referred to the
worse of Student's t and its law for per-seed effects as skewed as an
exponential (skewness ±2), simulated once per seed count (`critical`,
`one_sided_p`). A plain t-test is anti-conservative for skewed effects with few
seeds (about 14% false SUPPORTED at n = 8 for a left-skewed exponential); this
rule keeps every verdict's error rate within α for normal effects and for
effects as skewed as an exponential, in either direction (tests/test_stats.py
and tests/test_claim_statistics.py simulate both; a gamma of shape 2, skewness
1.4, falls between them). It costs power: at n = 5 a
standardized effect needs to be about 2.2 sd, not 1.2, for 80% power, which the
power estimate and the paper scale's seed counts account for. Heavier tails
than an exponential's are not covered. The sign-flip p printed beside every test
is informational.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

# The verdicts are re-exported: the claim tests import them from here.
from .verdicts import ERROR, INCONCLUSIVE, NOT_TESTABLE, REFUTED, SUPPORTED, Verdict

VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE, ERROR, NOT_TESTABLE)
ALPHA = 0.05


@dataclass
class Decision:
    verdict: Verdict
    test: str
    effect: float | None = None  # mean per-seed effect
    ci_low: float | None = None  # two-sided t interval of the effect, at `confidence`
    ci_high: float | None = None
    p_value: float | None = None
    n_seeds: int = 0
    margin: float | None = None
    confidence: float = 0.95  # of the interval; wider for the parts of a claim of more than two (refuting_confidence)
    standardized: float | None = None  # mean / sd of the per-seed effects (Cohen's d_z)
    fraction_positive: float | None = None
    permutation_p: float | None = None
    seeds_for_80_power: int | None = None
    reason: str = ""
    per_seed: list[float] = field(default_factory=list)
    parts: list[Decision] = field(default_factory=list)  # the sub-decisions of a combined claim
    preconditions: list[Precondition] = field(default_factory=list)  # what the claim presupposes, checked or not

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Decision:
        """A decision as results.json holds it; fields a record of an older version lacks take their defaults,
        and fields it has that this version dropped are ignored."""
        known = {f.name for f in fields(cls)} - {"verdict", "parts", "preconditions"}
        return cls(Verdict(d["verdict"]), **{k: v for k, v in d.items() if k in known},
                   parts=[cls.from_dict(p) for p in d.get("parts") or []],
                   preconditions=[Precondition(**p) for p in d.get("preconditions") or []])


def error(test: str, reason: str, n_seeds: int = 0) -> Decision:
    return Decision(ERROR, test, n_seeds=n_seeds, reason=reason)


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)


# The studentized mean of n centred, left-skewed exponential draws: its upper tail is the heaviest of
# the family the rules withstand (a right-skewed effect's lower tail is its mirror image). Beyond 100
# seeds fewer draws keep each law's cost bounded; the power search is the only caller that goes there.
SKEWED_DRAWS, SKEWED_SEED, DRAW_BUDGET = 200_000, 20211119, 20_000_000


@functools.lru_cache(maxsize=64)
def _skewed_t(n: int) -> np.ndarray:
    rng = np.random.default_rng([SKEWED_SEED, n])
    draws, rows = min(SKEWED_DRAWS, DRAW_BUDGET // n), max(1, 2_000_000 // n)
    chunks = []
    for start in range(0, draws, rows):
        d = 1.0 - rng.exponential(1.0, (min(rows, draws - start), n))
        chunks.append(d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n)))
    return np.sort(np.concatenate(chunks))


def one_sided_p(t: float, n: int) -> float:
    """P(T ≥ t) for the studentized mean of n seeds: the larger of Student's and the skewed law's."""
    skewed = _skewed_t(n)
    return max(float(sps.t.sf(t, n - 1)), float(len(skewed) - np.searchsorted(skewed, t, "left")) / len(skewed))


@functools.lru_cache(maxsize=256)
def critical(n: int, level: float) -> float:
    """The studentized mean's `level` quantile under the worse of Student's t and the skewed law."""
    return max(float(sps.t.ppf(level, n - 1)), float(np.quantile(_skewed_t(n), level)))


@functools.lru_cache(maxsize=32)
def _every_sign(n: int) -> np.ndarray:
    return np.array(list(itertools.product((1.0, -1.0), repeat=n)))


def sign_flip_p(diffs: np.ndarray, max_exact: int = 16, draws: int = 20000, seed: int = 0) -> float:
    """One-sided permutation p for mean > 0 under random sign flips (exact up to 2^16 patterns)."""
    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    observed = diffs.mean()
    if n <= max_exact:
        signs = _every_sign(n)
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, n))
    means = (signs * diffs).mean(axis=1)
    return float(np.mean(means >= observed - 1e-12))


def power_of(n: int, sd: float, margin: float, alpha: float = ALPHA) -> float:
    """The one-sided skew-robust test's power to detect `margin` with n seeds of normal effects of sd `sd`."""
    return float(sps.nct.sf(critical(n, 1 - alpha), n - 1, margin / sd * math.sqrt(n)))


def seeds_for_power(sd: float, margin: float, alpha: float = ALPHA, power: float = 0.8, cap: int = 300) -> int | None:
    """The fewest seeds (3 to `cap`; `cap` means "cap or more") the one-sided skew-robust test needs to detect
    `margin` with the observed sd, by bisection (power rises with n)."""
    if not (sd > 0 and margin > 0):
        return None
    low, high = 3, cap
    if power_of(high, sd, margin, alpha) < power:
        return cap
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if power_of(mid, sd, margin, alpha) < power else (low, mid)
    return low


def refuting_confidence(parts: int, alpha: float = ALPHA) -> float:
    """The two-sided interval a superiority part of a `parts`-part claim refutes with. A combined claim
    is REFUTED when any part's interval lies below its margin; with every part's effect exactly at
    its margin each part does so at rate (1 − c)/2, so the claim at most at parts · (1 − c)/2. The
    95% interval keeps that within α for one or two parts; more parts need a wider one. (For
    superiority parts, the only kind a claim of more than two has so far; equivalence and trend
    parts keep their own rules.)"""
    return max(0.95, 1 - 2 * alpha / parts)


def _summary(diffs: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    n = len(diffs)
    mean, sd = float(diffs.mean()), float(diffs.std(ddof=1))
    half = critical(n, (1 + confidence) / 2) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def beats(a: Sequence[float], b: Sequence[float], margin: float, alpha: float = ALPHA,
          test: str = "paired, one-sided: A > B", confidence: float = 0.95) -> Decision:
    """Does arm A beat arm B? a[i], b[i] are seed i's summaries (paired by seed)."""
    return exceeds_zero(_clean(a) - _clean(b), margin, alpha, test, confidence)


def exceeds_zero(diffs: Sequence[float], margin: float, alpha: float = ALPHA,
                 test: str = "one-sided: effect > 0", confidence: float = 0.95) -> Decision:
    """Is the per-seed effect positive, by at least the smallest effect of interest? `confidence`: the
    interval reported and refuted with (refuting_confidence for a claim of more than two parts)."""
    d = _clean(diffs)
    n = len(d)
    if n < 2 or not np.all(np.isfinite(d)):
        return error(test, f"need at least 2 finite per-seed effects, got {n} ({d.tolist()})", n)
    mean, sd, low, high = _summary(d, confidence)
    # Identical seeds have no t statistic; their exact sign-flip p (2^−n when all are positive) is what they show.
    p = sign_flip_p(d) if sd == 0 else one_sided_p(mean / (sd / math.sqrt(n)), n)
    decision = Decision(INCONCLUSIVE, test, mean, low, high, p, n, margin, confidence=confidence,
                        standardized=mean / sd if sd > 0 else None,
                        fraction_positive=float(np.mean(d > 0)), permutation_p=sign_flip_p(d),
                        per_seed=d.tolist())
    if p < alpha and high >= margin:
        decision.verdict, decision.reason = SUPPORTED, f"effect > 0 (p={p:.3g}) and the interval reaches the margin {margin:g}"
    elif high < margin:
        decision.verdict, decision.reason = REFUTED, (f"the {100 * confidence:.3g}% interval [{low:.3g}, {high:.3g}] "
                                                      f"lies below the margin {margin:g}")
    else:
        decision.seeds_for_80_power = seeds_for_power(sd, margin, alpha)
        decision.reason = (f"p={p:.3g}; interval [{low:.3g}, {high:.3g}] neither excludes 0 nor falls below "
                           f"{margin:g}; about {decision.seeds_for_80_power} seeds would give 80% power")
    return decision


def noninferior(diffs: Sequence[float], margin: float, alpha: float = ALPHA,
                test: str = "one-sided: effect > −margin", confidence: float = 0.95) -> Decision:
    """Is the per-seed effect (A − B) above −margin: is A no worse than B by more than the margin?
    SUPPORTED when the skew-robust one-sided test of effect + margin > 0 rejects at α; REFUTED when the
    interval lies entirely below −margin; otherwise INCONCLUSIVE."""
    test = f"{test} (margin −{margin:g})"
    d = _clean(diffs)
    n = len(d)
    if n < 2 or not np.all(np.isfinite(d)):
        return error(test, f"need at least 2 finite per-seed effects, got {n} ({d.tolist()})", n)
    mean, sd, low, high = _summary(d, confidence)
    p = sign_flip_p(d + margin) if sd == 0 else one_sided_p((mean + margin) / (sd / math.sqrt(n)), n)
    decision = Decision(INCONCLUSIVE, test, mean, low, high, p, n, margin, confidence=confidence,
                        standardized=mean / sd if sd > 0 else None,
                        fraction_positive=float(np.mean(d > -margin)), permutation_p=sign_flip_p(d + margin),
                        per_seed=d.tolist())
    if p < alpha:
        decision.verdict, decision.reason = SUPPORTED, f"effect > −{margin:g} (p={p:.3g})"
    elif high < -margin:
        decision.verdict, decision.reason = REFUTED, (f"the {100 * confidence:.3g}% interval [{low:.3g}, {high:.3g}] "
                                                      f"lies below −{margin:g}")
    else:
        decision.seeds_for_80_power = seeds_for_power(sd, mean + margin, alpha) if mean > -margin else None
        decision.reason = f"p={p:.3g}; interval [{low:.3g}, {high:.3g}] reaches below −{margin:g}"
    return decision


def equivalent(a: Sequence[float], b: Sequence[float], margin: float, alpha: float = ALPHA,
               test: str = "paired TOST: A ≈ B") -> Decision:
    """TOST: is |mean(A − B)| < margin? SUPPORTED when both one-sided tests reject at α."""
    test = f"{test} (margin ±{margin:g})"
    d = _clean(a) - _clean(b)
    n = len(d)
    if n < 2 or not np.all(np.isfinite(d)):
        return error(test, f"need at least 2 finite per-seed differences, got {n}", n)
    mean, sd, low, high = _summary(d)
    se = sd / math.sqrt(n)
    if se == 0:
        p = max(sign_flip_p(d + margin), sign_flip_p(margin - d))
    else:
        p = max(one_sided_p((mean + margin) / se, n), one_sided_p((margin - mean) / se, n))
    decision = Decision(INCONCLUSIVE, test, mean, low, high, p, n, margin,
                        standardized=mean / sd if sd > 0 else None,
                        fraction_positive=float(np.mean(d > 0)), per_seed=d.tolist())
    if p < alpha:
        decision.verdict, decision.reason = SUPPORTED, f"difference within ±{margin:g} (TOST p={p:.3g})"
    elif low > margin or high < -margin:
        decision.verdict, decision.reason = REFUTED, f"the 95% interval [{low:.3g}, {high:.3g}] lies outside ±{margin:g}"
    else:
        decision.seeds_for_80_power = seeds_for_power(sd, margin - abs(mean), alpha) if abs(mean) < margin else None
        decision.reason = f"TOST p={p:.3g}; interval [{low:.3g}, {high:.3g}] straddles the margin ±{margin:g}"
    return decision


def trend(levels: Sequence[float], values: np.ndarray, margin: float, alpha: float = ALPHA,
          confidence: float = 0.95) -> Decision:
    """Does the measure rise with the ordered factor? values: seeds × levels (negate for 'falls')."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(levels) or len(levels) < 3:
        return error("trend", f"need seeds × ≥3 levels, got shape {values.shape}")
    if not np.all(np.isfinite(values)):  # a diverged run: never ranked as if it were a number
        return error("trend", f"{int((~np.isfinite(values)).any(axis=1).sum())} seed(s) have non-finite values",
                     len(values))
    # Spearman ρ per seed = Pearson correlation of ranks (ties averaged, as scipy's spearmanr); a seed whose
    # measure does not vary has ρ = 0.
    x = sps.rankdata(np.asarray(levels, dtype=float))
    y = sps.rankdata(values, axis=1)
    x, y = x - x.mean(), y - y.mean(axis=1, keepdims=True)
    norms = np.sqrt((x * x).sum() * (y * y).sum(axis=1))
    rhos = np.divide(y @ x, norms, out=np.zeros(len(y)), where=norms > 0)
    return discrete_exceeds_zero(rhos, margin, alpha, confidence,
                                 test=f"per-seed Spearman ρ over {len(levels)} levels, exact sign-flip on ρ")


def sign_flip_seeds(alpha: float = ALPHA) -> int:
    """The fewest seeds whose exact sign-flip p can fall below α (2^−n < α: 5 at α = 0.05)."""
    return math.floor(math.log2(1 / alpha)) + 1


def discrete_exceeds_zero(values: Sequence[float], margin: float, alpha: float = ALPHA, confidence: float = 0.95,
                          test: str = "exact sign-flip: effect > 0") -> Decision:
    """`exceeds_zero` for a per-seed statistic that takes few values (a Spearman ρ over a few levels), where a t
    law does not apply: SUPPORTED when the exact sign-flip test of mean > 0 rejects at α and the mean is not shown
    to lie below the margin; REFUTED when the sign-flip test of margin − value > 0 rejects at the tail of
    `confidence` (the mean lies below the margin); otherwise INCONCLUSIVE. A discrete statistic has no t interval:
    none is given, and the reason says the range over seeds."""
    d = _clean(values)
    n = len(d)
    if n < 2 or not np.all(np.isfinite(d)):
        return error(test, f"need at least 2 finite per-seed effects, got {n} ({d.tolist()})", n)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    p, below = sign_flip_p(d), sign_flip_p(margin - d)
    spread = f"; per-seed range [{d.min():.3g}, {d.max():.3g}]"
    decision = Decision(INCONCLUSIVE, test, mean, None, None, p, n, margin,
                        confidence=confidence, standardized=mean / sd if sd > 0 else None,
                        fraction_positive=float(np.mean(d > 0)), permutation_p=p, per_seed=d.tolist())
    if below < (1 - confidence) / 2:
        decision.verdict, decision.reason = REFUTED, (f"the mean {mean:.3g} lies below the margin {margin:g} "
                                                      f"(exact sign-flip p={below:.3g}){spread}")
    elif p < alpha:
        decision.verdict, decision.reason = SUPPORTED, f"effect > 0 (exact sign-flip p={p:.3g}){spread}"
    else:
        few = n < sign_flip_seeds(alpha)
        decision.seeds_for_80_power = sign_flip_seeds(alpha) if few else None
        decision.reason = f"exact sign-flip p={p:.3g}{spread}" + (
            f"; with {n} seeds it cannot fall below {2.0 ** -n:.3g}: at least {sign_flip_seeds(alpha)} are needed"
            if few else "")
    return decision


def combine(decisions: Sequence[Decision], test: str = "all parts") -> Decision:
    """A claim with several parts holds only if every part holds (intersection-union: no α inflation)."""
    verdicts = [d.verdict for d in decisions]
    parts = list(decisions)
    for verdict in (ERROR, REFUTED, NOT_TESTABLE, INCONCLUSIVE):
        if verdict in verdicts:
            first = decisions[verdicts.index(verdict)]
            return replace(first, verdict=verdict, test=test, parts=parts, reason=f"{first.test}: {first.reason}")
    p_values = [d.p_value for d in decisions if d.p_value is not None]
    return replace(decisions[0], test=test, parts=parts, p_value=max(p_values),
                   reason="; ".join(f"{d.test}: {d.reason}" for d in decisions))


# -- one decision function: a claim's parts declare their rule and margin, this applies them ----------------
@dataclass(frozen=True)
class Reading:
    """What one part of a claim reads: per-seed values (paired by seed) and, for a comparison, the reference arm's
    (superiority and non-inferiority read values − reference; equivalence compares the two); a trend reads a
    seeds × levels array against its `levels`. `test` says what it tests, in the report's words."""

    values: Any
    reference: Any = None
    levels: Sequence[float] | None = None
    test: str | None = None


def decide_part(part, reading: Reading, confidence: float = 0.95) -> Decision:
    """A part (registry.Part: its rule and margin) decided on its reading."""
    named = {"test": reading.test} if reading.test else {}
    values = _clean(reading.values)
    if reading.reference is not None and part.rule in ("superiority", "non-inferiority"):
        values = values - _clean(reading.reference)
    if part.rule == "superiority":
        return exceeds_zero(values, part.margin, confidence=confidence, **named)
    if part.rule == "non-inferiority":
        return noninferior(values, part.margin, confidence=confidence, **named)
    if part.rule == "equivalence":
        return equivalent(values, reading.reference, part.margin, **named)
    if part.rule == "trend":
        return trend(reading.levels, values, part.margin, confidence=confidence)
    raise ValueError(f"unknown rule {part.rule!r}")


@dataclass(frozen=True)
class Precondition:
    """Something a claim presupposes of its setting, as against what it states: that its small batch's subnetworks
    are unstable, that its controls train, that its rounds reach the densities it speaks of. `numbers` is the
    measurement that shows whether it holds, in words, for the report; `part` is the part (numbered from 1) it
    gates, or None for the whole claim."""

    needs: str
    holds: bool
    numbers: str
    part: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _untestable(decision: Decision, failed: Sequence[Precondition]) -> Decision:
    """The decision, NOT TESTABLE because of `failed`; what its test alone would have said stays in the reason."""
    missing = "; ".join(f"{p.needs}, but {p.numbers}" for p in failed)
    return replace(decision, verdict=NOT_TESTABLE,
                   reason=f"not testable: {missing} (the test alone: {decision.verdict}, {decision.reason})")


def decide(claim, readings: Sequence[Reading], test: str = "all parts",
           preconditions: Sequence[Precondition] = ()) -> Decision:
    """The claim's verdict: each part (claim.parts, in order) decided on its reading, every part at the interval a
    claim of that many parts refutes with (refuting_confidence), then combined (all must hold). A scale may read
    fewer parts than the claim has (a part whose arm it lacks is not run). One part read is the decision itself.
    A failed precondition makes its part, or the whole claim, NOT TESTABLE; every precondition is recorded."""
    level = refuting_confidence(len(claim.parts))
    decisions = [decide_part(p, r, level) for p, r in zip(claim.parts, readings)]
    for i, decision in enumerate(decisions):
        failed = [p for p in preconditions if p.part == i + 1 and not p.holds]
        decisions[i] = _untestable(decision, failed) if failed else decision
    out = decisions[0] if len(decisions) == 1 else combine(decisions, test)
    failed = [p for p in preconditions if p.part is None and not p.holds]
    if failed:
        out = _untestable(out, failed)
    out.preconditions = list(preconditions)
    return out
