"""Accuracy by density: what the ticket-against-control claims compare.

Functions take `Run` objects and return plain numbers, arrays or DataFrames,
which the statistics and the report consume.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .registry import training_bar
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


# -- per-seed summaries (what the statistics consume) ----------------------------------

def rounds_at_or_below(run: Run, max_density: float) -> list[int]:
    """Round indices whose density is at most max_density (the "low densities" of a claim)."""
    return [r.index for r in run.rounds if r.metrics["density"] <= max_density + 1e-12]


def mean_over_rounds(runs: list[Run], rounds: list[int], metric: str = "test_acc", scale: float = 100.0) -> np.ndarray:
    """Each run's mean of `metric` over `rounds` (indices of the schedule); NaN if any of them diverged or is
    missing."""
    out = []
    for run in runs:
        values = [record.metrics[metric] if (record := run.at(i)) is not None else None for i in rounds]
        out.append(math.nan if not values or any(v is None for v in values) else scale * float(np.mean(values)))
    return np.array(out)


def low_density_accuracy(runs: list[Run], max_density: float, rounds_of: Run | None = None) -> np.ndarray:
    """Each run's mean test accuracy (%) over the rounds at or below max_density: those of `rounds_of`
    (default: the first run), so that arms paired by seed are averaged over the same rounds."""
    return mean_over_rounds(runs, rounds_at_or_below(rounds_of or runs[0], max_density))


def dense_accuracy(runs: list[Run]) -> np.ndarray:
    """Each run's dense network (round 0): its test accuracy (%), NaN where it diverged."""
    return mean_over_rounds(runs, [0])


def ticket_minus_dense(tickets: list[Run], max_density: float) -> np.ndarray:
    """Per seed: the ticket's mean test accuracy over the rounds at or below max_density minus its own dense
    network's (points). A winning ticket, in the paper's sense, retrains to the dense accuracy: this is ≥ 0."""
    return low_density_accuracy(tickets, max_density) - dense_accuracy(tickets)


def failed_to_train(runs: list[Run], tickets: list[Run], max_density: float, classes: int,
                    floor: float) -> np.ndarray:
    """Per seed: did the run fail to train at the low densities? Its mean test accuracy there is below the
    training bar set by its ticket's dense network (diverged counts as failed). A ticket's advantage over a
    control that failed is a confound, not a win."""
    accuracy = low_density_accuracy(runs, max_density, tickets[0])
    return ~(accuracy >= training_bar(dense_accuracy(tickets), classes, floor))


def ticket_advantage(tickets: list[Run], reinits: list[Run], max_density: float) -> np.ndarray:
    """Per seed: the ticket's mean test accuracy minus its random reinitialization's (points), over the
    rounds at or below max_density."""
    return low_density_accuracy(tickets, max_density) - low_density_accuracy(reinits, max_density, tickets[0])
