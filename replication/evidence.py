"""Tables and figures that claims attach to their verdicts, in the paper's style."""

from __future__ import annotations

from typing import Any

import numpy as np

from .figures import FigureFolder, plot_by_density, plot_matrices
from .accuracy import failed_to_train, ticket_minus_dense
from .registry import TRAINS_FLOOR, Claim, Setup, labelled
from .report import Evidence, Figure, Table, by_density_table, markdown_table
from .similarity import distance_matrix
from .store import Run


def _per_round(runs: list[Run], metric: str, scale: float = 100.0) -> np.ndarray:
    """Seeds × rounds of the schedule (by round index: a control that trains only some rounds is NaN elsewhere)."""
    n = max((rec.index + 1 for r in runs for rec in r.rounds), default=0)
    out = np.full((len(runs), n), np.nan)
    for i, run in enumerate(runs):
        for rec in run.rounds:
            if rec.metrics.get(metric) is not None:
                out[i, rec.index] = scale * rec.metrics[metric]
    return out


def configuration(setup: Setup, runs: list[Run]) -> str:
    spec = runs[0].spec
    t, p = spec.train, spec.prune
    text = (f"`{setup.preset}`: {t.model} on {t.dataset}, {t.optimizer} lr {t.lr:g}"
            f"{f' momentum {t.momentum:g}' if t.optimizer == 'sgd' else ''}, {t.schedule} schedule, "
            f"{t.epochs} epochs, batch {t.batch_size}, weight decay {t.weight_decay:g}, "
            f"warm-up {t.warmup_epochs} epochs, {t.init} init{'' if t.precision == 'fp32' else ', ' + t.precision};"
            f" IMP prunes {p.fraction:.0%} of the surviving "
            f"weights per round globally, {p.rounds} rounds, reset to {p.reset}; {setup.seeds} seeds.")
    regimes = [f"{b} ({name})" for b, name in ((setup.unstable_batch, "unstable"),
                                                (setup.semistable_batch, "semistable"), (setup.stable_batch, "stable")) if b]
    if setup.warmup_epochs:
        text += f" Arms: with and without a {setup.warmup_epochs}-epoch warm-up, at batch {' and '.join(regimes)}."
    elif setup.weight_decay:
        text += f" Arms: weight decay {setup.weight_decay:g} against none, at batch {' and '.join(regimes)}."
    elif len(regimes) > 1:
        text += f" Batch sizes compared: {' and '.join(regimes)}."
    return text


def accuracy(figures: FigureFolder, claim: Claim, setup: Setup, arms: dict[str, list[Run]],
             name: str = "accuracy") -> Evidence:
    """Test accuracy by density per arm (keyed by registry.Arm or by name): a table and the Fig. 1-style plot."""
    values = {arm: _per_round(runs, "test_acc") for arm, runs in labelled(arms).items()}
    first = next(iter(arms.values()))
    fullest = max((run for runs in arms.values() for run in runs), key=lambda run: len(run.rounds))
    densities = np.array(fullest.metric("density"))  # a control trained at some rounds has only theirs
    width = min(v.shape[1] for v in values.values())
    values = {k: v[:, :width] for k, v in values.items()}
    path = figures.path(claim.id, name)
    plot_by_density(values, densities[:width], path, "test accuracy (%)", f"{claim.id} ({figures.scale})")
    return Evidence([Table("Test accuracy (%) by weights remaining", by_density_table(values, densities[:width]))],
                    [Figure("Test accuracy against % of weights remaining (log axis); mean over seeds, "
                            "band = min–max (as the paper's Fig. 1)", figures.link(path))],
                    configuration(setup, first), setup.differs)


def by_density(figures: FigureFolder, claim: Claim, name: str, values: dict[str, np.ndarray], densities,
               ylabel: str, table: str, caption: str, unit: str, digits: int = 2) -> Evidence:
    """Any per-round measure (arm -> seeds × rounds) against % of weights remaining: a table and a plot."""
    path, values = figures.path(claim.id, name), labelled(values)
    plot_by_density(values, densities, path, ylabel, f"{claim.id} ({figures.scale})")
    return Evidence([Table(table, by_density_table(values, densities, unit=unit, digits=digits))],
                    [Figure(caption, figures.link(path))])


def distances(figures: FigureFolder, claim: Claim, arms: dict[str, list[Run]], per_seed: dict[str, np.ndarray],
              title: str = "Mean angular distance between successive rounds, per seed",
              first_seed: dict[Any, np.ndarray] | None = None) -> Evidence:
    """Fig. 4-style matrices of the first seed (`first_seed`: arm -> its matrix, where the claim has them), and a
    per-seed summary table under `title`."""
    path = figures.path(claim.id, "distances")
    matrices = {arm: first_seed[arm] if first_seed else distance_matrix(runs[0]) for arm, runs in arms.items()}
    plot_matrices(labelled(matrices), path,
                  "Angular distance between trained networks of every pair of rounds (seed 0; last: init)")
    return Evidence([Table(title, per_seed_table(labelled(per_seed)))],
                    [Figure("Angular distance matrices (0 = same direction, 1 = orthogonal), as the paper's Fig. 4",
                            figures.link(path))])


def per_seed_table(per_seed: dict[str, np.ndarray], digits: int = 3) -> str:
    """Mean, sd, min and max over seeds of each arm's per-seed numbers."""
    stats = (np.nanmean, lambda v: np.nanstd(v, ddof=1), np.nanmin, np.nanmax)
    rows = [[name, *(f"{f(v):.{digits}f}" for f in stats)] for name, v in per_seed.items()]
    return markdown_table(["arm", "mean", "sd", "min", "max"], rows)


def instability_table(per_round: dict[str, dict[int, np.ndarray]], run: Run) -> Table:
    """LII per arm and round; the dense round is the paper's "stability at initialization", shown as context."""
    densities = run.metric("density")
    rows = []
    for arm, by_round in per_round.items():
        for index, values in sorted(by_round.items()):
            v = np.asarray(values)
            rows.append([arm, f"{index}{' (dense, context)' if index == 0 else ''}", f"{100 * densities[index]:.1f}",
                         f"{np.nanmean(v):.2f}", f"{np.nanstd(v, ddof=1):.2f}", f"{np.nanmin(v):.2f}",
                         f"{np.nanmax(v):.2f}"])
    return Table("Linear interpolation instability (points of test error, 30 points on the path); the claim "
                 "reads the subnetworks' rounds",
                 markdown_table(["arm", "round", "% remaining", "mean", "sd", "min", "max"], rows))


def winning_tickets(setup: Setup, classes: int, tickets: dict, reinits: dict | None = None) -> Evidence:
    """Per arm (keyed by batch size, or "" for one): the ticket at low densities minus its own dense network,
    per seed; and how many reinitializations failed to train there (below TRAINS_FLOOR), whose advantage is a
    confound rather than a win."""
    low = f"densities ≤ {100 * setup.low_density:g}%"
    name = lambda key: f"batch {key}" if key != "" else "IMP"  # noqa: E731
    tables = [Table(f"Winning tickets: the ticket's mean test accuracy at {low} minus its own dense network's "
                    f"(points), per seed", per_seed_table({name(k): ticket_minus_dense(v, setup.low_density)
                                                           for k, v in tickets.items()}, digits=2))]
    if reinits:
        rows = []
        for key, runs in reinits.items():
            failed = failed_to_train(runs, tickets[key], setup.low_density, classes, TRAINS_FLOOR)
            rows.append([name(key), f"{int(failed.sum())} of {len(failed)}",
                         "a confound: the advantage over these is not a win" if failed.any() else "all trained"])
        tables.append(Table(f"Reinitializations that failed to train at {low} (test accuracy below chance + "
                            f"{TRAINS_FLOOR:g} × the ticket's dense gain over chance)",
                            markdown_table(["arm", "failed", "reading"], rows)))
    return Evidence(tables)
