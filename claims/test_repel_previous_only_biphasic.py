"""Claim 6 — repelling only the last optimum is not enough (paper Fig. 17).

Repelled from the previous round's optimum only, IMP retrains to the optimum
from two rounds back: a checkerboard in the distance matrix, round r closer to
r−2 than to r−3 (r−1, which the loss pushes away, says nothing about a return).
Plain IMP drifts, so that r−2 is closer than r−3 anyway: the checkerboard is the
repelled arm's contrast minus plain IMP's. And the tickets still somewhat win:
the repelled ticket beats reinitialization at low densities, where that
reinitialization trains (an advantage over a control stuck near chance is none).
"""

import numpy as np
import pytest

from replication import evidence, preconditions, stats
from replication.accuracy import low_density_accuracy
from replication.registry import CLAIMS, Arm
from replication.similarity import distance_matrix, push_from_previous, return_to_two_back

CLAIM = CLAIMS["repel-previous-only-biphasic"]


@pytest.mark.claim(CLAIM.id)
def test_repel_previous_only_biphasic(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))
    large = setup.stable_batch
    previous_only, plain = Arm("imp", large, repel=setup.repel, previous_only=setup.previous_only), Arm("imp", large)
    repelled, reinits = runs[previous_only], runs[Arm("reinit", large)]
    matrices = {arm: [distance_matrix(r) for r in runs[arm]] for arm in (previous_only, plain)}
    back = {arm: np.array([return_to_two_back(d) for d in m]) for arm, m in matrices.items()}
    pushed = {arm: np.array([push_from_previous(d) for d in m]) for arm, m in matrices.items()}

    low = setup.low_density
    decision = stats.decide(CLAIM, [
        stats.Reading(back[previous_only], back[plain],
                      test="paired, one-sided: d(r, r−3) − d(r, r−2), mean over r ≥ 3, repel-previous-only IMP "
                           "minus plain IMP (the checkerboard)"),
        stats.Reading(low_density_accuracy(repelled, low), low_density_accuracy(reinits, low, repelled[0]),
                      test=f"paired, one-sided: repel-previous-only ticket > reinit at densities ≤ {100 * low:g}%"),
    ], test="the checkerboard, and tickets that still win", preconditions=[
        preconditions.controls_train({Arm("reinit", large): (reinits, repelled)}, low, lab.classes(runs), part=2)])
    table = {**{f"{arm}: d(r, r−3) − d(r, r−2)": v for arm, v in back.items()},
             **{f"{arm}: d(r, r−1) − d(r, r−2) (context)": v for arm, v in pushed.items()}}
    conclude(CLAIM, decision, evidence.distances(
        lab.figures, CLAIM, {arm: runs[arm] for arm in back}, table,
        title="Per seed: the return to r−2 (d(r, r−3) − d(r, r−2), mean over r ≥ 3; positive = closer to r−2) and "
              "the push from r−1 (d(r, r−1) − d(r, r−2), context)",
        first_seed={arm: m[0] for arm, m in matrices.items()})
        + evidence.accuracy(lab.figures, CLAIM, setup, runs),
        reference="ResNet-20 at batch 2048: a checkerboard pattern in the distance matrix; tickets still "
                  "somewhat beat reinitialization.")
