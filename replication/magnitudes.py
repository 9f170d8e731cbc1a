"""Weight magnitudes under IMP (paper Figs. 5–7): pruning thresholds and the shape of the surviving weights."""

from __future__ import annotations

import numpy as np
import torch

from .masks import prune_global
from .store import Run


def thresholds(run: Run) -> np.ndarray:
    """Pruning threshold (largest magnitude pruned) that produced each round's mask."""
    return np.array(run.metric("threshold"), dtype=float)


def own_thresholds(run: Run, weights: str = "trained") -> np.ndarray:
    """Per round, the threshold the next prune of *this run's own* weights would use: its trained weights, or
    (weights="start") the masked weights the round's training began from.

    For IMP it equals the next round's recorded threshold; for reinitializations (whose
    masks come from IMP) it is the comparable number the paper plots for them. Against
    the start's, it is what training itself added: a mask that keeps the largest initial
    values raises the threshold of the start weights with no training at all.
    """
    fraction = run.spec.prune.fraction
    return np.array([prune_global({n: getattr(r, weights)[n] for n in r.mask}, r.mask, fraction).threshold
                     for r in run.rounds])


def threshold_growth(run: Run, trained: np.ndarray | None = None) -> np.ndarray:
    """Per round: log(threshold of the trained weights / threshold of the same round's start weights). `trained`
    is the run's `own_thresholds` where the caller has them already (a prune of every round's weights each)."""
    return np.log((own_thresholds(run) if trained is None else trained) / own_thresholds(run, "start"))


def surviving_weights(record, weights: str = "trained") -> np.ndarray:
    """The values of the weights a round's mask keeps, flattened: trained, or (weights="start") at the start."""
    values = getattr(record, weights)
    return torch.cat([values[n][m > 0].flatten() for n, m in record.mask.items()]).double().numpy()


def bimodality_coefficient(values: np.ndarray) -> float:
    """Sarle's bimodality coefficient (skew² + 1) / (excess kurtosis + 3(n−1)²/((n−2)(n−3))).

    About 0.33 for a normal, 0.555 for a uniform; above 0.555 suggests two modes
    (for weights: two humps away from zero, few near it).
    """
    from scipy import stats as sps

    n = len(values)
    skew = float(sps.skew(values, bias=False))
    kurt = float(sps.kurtosis(values, bias=False))
    return (skew ** 2 + 1) / (kurt + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
