"""Claim 4 — repelling previous optima removes the tickets (paper Fig. 3 left; Figs. 13, 14).

Stable IMP with the repellent loss (λ = 2) falls to the level of random
reinitialization, while random reinitialization itself is not noticeably
affected by the same loss. (Reinitializations reuse their IMP run's masks.)
"""

import pytest

from replication import evidence, preconditions, stats
from replication.accuracy import low_density_accuracy
from replication.registry import CLAIMS, Arm

CLAIM = CLAIMS["repellence-removes-tickets"]


@pytest.mark.claim(CLAIM.id)
def test_repellence_removes_tickets(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))
    large, repel = setup.stable_batch, setup.repel
    tickets, reinits = runs[Arm("imp", large)], runs[Arm("reinit", large)]
    repelled, repelled_reinits = runs[Arm("imp", large, repel=repel)], runs[Arm("reinit", large, repel=repel)]

    accuracy = lambda arm: low_density_accuracy(arm, setup.low_density, tickets[0])  # noqa: E731
    margin = CLAIM.parts[0].margin
    decision = stats.decide(CLAIM, [
        stats.Reading(accuracy(repelled), accuracy(reinits), test="paired TOST: repelled IMP ≈ reinit"),
        stats.Reading(accuracy(repelled_reinits), accuracy(reinits), test="paired TOST: repelled reinit ≈ reinit"),
    ], test=f"paired TOST ±{margin:g} points at densities ≤ {100 * setup.low_density:g}%: repelled IMP ≈ "
            f"reinit, and repelled reinit ≈ reinit", preconditions=[
        preconditions.tickets_win(accuracy(tickets) - accuracy(reinits), large, margin),
        preconditions.controls_train({Arm("reinit", large): (reinits, tickets),
                                      Arm("reinit", large, repel=repel): (repelled_reinits, tickets)},
                                     setup.low_density, lab.classes(runs)),
    ])
    conclude(CLAIM, decision, evidence.accuracy(lab.figures, CLAIM, setup, runs),
             reference="ResNet-20 at batch 2048: repellent IMP tracks the reinitialization curve "
                       "(86.5 / 85.3 / 84.0 / 81.6% at 51.2 / 26.2 / 13.4 / 6.87%).")
