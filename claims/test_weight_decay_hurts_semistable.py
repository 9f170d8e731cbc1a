"""Claim 9 — weight decay hurts semistable IMP (paper Fig. 7).

Without weight decay (semistable batch, no warm-up) the pruning threshold grows
faster and collapses later, giving a longer high-accuracy plateau: with the same
seeds, IMP without weight decay keeps more accuracy at low densities than IMP
with it, and its pruning threshold sits higher.
"""

import numpy as np
import pytest

from replication import evidence, stats
from replication.accuracy import mean_over_rounds, rounds_at_or_below
from replication.magnitudes import own_thresholds
from replication.registry import CLAIMS
from replication.report import plot_by_density

CLAIM = CLAIMS["weight-decay-hurts-semistable"]


@pytest.mark.claim(CLAIM.id)
def test_weight_decay_hurts_semistable(lab, setup, conclude):
    batch, decay = setup.small_batch, setup.weight_decay
    plain, decayed = lab.arms(setup.specs("imp", batch_size=batch),
                              setup.specs("imp", batch_size=batch, weight_decay=decay))

    low = rounds_at_or_below(plain[0], setup.low_density)
    thresholds = {"IMP, no weight decay": np.stack([own_thresholds(r) for r in plain]),
                  f"IMP, weight decay {decay:g}": np.stack([own_thresholds(r) for r in decayed])}
    no_decay, with_decay = thresholds.values()
    log_ratio = np.log(no_decay / with_decay).mean(axis=1)  # every round's prune, per seed
    decision = stats.combine([
        stats.beats(mean_over_rounds(plain, low), mean_over_rounds(decayed, low), CLAIM.margin,
                    test=f"paired t, one-sided: IMP without weight decay > with it, batch {batch}, densities "
                         f"≤ {100 * setup.low_density:g}%"),
        stats.exceeds_zero(log_ratio, CLAIM.second_margin,
                           test="one-sided t: log(threshold without / with weight decay), mean over rounds"),
    ])

    densities = np.array(plain[0].metric("density"))
    plot = lab.figure_path(CLAIM, "threshold")
    plot_by_density(thresholds, densities, plot, "pruning threshold", f"{CLAIM.id} ({lab.scale})")
    conclude(CLAIM, decision, **evidence.merge(
        {"tables": [{"title": "Pruning threshold (largest magnitude the next prune removes) by weights remaining",
                     "markdown": evidence.by_density_table(thresholds, densities, unit="magnitude", digits=4)}],
         "figures": [{"caption": "Pruning threshold against % of weights remaining (paper Fig. 7)",
                      "path": evidence.relative(lab, plot)}]},
        evidence.accuracy(lab, CLAIM, setup, {"IMP, no weight decay": plain,
                                              f"IMP, weight decay {decay:g}": decayed})),
        reference="ResNet-20 at batch 512 without warm-up: without weight decay the threshold rises faster and "
                  "collapses later, and accuracy stays high to lower densities, at a small cost at low sparsity.")
