"""Tables and figures that claims attach to their verdicts, in the paper's style."""

from __future__ import annotations

from typing import Any

import numpy as np

from .similarity import distance_matrix
from .lab import Lab
from .registry import Claim, Setup
from .report import by_density_table, markdown_table, plot_by_density, plot_matrices
from .store import Run


def _per_round(runs: list[Run], metric: str, scale: float = 100.0) -> np.ndarray:
    n = max(len(r.rounds) for r in runs)
    out = np.full((len(runs), n), np.nan)
    for i, run in enumerate(runs):
        for j, rec in enumerate(run.rounds):
            if rec.metrics.get(metric) is not None:
                out[i, j] = scale * rec.metrics[metric]
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
    small, large = setup.small_batch, setup.large_batch
    if setup.warmup_epochs:
        text += (f" Arms: with and without a {setup.warmup_epochs}-epoch warm-up, at batch {small} (semistable) "
                 f"and {large} (stable).")
    elif setup.weight_decay:
        text += f" Arms: weight decay {setup.weight_decay:g} against none, at batch {small} (semistable)."
    elif small and large:
        text += f" Batch sizes compared: {small} (unstable) and {large} (stable)."
    return text


def accuracy(lab: Lab, claim: Claim, setup: Setup, arms: dict[str, list[Run]], name: str = "accuracy") -> dict[str, Any]:
    """Test accuracy by density per arm: a table and the Fig. 1-style plot."""
    values = {arm: _per_round(runs, "test_acc") for arm, runs in arms.items()}
    first = next(iter(arms.values()))[0]
    densities = np.array(first.metric("density"))
    width = min(v.shape[1] for v in values.values())
    values = {k: v[:, :width] for k, v in values.items()}
    path = lab.figure_path(claim, name)
    plot_by_density(values, densities[:width], path, "test accuracy (%)", f"{claim.id} ({lab.scale})")
    return {"tables": [{"title": "Test accuracy (%) by weights remaining", "markdown":
                        by_density_table(values, densities[:width])}],
            "figures": [{"caption": "Test accuracy against % of weights remaining (log axis); mean over seeds, "
                                    "band = min–max (as the paper's Fig. 1)", "path": relative(lab, path)}],
            "configuration": configuration(setup, next(iter(arms.values()))),
            "differs": setup.differs}


def distances(lab: Lab, claim: Claim, arms: dict[str, list[Run]], per_seed: dict[str, np.ndarray],
              title: str = "Mean angular distance between successive rounds, per seed") -> dict[str, Any]:
    """Fig. 4-style matrices of the first seed, and a per-seed summary table under `title`."""
    path = lab.figure_path(claim, "distances")
    plot_matrices({arm: distance_matrix(runs[0]) for arm, runs in arms.items()}, path,
                  "Angular distance between trained networks of every pair of rounds (seed 0; last: init)")
    rows = [[arm, f"{np.nanmean(v):.3f}", f"{np.nanstd(v, ddof=1):.3f}", f"{np.nanmin(v):.3f}", f"{np.nanmax(v):.3f}"]
            for arm, v in per_seed.items()]
    return {"tables": [{"title": title,
                        "markdown": markdown_table(["arm", "mean", "sd", "min", "max"], rows)}],
            "figures": [{"caption": "Angular distance matrices (0 = same direction, 1 = orthogonal), as the "
                                    "paper's Fig. 4", "path": relative(lab, path)}]}


def instability_table(per_round: dict[str, dict[int, list[float]]], densities: dict[int, float]) -> dict[str, str]:
    rows = []
    for arm, by_round in per_round.items():
        for index, values in by_round.items():
            v = np.asarray(values)
            rows.append([arm, index, f"{100 * densities[index]:.1f}", f"{v.mean():.2f}", f"{v.std(ddof=1):.2f}",
                         f"{v.min():.2f}", f"{v.max():.2f}"])
    return {"title": "Linear interpolation instability (points of test error, 30 points on the path)",
            "markdown": markdown_table(["arm", "round", "% remaining", "mean", "sd", "min", "max"], rows)}


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Combine evidence dicts: lists are concatenated, the first text value wins."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, list):
                out.setdefault(key, []).extend(value)
            else:
                out.setdefault(key, value)
    return out


def relative(lab: Lab, path) -> str:
    """A figure path as the report links it."""
    return str(path.relative_to(lab.report_dir / lab.scale))
