"""The paper's claims and the scales they run at, declared once.

- claims.py: the paper's eleven claims, each with its parts (rule, margin, unit) and its arms for a setup.
- experiments.py: what a claim's experiment at a scale is (`Setup`), a stability probe (`Probe`), and the
  `Scale` record that declares everything about one scale.
- one module per scale (smoke.py, smoke_resnet.py, small.py, medium.py, long.py, paper.py): its setups, its
  probes with what they found, and its record (`SCALE`). Adding a scale is one new module: the package finds it.

Margins are declared before any data is looked at. A claim with no setup at some scale is still collected and
reported, with the reason it is not run.
"""

from __future__ import annotations

import importlib
import pkgutil

from .claims import (ACCURACY, ANGULAR, CLAIMS, LOG_THRESHOLD, RANK, RULES, TEST_ERROR, TRAINING_ERROR, Arms,
                     Claim, Part)
from .experiments import (PAPER_WEIGHT_DECAY, STABLE_CUT, STABLE_SETUP_NOTE, TRAINS_FLOOR, UNSTABLE_CUT, Arm, Probe,
                          Scale, Setup, labelled, paper_warmup, training_bar)
from .paper import PAPER_SEEDS

__all__ = ["ACCURACY", "ANGULAR", "CLAIMS", "LOG_THRESHOLD", "RANK", "RULES", "TEST_ERROR", "TRAINING_ERROR", "Arms",
           "Claim", "Part", "Arm", "labelled", "PAPER_WEIGHT_DECAY", "STABLE_CUT", "STABLE_SETUP_NOTE", "TRAINS_FLOOR",
           "UNSTABLE_CUT", "Probe", "Scale", "Setup", "paper_warmup", "training_bar",
           "PAPER_SEEDS", "SCALE_MODULES", "RECORDS", "SCALES", "SETUPS", "PROBES", "LANDSCAPE_EXAMPLES", "setup_for"]

# Every module of this package but the two that declare what a claim and an experiment are is a scale, ordered by
# its record's `order` (the order reports and tables list them): adding a scale is adding its module.
_DECLARATIONS = ("claims", "experiments")
SCALE_MODULES = tuple(sorted((importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
                              if m.name not in _DECLARATIONS), key=lambda module: module.SCALE.order))
RECORDS: dict[str, Scale] = {m.SCALE.name: m.SCALE for m in SCALE_MODULES}
SCALES = tuple(RECORDS)

# What the rest of the package reads at run time (tests replace entries here to run a smaller experiment).
SETUPS: dict[str, dict[str, Setup]] = {name: dict(s.setups) for name, s in RECORDS.items()}
PROBES: dict[str, tuple[Probe, ...]] = {name: s.probes for name, s in RECORDS.items() if s.probes}
LANDSCAPE_EXAMPLES: dict[str, int] = {name: s.landscape_examples for name, s in RECORDS.items()
                                      if s.landscape_examples is not None}


def setup_for(claim_id: str, scale: str) -> Setup | None:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    return SETUPS[scale].get(claim_id)
