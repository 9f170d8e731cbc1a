"""Instability of IMP's subnetworks, and barriers between its rounds: measured on stored runs.

The instability of round r is the LII between the round's own trained network
and its second training (`spec.copy_of(r)`: the same start and mask, SGD noise
of its own), which the runner computes and stores like any run. Nothing here trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import TensorData
from .landscape import error_barrier, instability
from .models import fresh_model
from .registry import STABLE_CUT, TRAINS_FLOOR, UNSTABLE_CUT, training_bar
from .store import Run

# Measures are kept in the run store under their key (Lab._measure); bump this when what one computes changes
# (the interpolation, the batch-norm recomputation, the examples read), so that stored ones are not read back.
MEASURES_VERSION = 1


def round_instability(runs: list[Run], copies: list[Run], data: TensorData, bn: str = "recompute",
                      examples: int | None = None) -> list[float]:
    """LII (points of test error) of the round each copy repeats, per run; NaN where the run stopped
    (diverged) before that round, so that there is nothing to compare."""
    out = []
    for run, copy in zip(runs, copies, strict=True):
        index = copy.spec.copy_round
        if copy.spec.source() != run.spec:
            raise ValueError(f"{copy.spec.hash()} is not a second training of {run.spec.hash()}")
        if index >= len(run.rounds) or not copy.rounds:
            out.append(math.nan)
            continue
        model = fresh_model(run.spec, data, 0).to(data.x_train.device)
        out.append(instability(model, run.rounds[index].trained, copy.rounds[0].trained, data, bn=bn,
                               examples=examples))
    return out


def subnetwork_instability(by_round: dict[int, np.ndarray], rounds: tuple[int, ...]) -> np.ndarray:
    """Per seed: the mean LII over the subnetwork rounds a claim reads (never the dense round 0 unless named)."""
    return np.mean([by_round[r] for r in rounds], axis=0)


def successive_barriers(run: Run, data: TensorData, bn: str = "recompute", examples: int | None = None) -> list[float]:
    """Error barrier (points of training error, 20 points) between the trained networks of rounds r and r+1."""
    model = fresh_model(run.spec, data, 0).to(data.x_train.device)
    rounds = run.rounds
    return [error_barrier(model, a.trained, b.trained, data, bn=bn, examples=examples) for a, b in zip(rounds, rounds[1:])]


# -- a stability probe's rule (replication/probe.py runs the probe; its docstring states the rule) ------------
FAILS, UNSTABLE, SEMISTABLE, STABLE = "fails", "unstable", "semistable", "stable"


@dataclass(frozen=True)
class BatchStability:
    batch: int
    lii: dict[int, list[float]]  # round -> per-seed LII (points)
    dense_accuracy: list[float]  # per seed (%), NaN where it diverged

    @property
    def mean_lii(self) -> float:
        return float(np.mean([np.mean(v) for v in self.lii.values()]))

    def per_seed(self) -> np.ndarray:
        """Each seed's mean LII over the probe's rounds."""
        return np.mean([np.asarray(v, dtype=float) for v in self.lii.values()], axis=0)


def classify(results: list[BatchStability], classes: int, trains_floor: float = TRAINS_FLOOR,
             rule: str = "absolute") -> dict[int, str]:
    """Each batch size's regime by the probe's rule (replication/probe.py): absolute cuts on every seed, or the
    first probes' relative rule."""
    if rule not in ("absolute", "relative"):
        raise ValueError(f"a probe's rule is 'absolute' or 'relative', got {rule!r}")
    best = max(np.mean(r.dense_accuracy) for r in results if np.all(np.isfinite(r.dense_accuracy)))
    floor = training_bar(best, classes, trains_floor)
    trains = {r.batch: bool(np.all(np.isfinite(r.dense_accuracy)) and min(r.dense_accuracy) >= floor
                            and all(np.all(np.isfinite(v)) for v in r.lii.values())) for r in results}
    largest = max((r.mean_lii for r in results if trains[r.batch]), default=math.nan)
    out = {}
    for r in results:
        if not trains[r.batch]:
            out[r.batch] = FAILS
        elif rule == "absolute":
            seeds = r.per_seed()
            out[r.batch] = UNSTABLE if seeds.min() >= UNSTABLE_CUT else STABLE if seeds.max() < STABLE_CUT else SEMISTABLE
        else:
            out[r.batch] = (STABLE if r.mean_lii < STABLE_CUT else UNSTABLE if r.mean_lii > largest / 2
                            else SEMISTABLE)
    return out
