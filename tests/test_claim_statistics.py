"""Each claim's own decision rule, simulated: its parts (Claim.parts: rule and margin) and its seed count at every
scale it runs at. Under the claim's null it says SUPPORTED at most at rate α, and when the claimed effect is
real (exactly at the margin) it says REFUTED at most at rate α, within simulation error; both with normal
per-seed effects and with effects as skewed as an exponential, in the direction that hurts the verdict.

A part's null is the boundary of what it claims: no advantage (superiority), a loss of exactly the margin
(non-inferiority), a difference of exactly the margin (equivalence), no trend (trend). A combined claim is
tested with one part at its null and the others clearly true, for each part in turn: the worst case of the
intersection-union rule.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from replication import stats
from replication.registry import CLAIMS, SETUPS
from replication.stats import ALPHA, REFUTED, SUPPORTED

REPS = 1000
LIMIT = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPS)
SHAPES = ("normal", "skewed")
CASES = [(claim_id, scale) for scale, setups in SETUPS.items() for claim_id, setup in setups.items()
         if not setup.not_run]  # a claim NOT RUN at a scale decides nothing there


def _rules(claim) -> tuple[str, ...]:
    return tuple(p.rule for p in claim.parts)


def _margins(claim) -> tuple[float, ...]:
    return tuple(p.margin for p in claim.parts)


def _levels(claim_id: str, scale: str) -> int:
    return len(SETUPS[scale][claim_id].batch_sizes) or 4


@functools.lru_cache(maxsize=None)
def _trend_noise(levels: int, rho: float) -> float:
    """The noise sd around a linear rise over `levels` whose expected Spearman ρ is `rho` (by bisection)."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4000, levels))
    ranks = np.arange(levels, dtype=float)

    def expected_rho(sd: float) -> float:
        ranks_of = np.argsort(np.argsort(ranks + sd * base, axis=1), axis=1) - (levels - 1) / 2
        centred = ranks - (levels - 1) / 2
        return float(np.mean(ranks_of @ centred / (centred @ centred)))  # no ties in continuous draws

    low, high = 0.01, 100.0
    for _ in range(40):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if expected_rho(mid) > rho else (low, mid)
    return math.sqrt(low * high)


def _noise(shape: str, skew: int, size, rng) -> np.ndarray:
    """Mean 0, sd 1: normal, or a centred exponential whose long tail points to `skew` (−1 left, +1 right)."""
    return rng.standard_normal(size) if shape == "normal" else skew * (rng.exponential(1.0, size) - 1.0)


def _part(kind: str, state: str, margin: float, n: int, levels: int, parts: int, shape: str, rng) -> stats.Decision:
    """One simulated part: state is 'null' (the boundary), 'margin' (the claimed effect, exactly) or 'clear'.
    The skew points where it hurts: left at the null (a false SUPPORTED), right at the margin (a false REFUTED)."""
    skew = -1 if state == "null" else 1
    level = stats.refuting_confidence(parts)
    if kind in ("superiority", "non-inferiority"):
        claimed = 0.0 if kind == "superiority" else -margin  # the boundary of what the part claims
        mean = claimed + {"null": 0.0, "margin": margin if kind == "superiority" else 0.0, "clear": 10 * margin}[state]
        d = mean + 2 * margin * _noise(shape, skew, n, rng)
        decide = stats.exceeds_zero if kind == "superiority" else stats.noninferior
        return decide(d, margin, confidence=level)
    if kind == "equivalence":  # at +margin a right tail hides the excess
        b = rng.normal(0, 1, n)
        shift, sd = {"null": (margin, 2 * margin), "margin": (0.0, 2 * margin), "clear": (0.0, 0.01 * margin)}[state]
        return stats.equivalent(b + shift + sd * _noise(shape, 1, n, rng), b, margin)
    grid = list(range(levels))
    if state == "null":
        return stats.trend(grid, _noise(shape, 1, (n, levels), rng), margin)
    sd = 1e-6 if state == "clear" else _trend_noise(levels, margin)
    return stats.trend(grid, np.arange(levels) + sd * rng.standard_normal((n, levels)), margin)


@functools.lru_cache(maxsize=None)
def _rate(rule: tuple[str, ...], margins: tuple[float, ...], n: int, levels: int, states: tuple[str, ...],
          verdict: str, shape: str) -> float:
    rng = np.random.default_rng(zlib.crc32(repr((rule, margins, n, levels, states, shape)).encode()))
    hits = 0
    for _ in range(REPS):
        parts = [_part(k, s, m, n, levels, len(rule), shape, rng) for k, s, m in zip(rule, states, margins)]
        hits += stats.combine(parts).verdict == verdict
    return hits / REPS


@pytest.fixture(autouse=True)
def informational_fields_off(monkeypatch):
    """The power estimate is printed beside each verdict but never decides it. (The sign-flip p decides a trend
    and a part whose seeds agree exactly, so it stays.)"""
    monkeypatch.setattr(stats, "seeds_for_power", lambda *a, **k: None)


@pytest.mark.parametrize("claim_id", sorted(CLAIMS))
def test_claim_module_decides_through_its_declared_parts(claim_id):
    """A claim test hands its readings to stats.decide, which applies each Part's declared rule and margin (and the
    wider interval of a claim of more than two parts): no module picks a rule or a margin of its own."""
    source = (Path(__file__).parents[1] / "claims" / f"test_{claim_id.replace('-', '_')}.py").read_text()
    assert "stats.decide(CLAIM, " in source
    assert not re.findall(r"stats\.(beats|exceeds_zero|noninferior|equivalent|trend|combine)\(", source)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("claim_id, scale", CASES, ids=[f"{c}-{s}" for c, s in CASES])
def test_supported_at_most_alpha_under_the_claims_null(claim_id, scale, shape):
    claim, n = CLAIMS[claim_id], SETUPS[scale][claim_id].seeds
    for i in range(len(claim.parts)):
        states = tuple("null" if j == i else "clear" for j in range(len(claim.parts)))
        rate = _rate(_rules(claim), _margins(claim), n, _levels(claim_id, scale), states, SUPPORTED, shape)
        assert rate <= LIMIT, f"part {i + 1} at its null, n={n}, {shape}: SUPPORTED in {rate:.1%} of {REPS}"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("claim_id, scale", CASES, ids=[f"{c}-{s}" for c, s in CASES])
def test_refuted_at_most_alpha_when_the_effect_is_real(claim_id, scale, shape):
    claim, n = CLAIMS[claim_id], SETUPS[scale][claim_id].seeds
    states = ("margin",) * len(claim.parts)
    rate = _rate(_rules(claim), _margins(claim), n, _levels(claim_id, scale), states, REFUTED, shape)
    assert rate <= LIMIT, f"every part exactly at its claimed effect, n={n}, {shape}: REFUTED in {rate:.1%} of {REPS}"
