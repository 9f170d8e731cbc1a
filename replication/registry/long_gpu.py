"""The long scale on a GPU: the map's setting and the claims about instability, without the CPU's 2.5-hour
budget (`long.within_budget`), so the claims that budget leaves out run here. Same runs as the long scale's
(same specs, same hashes); keep its store apart from a CPU store, whose bits differ."""

from __future__ import annotations

from .experiments import Scale, Setup
from .long import map_setups

SETUPS: dict[str, Setup] = map_setups()

SCALE = Scale("long-gpu", "long scale on a GPU (--device cuda): every claim the long scale runs, without its CPU "
                          "budget", SETUPS, marker="long", needs_cuda=True, landscape_examples=2048, order=55)
