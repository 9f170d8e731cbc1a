"""Claim 10 — same basin only at medium density (paper Fig. 8; also Figs. 20, 23).

Between successive stable rounds the error barrier (training error on the
straight line between the two trained networks) is near zero at medium
densities but not at very high or very low densities. Two ends, each with what
it needs: the first pair (the dense network and its first subnetwork) stands
apart only where the dense network is not already stable at initialization (the
paper's batch-2048 ResNet-20 is not: about 38 points); the low end is the
paper's rise below 1.4% remaining, which needs rounds that reach it.
"""

import numpy as np
import pytest

from replication import evidence, preconditions, stats
from replication.registry import CLAIMS, Arm

CLAIM = CLAIMS["same-basin-only-at-medium-density"]


@pytest.mark.claim(CLAIM.id)
def test_same_basin_only_at_medium_density(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))
    large = setup.stable_batch
    tickets = runs[Arm("imp", large)]
    barriers = lab.barriers(tickets)  # seeds × (round pairs)
    dense_lii = lab.instability(tickets, runs[Arm("copies", large)])[0]

    densities = np.array(tickets[0].metric("density"))
    low, high = setup.medium_density
    medium = (densities[:-1] <= high) & (densities[1:] >= low)  # both ends of the pair are medium
    very_low = densities[1:] <= setup.very_low_density + 1e-12
    if not medium.any():
        return conclude.not_run(CLAIM, f"the {lab.scale} rounds have no pair at medium densities")
    at = lambda pairs: barriers[:, pairs].mean(axis=1) if pairs.any() else np.full(len(barriers), np.nan)  # noqa: E731
    first = np.arange(len(medium)) == 0
    band = f"medium densities ({100 * low:g}–{100 * high:g}% remaining)"
    decision = stats.decide(CLAIM, [
        stats.Reading(at(first), at(medium),
                      test=f"paired, one-sided: barrier between the dense network and round 1 minus at {band}"),
        stats.Reading(at(very_low), at(medium),
                      test=f"paired, one-sided: barrier at pairs ending at or below "
                           f"{100 * setup.very_low_density:g}% minus at {band}"),
    ], test="barriers at the extremes above the medium ones", preconditions=[
        preconditions.dense_not_stable(dense_lii, large, part=1),
        preconditions.densities_reached(densities, setup.very_low_density, pairs=1, part=2),
    ])
    shown = evidence.by_density(
        lab.figures, CLAIM, "barriers", {"IMP": barriers}, densities[1:], "error barrier (points of training error)",
        table="Error barrier between rounds r−1 and r (points of training error, 20 points), by the weights "
              "remaining at round r",
        caption="Error barrier between successive rounds (paper Fig. 8)", unit="points")
    shown.configuration, shown.differs = evidence.configuration(setup, tickets), setup.differs
    conclude(CLAIM, decision, shown,
             reference="ResNet-20, batch 2048: about 38 points between 100% and 80%, about 3 at 80%, about 0 "
                       "from 51% down to 3.5%, about 5 at 1.8% and 16–25 below 1.4%.")
