"""The instability map: where IMP's *subnetworks* become unstable (the paper's mechanism).

The paper's unstable ResNet-20 (batch 128) has subnetworks whose linear interpolation
instability (LII) stays at 69–83 points at rounds 5, 10 and 15; its stable batches
(1024, 2048) have about 0. At the smoke, small and medium scales only the dense
network is unstable. The map measures, at the medium shape (ResNet-20 width 8,
8,192 Fashion-MNIST images at 14×14, SGD lr 0.1, momentum 0.9), how the subnetworks'
LII moves with the length of a round, the batch size, Table 1's step schedule,
augmentation, and with equal optimizer steps at a larger batch: the paper fixes the
epochs, so its larger batches also train for fewer steps (PAPER.md, "Training length").

The map and its rule were declared in one commit, before any of the map's runs and
before any IMP run of the scale it chooses (`long`). The rule:

- The claims at the long scale read the subnetworks at rounds 5 and 10 (32.8% and
  10.7% of the weights remaining, the paper's first two reading points). A seed's
  instability is its mean LII over those two rounds; the dense round 0 and round 2
  (64%) are measured beside them as context and never decide.
- unstable: every seed's instability is at least UNSTABLE_CUT points;
  stable: every seed's is under STABLE_CUT (the usual 2-point cut);
  between: neither; fails: some seed's dense network, or its subnetwork at a round
  read, does not train (test accuracy below chance + TRAINS_FLOOR of the best
  cell's mean dense gain over chance).
- The long scale's setting is the cheapest setting (schedule, epochs a round,
  augmentation; cost = the unstable batch's steps a round) at which batch
  UNSTABLE_BATCH is unstable and a larger batch of the same setting is stable.
  If no setting qualifies, the map is itself the finding: the scale then reads the
  rounds where the contrast exists, and its report says so in its first lines.
  Operationally (declared before any IMP run of the scale, with three of the map's
  eleven cells still training): among the settings with a batch-UNSTABLE_BATCH cell
  and a larger batch's cell that both train, the subnetwork rounds the map measured
  (2, 5 and 10) at which every seed of the first has an LII of at least UNSTABLE_CUT
  and every seed of the second one under STABLE_CUT; the cheapest setting with at
  least one such round is picked, and the scale's claims read those rounds. Where no
  setting has one, the scale runs nothing: the map is the whole finding.

Absolute cuts, unlike the older probes' "half the largest LII of the sweep": adding
a cell to the map never relabels another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .registry import STABLE_CUT, TRAINS_FLOOR, UNSTABLE_CUT, Probe, training_bar  # noqa: F401 (cuts re-exported)

PRESET = "resnet20-fashion-mnist-sgd"
TRAIN_IMAGES = 8192  # data.REDUCED["fashion-mnist-8k-14px"]
READ_ROUNDS = (5, 10)  # the subnetworks the long scale's claims read
CONTEXT_ROUNDS = (0, 2)  # measured beside them, never decide by the main rule
SUBNETWORK_ROUNDS = (2, 5, 10)  # every subnetwork round measured: the fallback may read any of them
UNSTABLE_BATCH = 16
FAILS, UNSTABLE, BETWEEN, STABLE = "fails", "unstable", "between", "stable"
# Table 1's ResNet-20 step schedule divides the learning rate by 10 at epochs 56 and 71 of 85; a round of E
# epochs keeps those fractions.
STEP_AT = (56 / 85, 71 / 85)
# Table 1 crops CIFAR-10's 32 pixels with a pad of 4 (12.5%); 2 of 14 pixels keeps about that share.
PAD = 2


@dataclass(frozen=True)
class Cell:
    """One setting of the map at one batch size: a Probe of the medium preset with these overrides."""

    batch: int
    epochs: int
    schedule: str = "step"  # "step" (Table 1's, scaled to the round) or "constant"
    augment: bool = False
    seeds: int = 2
    why: str = ""  # which axis of the map it stands on
    preset: str = PRESET

    @property
    def steps(self) -> int:
        """Optimizer steps a round."""
        return self.epochs * math.ceil(TRAIN_IMAGES / self.batch)

    @property
    def setting(self) -> tuple[str, int, bool]:
        """What the cell shares with the other batch sizes it is compared with."""
        return self.schedule, self.epochs, self.augment

    @property
    def label(self) -> str:
        aug = ", augmented" if self.augment else ""
        return f"batch {self.batch}, {self.epochs} epochs, {self.schedule}{aug}"

    def overrides(self) -> tuple[tuple[str, object], ...]:
        out: tuple[tuple[str, object], ...] = (("epochs", self.epochs),)
        if self.schedule == "step":
            out += (("schedule", "step"), ("milestones", tuple(round(f * self.epochs) for f in STEP_AT)))
        if self.augment:
            out += (("augment", True), ("augment_pad", PAD))
        return out

    def probe(self) -> Probe:
        return Probe(self.preset, (self.batch,), self.seeds, self.overrides(), rounds=CONTEXT_ROUNDS + READ_ROUNDS)


# The map, in the order it runs (the most decisive cells first, so that a sitting cut short has them). Its cost,
# at one thread's measured 6 s an epoch at batch 16, 4.2 at 64 and 3.8 at 256 (each seed: 11 IMP rounds and 4
# second trainings): about 19,000 worker-seconds, 2.7 hours with two workers; the store resumes across sittings.
MAP: tuple[Cell, ...] = (
    Cell(16, 8, why="length"), Cell(256, 8, why="batch"),
    Cell(16, 16, why="length"), Cell(256, 16, why="batch"),
    Cell(64, 8, why="batch"), Cell(16, 4, why="length"),
    Cell(16, 8, schedule="constant", why="schedule"),
    Cell(16, 8, augment=True, why="augmentation"),
    Cell(64, 32, why="equal steps: batch 64 for batch 16's 4,096 steps at 8 epochs"),
    Cell(16, 32, seeds=1, why="length"), Cell(256, 32, seeds=1, why="batch"),
)

MAPS = {"long": MAP}  # the scales whose setting a map chooses


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    lii: dict[int, list[float]]  # round -> per-seed LII (points)
    accuracy: dict[int, list[float]]  # round -> per-seed test accuracy (%) of the IMP run, NaN where it diverged

    @property
    def dense_accuracy(self) -> list[float]:
        return self.accuracy[0]

    def instability(self) -> list[float]:
        """Each seed's mean LII over the rounds the claims read."""
        return [sum(self.lii[r][i] for r in READ_ROUNDS) / len(READ_ROUNDS) for i in range(self.cell.seeds)]


def trains(result: CellResult, best_dense: float, classes: int, trains_floor: float = TRAINS_FLOOR) -> bool:
    """Every seed's dense network and the subnetworks read train: two copies stuck at chance are "linearly
    connected" by an LII of 0, which is failure, not stability."""
    floor = training_bar(best_dense, classes, trains_floor)
    return all(math.isfinite(a) and a >= floor for r in (0, *READ_ROUNDS) for a in result.accuracy[r]) and all(
        math.isfinite(v) for values in result.lii.values() for v in values)


def regime(result: CellResult, best_dense: float, classes: int) -> str:
    """The cell's regime by the module's rule."""
    if not trains(result, best_dense, classes):
        return FAILS
    seeds = result.instability()
    return UNSTABLE if min(seeds) >= UNSTABLE_CUT else STABLE if max(seeds) < STABLE_CUT else BETWEEN


def regimes(results: list[CellResult], classes: int) -> dict[Cell, str]:
    best = max(sum(r.dense_accuracy) / len(r.dense_accuracy) for r in results
               if all(math.isfinite(a) for a in r.dense_accuracy))
    return {r.cell: regime(r, best, classes) for r in results}


def choose(found: dict[Cell, str]) -> tuple[Cell, Cell] | None:
    """The cheapest setting with an unstable batch UNSTABLE_BATCH and a stable larger batch: (unstable, stable)
    cells, or None where no setting has both."""
    pairs = [(u, s) for u in found for s in found
             if u.batch == UNSTABLE_BATCH and found[u] == UNSTABLE and s.setting == u.setting
             and s.batch > u.batch and found[s] == STABLE]
    return min(pairs, key=lambda p: (p[0].steps, -p[1].batch), default=None)


@dataclass(frozen=True)
class Pick:
    """What the map decides for its scale: the unstable and the stable cell of one setting, and the subnetwork
    rounds the scale's claims read (READ_ROUNDS, or where the fallback found the contrast)."""

    unstable: Cell
    stable: Cell
    rounds: tuple[int, ...] = READ_ROUNDS

    @property
    def fallback(self) -> bool:
        return self.rounds != READ_ROUNDS


def contrast_rounds(small: CellResult, large: CellResult) -> tuple[int, ...]:
    """The subnetwork rounds at which every seed of `small` is unstable and every seed of `large` stable, each
    round judged alone by the cuts."""
    return tuple(r for r in SUBNETWORK_ROUNDS
                 if min(small.lii[r]) >= UNSTABLE_CUT and max(large.lii[r]) < STABLE_CUT)


def decide(results: list[CellResult], classes: int) -> Pick | None:
    """The module's rule on the cells measured: `choose`, else the fallback on single rounds, else None."""
    if not results:
        return None
    found = regimes(results, classes)
    chosen = choose(found)
    if chosen:
        return Pick(*chosen)
    by_cell = {r.cell: r for r in results}
    pairs = [Pick(u, s, contrast_rounds(by_cell[u], by_cell[s])) for u in found for s in found
             if u.batch == UNSTABLE_BATCH and s.setting == u.setting and s.batch > u.batch
             and FAILS not in (found[u], found[s])]
    return min((p for p in pairs if p.rounds), key=lambda p: (p.unstable.steps, -p.stable.batch), default=None)
