"""The stability probe: which batch sizes are unstable, semistable and stable at a scale.

The paper names its regimes by the linear interpolation instability (ResNet-20,
Fig. 2): unstable at batch 64–256 (LII about 70–83 points), semistable at 512
(22–42, and IMP needs a warm-up there), stable at 1024–2048 (about 0). A scale
declares its stand-ins for these from this probe, run before any of its claims'
IMP runs: per batch size and seed, IMP for a few rounds and a second training of
the dense round and of an early subnetwork.

The rule, declared before any probe ran:

- fails: some seed's dense network does not train (it diverged, or its test
  accuracy is below chance + registry.TRAINS_FLOOR × (the best batch's mean
  dense accuracy − chance)). Failure to train is not instability.
- stable: mean LII (over seeds and the probe's rounds) below STABLE_CUT, the
  2-point cut of Frankle et al. that the paper uses too.
- unstable: mean LII above half the largest mean LII among the batch sizes
  that train.
- semistable: in between: at least the cut, at most half the largest.

A scale without a semistable batch size does not run the claims about the
semistable regime (2, 8's third part and 9); it says so instead.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .presets import preset
from .spec import ExperimentSpec

STABLE_CUT = 2.0  # points of test error
FAILS, UNSTABLE, SEMISTABLE, STABLE = "fails", "unstable", "semistable", "stable"


@dataclass(frozen=True)
class Probe:
    """The probe of one scale: a preset (with overrides), the batch sizes it sweeps, seeds, and the rounds
    whose LII it reads (the dense round and an early subnetwork)."""

    preset: str
    batch_sizes: tuple[int, ...]
    seeds: int
    overrides: tuple[tuple[str, Any], ...] = ()
    rounds: tuple[int, ...] = (0, 2)
    # What the probe found when it ran (batch, regime), declared with it so that tests can hold every setup on
    # this preset to it: its semistable arm semistable, its unstable arm unstable, its stable arm stable.
    found: tuple[tuple[int, str], ...] = ()

    def covers(self, preset_name: str, overrides: tuple[tuple[str, Any], ...]) -> bool:
        """Does this probe calibrate a setup on this preset with these overrides (the same training)?"""
        return preset_name == self.preset and dict(overrides) == dict(self.overrides)

    def imp(self, batch: int) -> list[ExperimentSpec]:
        spec = preset(self.preset, **{**dict(self.overrides), "batch_size": batch})
        spec = spec.with_(prune=dataclasses.replace(spec.prune, rounds=max(self.rounds)))
        return [spec.with_(init_seed=s, noise_seed=s) for s in range(self.seeds)]

    def arms(self) -> dict[str, list[ExperimentSpec]]:
        arms: dict[str, list[ExperimentSpec]] = {}
        for b in self.batch_sizes:
            imp = self.imp(b)
            arms[f"IMP batch {b}"] = imp
            arms[f"second trainings, batch {b}"] = [s.copy_of(r) for r in self.rounds for s in imp]
        return arms


@dataclass(frozen=True)
class BatchStability:
    batch: int
    lii: dict[int, list[float]]  # round -> per-seed LII (points)
    dense_accuracy: list[float]  # per seed (%), NaN where it diverged

    @property
    def mean_lii(self) -> float:
        return float(np.mean([np.mean(v) for v in self.lii.values()]))


def classify(results: list[BatchStability], classes: int, trains_floor: float) -> dict[int, str]:
    """Each batch size's regime by the module's rule (trains_floor: registry.TRAINS_FLOOR)."""
    chance = 100.0 / classes
    best = max(np.mean(r.dense_accuracy) for r in results if np.all(np.isfinite(r.dense_accuracy)))
    floor = chance + trains_floor * (best - chance)
    trains = {r.batch: bool(np.all(np.isfinite(r.dense_accuracy)) and min(r.dense_accuracy) >= floor
                            and all(np.all(np.isfinite(v)) for v in r.lii.values())) for r in results}
    largest = max((r.mean_lii for r in results if trains[r.batch]), default=math.nan)
    out = {}
    for r in results:
        out[r.batch] = (FAILS if not trains[r.batch] else STABLE if r.mean_lii < STABLE_CUT
                        else UNSTABLE if r.mean_lii > largest / 2 else SEMISTABLE)
    return out


def measure(lab, probe: Probe) -> list[BatchStability]:
    """Runs the probe through the lab (stored, resumable) and reads its LII and dense accuracy."""
    from .accuracy import dense_accuracy  # here: the registry imports this module and stays torch-free

    runs = lab.arms(probe.arms())
    out = []
    for b in probe.batch_sizes:
        imp = runs[f"IMP batch {b}"]
        lii = lab.instability(imp, runs[f"second trainings, batch {b}"])
        out.append(BatchStability(b, {r: v.tolist() for r, v in sorted(lii.items())}, dense_accuracy(imp).tolist()))
    return out


def table(results: list[BatchStability], regimes: dict[int, str]) -> str:
    rows = []
    for r in results:
        cells = [f"{np.mean(v):.2f} ({min(v):.1f}–{max(v):.1f})" for v in r.lii.values()]
        acc = np.asarray(r.dense_accuracy)
        rows.append([r.batch, *cells, f"{r.mean_lii:.2f}", f"{np.nanmean(acc):.1f} (min {np.nanmin(acc):.1f}, "
                     f"{int(np.sum(~np.isfinite(acc)))} diverged)", regimes[r.batch]])
    rounds = [f"LII round {k}" for k in results[0].lii]
    from .report import markdown_table

    return markdown_table(["batch", *rounds, "mean LII", "dense accuracy %", "regime"], rows)
