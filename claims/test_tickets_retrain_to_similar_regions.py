"""Claim 7 — tickets retrain to similar regions (paper Fig. 4; also Figs. 9–11, 18, 21).

With stable IMP, the trained networks of successive rounds are separated by
small angular distances; with small batches, and for random reinitializations
at any batch size, successive solutions are nearly orthogonal.

"Small" is read against where each round starts: stable IMP restarts every
round from the same initialization, and a network that retrained to a region
of its own each time would lie farther from its successor than from that
start. "Nearly orthogonal" is read against reinitializations, which restart
from fresh draws (their near-orthogonality holds by construction, so it is the
yardstick, not a part): small-batch IMP's successive distance is as large,
within the margin. That part presupposes what the paper's small batch has:
unstable subnetworks.
"""

import numpy as np
import pytest

from replication import evidence, preconditions, stats
from replication.registry import CLAIMS, Arm
from replication.similarity import mean_successive_distance, shared_region
from replication.stability import subnetwork_instability

CLAIM = CLAIMS["tickets-retrain-to-similar-regions"]


@pytest.mark.claim(CLAIM.id)
def test_tickets_retrain_to_similar_regions(lab, setup, conclude):
    small, large = setup.unstable_batch, setup.stable_batch
    runs = lab.arms(CLAIM.arms(setup))
    compared = {arm: runs[arm] for arm in (Arm("imp", large), Arm("reinit", large), Arm("imp", small))}
    distance = {arm: mean_successive_distance(arm_runs) for arm, arm_runs in compared.items()}
    lii = lab.instability(runs[Arm("imp", small)], runs[Arm("copies", small)])

    stable = Arm("imp", large)
    decision = stats.decide(CLAIM, [
        stats.Reading(np.array([shared_region(r) for r in runs[stable]]),
                      test=f"one-sided: IMP batch {large}, each round's distance from the initialization minus to "
                           f"the next round, mean over rounds"),
        stats.Reading(distance[Arm("imp", small)], distance[Arm("reinit", large)],
                      test=f"one-sided: IMP batch {small}'s successive-round distance, no smaller than "
                           f"reinitialization's by the margin (nearly orthogonal)"),
    ], preconditions=[preconditions.subnetworks_unstable(subnetwork_instability(lii, setup.instability_rounds),
                                                          small, setup.instability_rounds, part=2)])
    conclude(CLAIM, decision, evidence.distances(lab.figures, CLAIM, compared, distance)
             + evidence.accuracy(lab.figures, CLAIM, setup, compared),
             reference="ResNet-20/CIFAR-10: stable IMP (batch 1024–2048) successive distances small, smallest at "
                       "medium densities; batch 128 and reinitializations near 1 (orthogonal).")
