"""Measures on stored runs: accuracy by density, angular distances, pruning thresholds.

Functions take `Run` objects (or their weights) and return plain numbers,
arrays or DataFrames, which the statistics and the report consume.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .masks import Mask
from .store import Run


# -- accuracy by density -----------------------------------------------------------

def accuracy_frame(runs: dict[str, list[Run]], metric: str = "test_acc") -> pd.DataFrame:
    """Long table: arm, seed, round, density, value (None where a round diverged or is missing)."""
    rows = []
    for arm, arm_runs in runs.items():
        for run in arm_runs:
            for r in run.rounds:
                rows.append({"arm": arm, "seed": run.spec.init_seed, "round": r.index,
                             "density": r.metrics["density"], "value": r.metrics[metric],
                             "diverged": r.metrics["diverged"]})
    return pd.DataFrame(rows)


def accuracy_by_density(runs: dict[str, list[Run]], metric: str = "test_acc") -> str:
    """A printable table: % weights remaining, then mean ± sd accuracy (%) per arm over seeds."""
    frame = accuracy_frame(runs, metric)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce") * 100
    stats = frame.groupby(["round", "arm"])["value"].agg(["mean", "std", "count"]).unstack("arm")
    density = frame.groupby("round")["density"].first()
    arms = list(runs)
    n = {arm: len(runs[arm]) for arm in arms}
    header = f"{'round':>5} {'% remaining':>12} " + " ".join(f"{arm + f' (n={n[arm]})':>18}" for arm in arms)
    lines = [header, "-" * len(header)]
    for rnd in density.index:
        cells = []
        for arm in arms:
            mean, sd = stats.loc[rnd, ("mean", arm)], stats.loc[rnd, ("std", arm)]
            cells.append(f"{'diverged':>18}" if math.isnan(mean) else
                         f"{mean:11.2f} ± {0.0 if math.isnan(sd) else sd:4.2f}")
        lines.append(f"{rnd:>5} {100 * density[rnd]:12.2f} " + " ".join(cells))
    return "\n".join(lines)


# -- distances between sparse networks ---------------------------------------------

def _shared_vectors(w1: dict[str, torch.Tensor], m1: Mask, w2: dict[str, torch.Tensor], m2: Mask):
    names = list(m1)
    shared = torch.cat([(m1[n] * m2[n]).flatten() for n in names])
    a = torch.cat([w1[n].flatten().double() for n in names]) * shared
    b = torch.cat([w2[n].flatten().double() for n in names]) * shared
    return a, b


def angular_distance(w1, m1: Mask, w2, m2: Mask) -> float:
    """2·∠(θ₁⊙m, θ₂⊙m)/π over the weights both masks keep: 0 same direction, 1 orthogonal."""
    a, b = _shared_vectors(w1, m1, w2, m2)
    cos = float(torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-300))
    return 2 * math.acos(max(-1.0, min(1.0, cos))) / math.pi


def cosine_distance(w1, m1: Mask, w2, m2: Mask) -> float:
    a, b = _shared_vectors(w1, m1, w2, m2)
    return 1 - float(torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-300))


def euclidean_distance(w1, m1: Mask, w2, m2: Mask) -> float:
    a, b = _shared_vectors(w1, m1, w2, m2)
    return float((a - b).norm())


DISTANCES = {"angular": angular_distance, "cosine": cosine_distance, "euclidean": euclidean_distance}


def distance_matrix(run: Run, kind: str = "angular") -> np.ndarray:
    """(R+1)×(R+1): trained networks of every pair of rounds, last row/column against the initialization."""
    measure = DISTANCES[kind]
    nets = [(r.trained, r.mask) for r in run.rounds] + [(run.init, run.rounds[0].mask)]
    size = len(nets)
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            out[i, j] = out[j, i] = measure(nets[i][0], nets[i][1], nets[j][0], nets[j][1])
    return out


def successive_distances(run: Run, kind: str = "angular") -> np.ndarray:
    """Distance between the trained networks of rounds r and r+1, for every r."""
    measure = DISTANCES[kind]
    rs = run.rounds
    return np.array([measure(a.trained, a.mask, b.trained, b.mask) for a, b in zip(rs, rs[1:])])


def thresholds(run: Run) -> np.ndarray:
    """Pruning threshold (largest magnitude pruned) that produced each round's mask."""
    return np.array(run.metric("threshold"), dtype=float)


# -- per-seed summaries (what the statistics consume) ----------------------------------

def rounds_at_or_below(run: Run, max_density: float) -> list[int]:
    """Round indices whose density is at most max_density (the "low densities" of a claim)."""
    return [r.index for r in run.rounds if r.metrics["density"] <= max_density + 1e-12]


def mean_over_rounds(runs: list[Run], rounds: list[int], metric: str = "test_acc", scale: float = 100.0) -> np.ndarray:
    """Each run's mean of `metric` over `rounds`; NaN if any of them diverged or is missing."""
    out = []
    for run in runs:
        values = [run.rounds[i].metrics[metric] if i < len(run.rounds) else None for i in rounds]
        out.append(math.nan if not values or any(v is None for v in values) else scale * float(np.mean(values)))
    return np.array(out)


def mean_successive_distance(runs: list[Run], kind: str = "angular") -> np.ndarray:
    """Each run's mean distance between the trained networks of successive rounds."""
    return np.array([float(np.mean(successive_distances(r, kind))) if len(r.rounds) > 1 else math.nan for r in runs])


# -- weight magnitudes (paper Figs. 5–7) ---------------------------------------------------

def own_thresholds(run: Run) -> np.ndarray:
    """Per round, the threshold the next prune of *this run's own* trained weights would use.

    For IMP it equals the next round's recorded threshold; for reinitializations (whose
    masks come from IMP) it is the comparable number the paper plots for them.
    """
    from .masks import prune_global

    fraction = run.spec.prune.fraction
    return np.array([prune_global({n: r.trained[n] for n in r.mask}, r.mask, fraction).threshold
                     for r in run.rounds])


def surviving_weights(record) -> np.ndarray:
    """The trained values of the weights a round's mask keeps, flattened."""
    return torch.cat([record.trained[n][m > 0].flatten() for n, m in record.mask.items()]).double().numpy()


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
