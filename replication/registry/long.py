"""The long scale: the medium network with longer rounds, on the setting its instability map picks."""

from __future__ import annotations

from typing import Any

from .claims import CLAIMS
from .experiments import Scale, Setup

_PRESET = "resnet20-fashion-mnist-sgd"
_LONG_BEFORE_ITS_MAP = ("the long scale's setting is the one its instability map picks (`replication probe --scale "
                        "long`, reports/long/PROBE.md), and the map has not decided yet")
_ELSEWHERE = ("the long scale runs the claims about instability (1, 3, 7, 11 and ours, 12) within its three hours "
              "on this CPU; this one runs at the medium scale, whose network and data it shares")

# The map's pick, recorded here once `replication probe --scale long` has decided it (instability_map.choose on
# every cell; tests/test_instability_map.py holds the record to the rule): the setting's training overrides, its
# unstable and stable batch, and the seeds its spread asks for. None until then.
PICK: dict[str, Any] | None = None


def setups_on(overrides: tuple[tuple[str, Any], ...], unstable_batch: int, stable_batch: int, seeds: int,
              middle_batch: int = 64, equal_steps_batch: int = 64, rounds: int = 10, note: str = "") -> dict[str, Setup]:
    """Every claim's setup on the map's setting: claims 1, 3, 7, 11 and 12 at the unstable and stable batch (3 with
    `middle_batch` between them, 12 with `equal_steps_batch` trained for the unstable batch's steps), reading the
    map's rounds (5 and 10: 32.8% and 10.7% remaining); every other claim NOT RUN with the reason."""
    sweep = dict(preset=_PRESET, seeds=seeds, rounds=rounds, overrides=overrides, unstable_batch=unstable_batch,
                 stable_batch=stable_batch, instability_rounds=(5, 10), low_density=0.11, differs=note)
    ran = {
        "stable-training-finds-tickets": Setup(**sweep),
        "instability-predicts-tickets": Setup(**sweep, batch_sizes=(unstable_batch, middle_batch, stable_batch)),
        "tickets-retrain-to-similar-regions": Setup(**sweep),
        "random-reinit-fails": Setup(**sweep),
        "stability-is-batch-not-steps": Setup(**sweep, equal_steps_batch=equal_steps_batch),
    }
    return {claim_id: ran.get(claim_id) or Setup(**sweep, not_run=_ELSEWHERE) for claim_id in CLAIMS}


SETUPS: dict[str, Setup] = setups_on(**PICK) if PICK else {
    claim_id: Setup(_PRESET, seeds=2, rounds=10, not_run=_LONG_BEFORE_ITS_MAP) for claim_id in CLAIMS}

# Its instability map (instability_map.MAPS["long"]) is its probe, with a rule of its own.
SCALE = Scale("long", "long scale: the medium network with longer rounds, where its instability map finds the "
                      "subnetworks unstable", SETUPS, landscape_examples=2048, order=50)
