"""Claim 10 — same basin only at medium density (paper Fig. 8; also Figs. 20, 23).

Between successive stable rounds the error barrier (training error on the
straight line between the two trained networks) is near zero at medium
densities but not at very high or very low densities.
"""

import numpy as np
import pytest

from replication import evidence, stats
from replication.registry import CLAIMS, Arm

CLAIM = CLAIMS["same-basin-only-at-medium-density"]


@pytest.mark.claim(CLAIM.id)
def test_same_basin_only_at_medium_density(lab, setup, conclude):
    tickets = lab.arms(CLAIM.arms(setup))[Arm("imp", setup.stable_batch)]
    barriers = lab.barriers(tickets)  # seeds × (round pairs)

    densities = np.array(tickets[0].metric("density"))
    low, high = setup.medium_density
    medium = (densities[:-1] <= high) & (densities[1:] >= low)  # both ends of the pair are medium
    extreme = ~medium
    if not extreme.any() or not medium.any():
        return conclude.not_run(CLAIM, f"the {lab.scale} rounds do not reach both medium and extreme densities")
    effect = barriers[:, extreme].mean(axis=1) - barriers[:, medium].mean(axis=1)
    decision = stats.decide(CLAIM, [stats.Reading(
        effect, test=f"one-sided: successive-round barrier at extreme minus medium densities "
                     f"({100 * low:g}–{100 * high:g}% remaining)")])
    shown = evidence.by_density(
        lab.figures, CLAIM, "barriers", {"IMP": barriers}, densities[1:], "error barrier (points of training error)",
        table="Error barrier between rounds r−1 and r (points of training error, 20 points), by the weights "
              "remaining at round r",
        caption="Error barrier between successive rounds (paper Fig. 8)", unit="points")
    shown.configuration, shown.differs = evidence.configuration(setup, tickets), setup.differs
    conclude(CLAIM, decision, shown,
             reference="ResNet-20, batch 2048: about 38 points between 100% and 80%, about 3 at 80%, about 0 "
                       "from 51% down to 3.5%, about 5 at 1.8% and 16–25 below 1.4%.")
