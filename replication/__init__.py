"""A replication harness for Maene, Li & Moens (2021), *Towards Understanding
Iterative Magnitude Pruning: Why Lottery Tickets Win*.

Data flows one way: spec -> runs (imp, store) -> analyses -> statistics -> report.
"""

from .spec import ExperimentSpec, PruneSpec, SpecError, TrainSpec

__all__ = ["ExperimentSpec", "PruneSpec", "TrainSpec", "SpecError", "Run", "RunStore", "load_run"]
__version__ = "0.3.0.dev0"  # the one place the version is declared (pyproject.toml reads it)


def __getattr__(name: str):
    """The store's names load torch, so they are imported when first used (`replication --help` stays fast)."""
    if name in ("Run", "RunStore", "load_run"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module 'replication' has no attribute {name!r}")
