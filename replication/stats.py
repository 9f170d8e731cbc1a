"""Statistics over seeds: the seed is the unit, arms are paired by seed.

Densities within one seed are not independent, so every comparison first
reduces each seed to one number (for example its mean difference over a density
range) and then tests across seeds.

Decision rules (each claim declares `margin`, its smallest effect of interest,
before looking at data):

- superiority "A beats B": SUPPORTED when the one-sided paired t-test rejects
  "no advantage" at α and the 95% interval still reaches the margin; REFUTED when
  the interval lies entirely below the margin (any advantage is smaller than the
  claim needs); otherwise INCONCLUSIVE, with the seeds 80% power would need. A
  claim of more than two parts refutes each with a wider interval
  (refuting_confidence), so that the claim is wrongly REFUTED at most at rate α.
- equivalence "A is not noticeably different from B": TOST against ±margin.
- trend across an ordered factor: each seed's Spearman correlation between the
  factor and the measure, then the one-sided t-test on those correlations.

Under a true null each rule says SUPPORTED at most at rate α (tested by
simulation) when the per-seed effects are roughly symmetric. With few seeds and
strongly skewed effects the t-test can exceed α (about 14% at n = 8 for a
centred exponential; a strict xfail in tests/test_stats.py records it); the
sign-flip p printed beside every test is the check to read then.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

SUPPORTED, REFUTED, INCONCLUSIVE, ERROR = "SUPPORTED", "REFUTED", "INCONCLUSIVE", "ERROR"
VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE, ERROR)
ALPHA = 0.05


@dataclass
class Decision:
    verdict: str
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
    parts: list[dict[str, Any]] = field(default_factory=list)  # the sub-decisions of a combined claim

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error(test: str, reason: str, n_seeds: int = 0) -> Decision:
    return Decision(ERROR, test, n_seeds=n_seeds, reason=reason)


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)


def sign_flip_p(diffs: np.ndarray, max_exact: int = 16, draws: int = 20000, seed: int = 0) -> float:
    """One-sided permutation p for mean > 0 under random sign flips (exact up to 2^16 patterns)."""
    n = len(diffs)
    observed = diffs.mean()
    if n <= max_exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, n))
    means = (signs * diffs).mean(axis=1)
    return float(np.mean(means >= observed - 1e-12))


def seeds_for_power(sd: float, margin: float, alpha: float = ALPHA, power: float = 0.8, cap: int = 1000) -> int | None:
    """Seeds a one-sided paired t-test needs to detect `margin` with the observed sd."""
    if not (sd > 0 and margin > 0):
        return None
    for n in range(3, cap + 1):
        crit = sps.t.ppf(1 - alpha, n - 1)
        if sps.nct.sf(crit, n - 1, margin / sd * math.sqrt(n)) >= power:
            return n
    return cap


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
    half = float(sps.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def beats(a: Sequence[float], b: Sequence[float], margin: float, alpha: float = ALPHA,
          test: str = "paired t, one-sided: A > B", confidence: float = 0.95) -> Decision:
    """Does arm A beat arm B? a[i], b[i] are seed i's summaries (paired by seed)."""
    return exceeds_zero(_clean(a) - _clean(b), margin, alpha, test, confidence)


def exceeds_zero(diffs: Sequence[float], margin: float, alpha: float = ALPHA,
                 test: str = "one-sample t, one-sided: effect > 0", confidence: float = 0.95) -> Decision:
    """Is the per-seed effect positive, by at least the smallest effect of interest? `confidence`: the
    interval reported and refuted with (refuting_confidence for a claim of more than two parts)."""
    d = _clean(diffs)
    n = len(d)
    if n < 2 or not np.all(np.isfinite(d)):
        return error(test, f"need at least 2 finite per-seed effects, got {n} ({d.tolist()})", n)
    mean, sd, low, high = _summary(d, confidence)
    if sd == 0:
        p = 0.0 if mean > 0 else 1.0
    else:
        p = float(sps.t.sf(mean / (sd / math.sqrt(n)), n - 1))
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
        p = 0.0 if abs(mean) < margin else 1.0
    else:
        p = max(float(sps.t.sf((mean + margin) / se, n - 1)), float(sps.t.cdf((mean - margin) / se, n - 1)))
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


def trend(levels: Sequence[float], values: np.ndarray, margin: float, alpha: float = ALPHA) -> Decision:
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
    rhos = np.divide(y @ x, norms, out=np.zeros(len(y)), where=norms > 0).tolist()
    return exceeds_zero(rhos, margin, alpha, test=f"per-seed Spearman ρ over {len(levels)} levels, one-sided t on ρ")


def combine(decisions: Sequence[Decision], test: str = "all parts") -> Decision:
    """A claim with several parts holds only if every part holds (intersection-union: no α inflation)."""
    verdicts = [d.verdict for d in decisions]
    parts = [d.to_dict() for d in decisions]
    for verdict in (ERROR, REFUTED, INCONCLUSIVE):
        if verdict in verdicts:
            first = decisions[verdicts.index(verdict)]
            return Decision(**{**asdict(first), "verdict": verdict, "test": test, "parts": parts,
                               "reason": f"{first.test}: {first.reason}"})
    p_values = [d.p_value for d in decisions if d.p_value is not None]
    return Decision(**{**asdict(decisions[0]), "test": test, "parts": parts, "p_value": max(p_values),
                       "reason": "; ".join(f"{d.test}: {d.reason}" for d in decisions)})
