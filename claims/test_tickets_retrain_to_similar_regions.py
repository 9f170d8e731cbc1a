"""Claim 7 — tickets retrain to similar regions (paper Fig. 4; also Figs. 9–11, 18, 21).

With stable IMP, the trained networks of successive rounds are separated by
small angular distances; with small batches, and for random reinitializations
at any batch size, successive solutions are nearly orthogonal.
"""

import pytest

from replication import evidence, stats
from replication.registry import CLAIMS, Arm
from replication.similarity import mean_successive_distance

CLAIM = CLAIMS["tickets-retrain-to-similar-regions"]


@pytest.mark.claim(CLAIM.id)
def test_tickets_retrain_to_similar_regions(lab, setup, conclude):
    small, large = setup.unstable_batch, setup.stable_batch
    runs = lab.arms(CLAIM.arms(setup))
    distance = {arm: mean_successive_distance(arm_runs) for arm, arm_runs in runs.items()}

    stable = distance[Arm("imp", large)]
    decision = stats.decide(CLAIM, [
        stats.Reading(distance[Arm("reinit", large)], stable,
                      test=f"paired, one-sided: successive-round angular distance, reinit > IMP (batch {large})"),
        stats.Reading(distance[Arm("imp", small)], stable,
                      test=f"paired, one-sided: IMP successive-round angular distance, batch {small} > batch {large}"),
    ])
    conclude(CLAIM, decision, evidence.distances(lab.figures, CLAIM, runs, distance)
             + evidence.accuracy(lab.figures, CLAIM, setup, runs),
             reference="ResNet-20/CIFAR-10: stable IMP (batch 1024–2048) successive distances small, smallest at "
                       "medium densities; batch 128 and reinitializations near 1 (orthogonal).")
