"""Similarity of sparse networks: angular (and cosine, Euclidean) distances between trained rounds.

    d(θ₁, θ₂) = 2·∠(θ₁⊙m, θ₂⊙m)/π,  m = m₁ ⊙ m₂   (0: same direction, 1: orthogonal)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .masks import Mask
from .store import Run


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


def mean_successive_distance(runs: list[Run], kind: str = "angular") -> np.ndarray:
    """Each run's mean distance between the trained networks of successive rounds."""
    return np.array([float(np.mean(successive_distances(r, kind))) if len(r.rounds) > 1 else math.nan for r in runs])


def shared_region(run: Run) -> float:
    """Mean over rounds r of d(r, initialization) − d(r, r+1): positive when each round's trained network lies
    closer to the next round's than to the initialization both restart from. Two networks trained to regions of
    their own from one start lie farther from each other than from it (claim 7)."""
    d = distance_matrix(run)
    rounds = len(d) - 1  # the last row and column are the initialization
    return float(np.mean([d[r, -1] - d[r, r + 1] for r in range(rounds - 1)])) if rounds > 1 else math.nan


def return_to_two_back(matrix: np.ndarray) -> float:
    """Of a run's `distance_matrix`: the mean over rounds r ≥ 3 of d(r, r−3) − d(r, r−2), positive when round r
    lies closer to the round two back than to the one three back, the checkerboard of claim 6 (r−1, which that
    loss repels, is left out)."""
    d = matrix[:-1, :-1]
    return float(np.mean([d[r, r - 3] - d[r, r - 2] for r in range(3, len(d))])) if len(d) > 3 else math.nan


def push_from_previous(matrix: np.ndarray) -> float:
    """Of a run's `distance_matrix`: the mean over rounds r ≥ 2 of d(r, r−1) − d(r, r−2), positive when round r
    lies farther from the previous round than from the one before it (what repelling the previous optimum does by
    itself)."""
    d = matrix[:-1, :-1]
    return float(np.mean([d[r, r - 1] - d[r, r - 2] for r in range(2, len(d))])) if len(d) > 2 else math.nan
