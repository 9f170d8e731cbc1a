"""A replication harness for Maene, Li & Moens (2021), *Towards Understanding
Iterative Magnitude Pruning: Why Lottery Tickets Win*.

Data flows one way: spec -> runs (imp, store) -> analyses -> statistics -> report.
"""

from .spec import ExperimentSpec, PruneSpec, SpecError, TrainSpec
from .store import Run, RunStore, load_run

__all__ = ["ExperimentSpec", "PruneSpec", "TrainSpec", "SpecError", "Run", "RunStore", "load_run"]
__version__ = "0.1.0"
