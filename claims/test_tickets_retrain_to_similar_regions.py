"""Claim 7 — tickets retrain to similar regions (paper Fig. 4; also Figs. 9–11, 18, 21).

With stable IMP, the trained networks of successive rounds are separated by
small angular distances; with small batches, and for random reinitializations
at any batch size, successive solutions are nearly orthogonal.
"""

import pytest

from replication import evidence, stats
from replication.similarity import mean_successive_distance
from replication.registry import CLAIMS

CLAIM = CLAIMS["tickets-retrain-to-similar-regions"]


@pytest.mark.claim(CLAIM.id)
def test_tickets_retrain_to_similar_regions(lab, setup, conclude):
    stable, stable_reinit, unstable = lab.arms(setup.specs("imp", batch_size=setup.large_batch),
                                               setup.specs("reinit", batch_size=setup.large_batch),
                                               setup.specs("imp", batch_size=setup.small_batch))

    d_stable = mean_successive_distance(stable)
    d_reinit = mean_successive_distance(stable_reinit)
    d_unstable = mean_successive_distance(unstable)
    decision = stats.combine([
        stats.beats(d_reinit, d_stable, CLAIM.margin,
                    test=f"paired t, one-sided: successive-round angular distance, reinit > IMP "
                         f"(batch {setup.large_batch})"),
        stats.beats(d_unstable, d_stable, CLAIM.second_margin,
                    test=f"paired t, one-sided: IMP successive-round angular distance, batch {setup.small_batch} "
                         f"> batch {setup.large_batch}"),
    ])
    arms = {f"IMP batch {setup.large_batch}": stable, f"reinit batch {setup.large_batch}": stable_reinit,
            f"IMP batch {setup.small_batch}": unstable}
    per_seed = dict(zip(arms, (d_stable, d_reinit, d_unstable)))
    conclude(CLAIM, decision,
             **evidence.merge(evidence.distances(lab, CLAIM, arms, per_seed),
                              evidence.accuracy(lab, CLAIM, setup, arms)),
             reference="ResNet-20/CIFAR-10: stable IMP (batch 1024–2048) successive distances small, smallest at "
                       "medium densities; batch 128 and reinitializations near 1 (orthogonal).")
