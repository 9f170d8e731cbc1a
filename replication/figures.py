"""Figures in the paper's style: accuracy against % of weights remaining on a log axis with min–max
bands (Fig. 1), angular-distance matrices side by side (Fig. 4), weight histograms (Fig. 5)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes


@dataclass(frozen=True)
class FigureFolder:
    """Where one scale's report keeps its figures, and how the report links them."""

    report_dir: Path
    scale: str

    def path(self, claim_id: str, name: str) -> Path:
        path = Path(self.report_dir) / self.scale / "figures" / f"{claim_id}-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def link(self, path: Path) -> str:
        """A figure's path as the report links it (relative to the report)."""
        return str(Path(path).relative_to(Path(self.report_dir) / self.scale))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_by_density(arms: dict[str, np.ndarray], densities: np.ndarray, path: Path, ylabel: str,
                    title: str = "") -> None:
    """Mean over seeds against % weights remaining (log axis, high density on the left), min–max band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = 100 * np.asarray(densities)
    for name, values in arms.items():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a round no seed has (a partly trained control)
            mean = np.nanmean(values, 0)
            ax.plot(x, mean, marker="o", ms=3, label=name)
            ax.fill_between(x, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.2)
    ax.set_xscale("log")
    ax.invert_xaxis()
    from matplotlib.ticker import FixedLocator, NullFormatter

    ticks = [t for t in (100, 51.2, 26.2, 13.4, 6.87, 3.52, 1.8, 0.92, 0.47) if x.min() * 0.95 <= t <= x.max() * 1.05]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("% of weights remaining")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_matrices(matrices: dict[str, np.ndarray], path: Path, title: str = "") -> None:
    """Distance matrices side by side (rows/columns: rounds, last one the initialization)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items()):
        image = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        n = len(m)
        labels = [str(i) for i in range(n - 1)] + ["init"]
        step = max(1, n // 8)
        ax.set_xticks(range(0, n, step), labels[::step], fontsize=7)
        ax.set_yticks(range(0, n, step), labels[::step], fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("round")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="angular distance")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_histograms(samples: dict[str, np.ndarray], path: Path, title: str = "") -> None:
    """Distributions of surviving weights, one panel per arm (paper Fig. 5)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(samples), figsize=(4.2 * len(samples), 3.2), squeeze=False)
    for ax, (name, values) in zip(axes[0], samples.items()):
        ax.hist(values, bins=80, color="tab:blue", alpha=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("weight value")
    axes[0][0].set_ylabel("surviving weights")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_lii(lines: dict[str, tuple[list[int], list[list[float]]]], path: Path, xlabel: str, title: str = "",
             base: int = 10, styles: dict[str, dict] | None = None, cuts: tuple[float, ...] = (2.0,)) -> None:
    """LII against x on a log axis (optimizer steps a round, batch size), one line per name, each point the mean
    over seeds with a min–max bar; the regimes' cuts dotted. lines: name -> (x, per point the seeds' values);
    styles: name -> matplotlib keywords for its line (colour, line style), where lines share a colour."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, (xs, values) in lines.items():
        order = np.argsort(xs)
        mean = np.array([np.mean(values[i]) for i in order])
        spread = [mean - np.array([np.min(values[i]) for i in order]),
                  np.array([np.max(values[i]) for i in order]) - mean]
        ax.errorbar(np.asarray(xs)[order], mean, yerr=spread, marker="o", ms=4, capsize=3, label=name,
                    **(styles or {}).get(name, {}))
    ax.set_xscale("log", base=base)
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(sorted({x for xs, _ in lines.values() for x in xs}))  # the values measured, written out
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.xaxis.set_minor_formatter(NullFormatter())
    for cut in cuts:
        ax.axhline(cut, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("LII (points of test error)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def plot_verdict_matrix(cells: list[list[tuple[str, str]]], rows: list[str], columns: list[str], path: Path) -> None:
    """A grid of coloured cells with a text in each: cells[row][column] = (colour, text)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.7 * len(columns) + 3.2, 0.42 * len(rows) + 1.2))
    for i, row in enumerate(cells):
        for j, (colour, text) in enumerate(row):
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=colour, ec="white", lw=2))
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=6.5)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([j + 0.5 for j in range(len(columns))], columns, fontsize=8)
    ax.set_yticks([i + 0.5 for i in range(len(rows))], rows, fontsize=7.5)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for side in ax.spines.values():
        side.set_visible(False)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
