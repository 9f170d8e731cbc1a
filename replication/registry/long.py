"""The long scale: the medium network with longer rounds, on the setting its instability map picks."""

from __future__ import annotations

from .claims import CLAIMS
from .experiments import Scale, Setup

_LONG_BEFORE_ITS_MAP = ("the long scale's setting is the one its instability map picks (`replication probe --scale "
                        "long`, reports/long/PROBE.md), and the map has not decided yet")

# The long scale: the medium shape with longer rounds, on the setting its instability map picks
# (replication/instability_map.py, `replication probe --scale long`). No claim runs there before the map has.
SETUPS: dict[str, Setup] = {claim_id: Setup("resnet20-fashion-mnist-sgd", seeds=2, rounds=10,
                                            not_run=_LONG_BEFORE_ITS_MAP) for claim_id in CLAIMS}

# Its instability map (instability_map.MAPS["long"]) is its probe, with a rule of its own.
SCALE = Scale("long", "long scale: the medium network with longer rounds, where its instability map finds the "
                      "subnetworks unstable", SETUPS, landscape_examples=2048, order=50)
