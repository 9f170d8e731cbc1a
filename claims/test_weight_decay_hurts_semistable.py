"""Claim 9 — weight decay hurts semistable IMP (paper Fig. 7).

Without weight decay (semistable batch, no warm-up) the pruning threshold grows
faster and collapses later, giving a longer high-accuracy plateau: with the same
seeds, IMP without weight decay keeps more accuracy at low densities than IMP
with it, and its pruning threshold sits higher.
"""

import numpy as np
import pytest

from replication import evidence, stats
from replication.accuracy import low_density_accuracy
from replication.magnitudes import own_thresholds
from replication.registry import CLAIMS

CLAIM = CLAIMS["weight-decay-hurts-semistable"]


@pytest.mark.claim(CLAIM.id)
def test_weight_decay_hurts_semistable(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))
    (plain_arm, plain), (decayed_arm, decayed) = runs.items()

    thresholds = {arm: np.stack([own_thresholds(r) for r in arm_runs]) for arm, arm_runs in runs.items()}
    log_ratio = np.log(thresholds[plain_arm] / thresholds[decayed_arm]).mean(axis=1)  # every round's prune, per seed
    low = setup.low_density
    decision = stats.decide(CLAIM, [
        stats.Reading(low_density_accuracy(plain, low), low_density_accuracy(decayed, low, plain[0]),
                      test=f"paired, one-sided: IMP without weight decay > with it, batch {setup.semistable_batch}, "
                           f"densities ≤ {100 * low:g}%"),
        stats.Reading(log_ratio, test="one-sided: log(threshold without / with weight decay), mean over rounds"),
    ])
    conclude(CLAIM, decision, evidence.by_density(
        lab.figures, CLAIM, "threshold", thresholds, np.array(plain[0].metric("density")), "pruning threshold",
        table="Pruning threshold (largest magnitude the next prune removes) by weights remaining",
        caption="Pruning threshold against % of weights remaining (paper Fig. 7)", unit="magnitude", digits=4)
        + evidence.accuracy(lab.figures, CLAIM, setup, runs),
        reference="ResNet-20 at batch 512 without warm-up: without weight decay the threshold rises faster and "
                  "collapses later, and accuracy stays high to lower densities, at a small cost at low sparsity.")
