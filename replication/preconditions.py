"""What a claim presupposes of its setting, checked on its own runs: a claim is REFUTED only where these hold.

The paper's claims about small batches are about *unstable* IMP: small-batch subnetworks whose linear
interpolation instability stays at 69–83 points. A scale whose small batch leaves its subnetworks stable has not
put such a claim to the test, whatever its verdict would say; nor has a ticket-against-control comparison whose
controls failed to train, nor a claim about very low densities whose rounds never reach them. Each function here
measures one such precondition and says it in numbers (stats.Precondition); `stats.decide` turns a failed one into
NOT TESTABLE. The cuts are declared in the registry (STABLE_CUT, UNSTABLE_CUT, TRAINS_FLOOR) before any claim runs.
"""

from __future__ import annotations

import numpy as np

from .accuracy import failed_to_train
from .registry import STABLE_CUT, TRAINS_FLOOR, UNSTABLE_CUT
from .stats import Precondition


def _spread(values: np.ndarray, digits: int = 1) -> str:
    return f"{np.nanmean(values):.{digits}f} (per seed {np.nanmin(values):.{digits}f}–{np.nanmax(values):.{digits}f})"


def subnetworks_unstable(instability: np.ndarray, batch: int, rounds: tuple[int, ...],
                         part: int | None = None) -> Precondition:
    """Batch `batch`'s subnetworks are unstable: the mean over seeds of their LII at the rounds the claim reads
    (`instability`, per seed) is at least UNSTABLE_CUT points (a diverged seed fails it)."""
    values = np.asarray(instability, dtype=float)
    holds = bool(np.all(np.isfinite(values)) and values.mean() >= UNSTABLE_CUT)
    return Precondition(f"batch {batch}'s subnetworks are unstable (mean LII at rounds {', '.join(map(str, rounds))} "
                        f"at least {UNSTABLE_CUT:g} points)", holds,
                        f"their LII is {_spread(values)} points", part)


def dense_not_stable(lii: np.ndarray, batch: int, part: int | None = None) -> Precondition:
    """Batch `batch`'s dense network is not stable at initialization: the mean over seeds of its LII (round 0) is
    at least STABLE_CUT points. Where it is stable, the dense network and its first subnetwork share a basin by
    construction, and a barrier between them says nothing."""
    values = np.asarray(lii, dtype=float)
    holds = bool(np.all(np.isfinite(values)) and values.mean() >= STABLE_CUT)
    return Precondition(f"batch {batch}'s dense network is not stable at initialization (mean LII at round 0 at "
                        f"least {STABLE_CUT:g} points)", holds, f"its LII is {_spread(values)} points", part)


def controls_train(controls: dict, max_density: float, classes: int, part: int | None = None,
                   floor: float = TRAINS_FLOOR) -> Precondition:
    """Every seed of every control (arm -> (its runs, the tickets it is compared with)) trains at the low
    densities: its mean test accuracy there reaches chance + `floor` of its ticket's dense gain over chance. An
    advantage over a control that failed is a confound, not a win."""
    failed = {arm: failed_to_train(runs, tickets, max_density, classes, floor)
              for arm, (runs, tickets) in controls.items()}
    holds = not any(f.any() for f in failed.values())
    numbers = ", ".join(f"{arm}: {int(f.sum())} of {len(f)} failed" for arm, f in failed.items())
    return Precondition(f"the controls train at densities ≤ {100 * max_density:g}% (test accuracy at least chance + "
                        f"{floor:g} × the ticket's dense gain over chance)", holds, numbers, part)


def tickets_lost(advantage: np.ndarray, batch: int, margin: float, part: int | None = None) -> Precondition:
    """Plain IMP at batch `batch` has lost its tickets: its mean advantage over reinitialization at the low
    densities is under `margin` points (what there is to rescue)."""
    values = np.asarray(advantage, dtype=float)
    holds = bool(np.all(np.isfinite(values)) and values.mean() < margin)
    return Precondition(f"plain IMP at batch {batch} has lost its tickets (mean advantage over reinitialization "
                        f"under {margin:g} points)", holds, f"its advantage is {_spread(values, 2)} points", part)


def tickets_win(advantage: np.ndarray, batch: int, margin: float, part: int | None = None) -> Precondition:
    """Plain IMP at batch `batch` has tickets to lose: its mean advantage over reinitialization at the low
    densities is at least `margin` points (a loss that brings IMP down to reinitialization needs a gap)."""
    values = np.asarray(advantage, dtype=float)
    holds = bool(np.all(np.isfinite(values)) and values.mean() >= margin)
    return Precondition(f"plain IMP at batch {batch} has tickets (mean advantage over reinitialization at least "
                        f"{margin:g} points)", holds, f"its advantage is {_spread(values, 2)} points", part)


def threshold_collapses(thresholds: np.ndarray, batch: int, part: int | None = None) -> Precondition:
    """Batch `batch`'s pruning threshold (seeds × rounds) peaks before the last round in most seeds: a collapse
    can only be compared where it happened within the rounds run."""
    peaks = np.asarray(thresholds, dtype=float).argmax(axis=1)
    last = thresholds.shape[1] - 1
    before = int((peaks < last).sum())
    return Precondition(f"batch {batch}'s pruning threshold peaks before the last round (round {last}) in most "
                        f"seeds", before > len(peaks) / 2,
                        f"it peaks before it in {before} of {len(peaks)} (peak rounds {peaks.tolist()})", part)


def densities_reached(densities: np.ndarray, at_most: float, pairs: int, part: int | None = None) -> Precondition:
    """The rounds reach `at_most` of the weights remaining for at least `pairs` pairs of successive rounds (the
    later round of each at or below it)."""
    later = np.asarray(densities, dtype=float)[1:]
    found = int((later <= at_most + 1e-12).sum())
    return Precondition(f"at least {pairs} pairs of successive rounds reach {100 * at_most:g}% of the weights "
                        f"remaining", found >= pairs,
                        f"{found} do (the last round is at {100 * later.min():.2f}%)", part)
