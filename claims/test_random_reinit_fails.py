"""Claim 11 — random reinitialization fails where tickets win (Frankle & Carbin 2019).

On a setup that is stable from initialization (LeNet in the paper; each
scale's large batch here), the ticket keeps its accuracy to far lower
densities than the same mask with a fresh initialization: it beats the
reinitialization and still matches its own dense network. The reinitialization
must train there: a ticket's advantage over a control stuck near chance is a
confound, not the lottery-ticket effect.
"""

import pytest

from replication import evidence, preconditions, stats
from replication.accuracy import low_density_accuracy, ticket_minus_dense
from replication.registry import CLAIMS, Arm

CLAIM = CLAIMS["random-reinit-fails"]


@pytest.mark.claim(CLAIM.id)
def test_random_reinit_fails(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))  # reinitializations: the same masks with fresh initializations
    tickets, reinits = runs[Arm("imp", setup.stable_batch)], runs[Arm("reinit", setup.stable_batch)]

    low = setup.low_density
    decision = stats.decide(CLAIM, [
        stats.Reading(low_density_accuracy(tickets, low), low_density_accuracy(reinits, low, tickets[0]),
                      test=f"paired, one-sided: ticket > reinit, mean test accuracy over densities ≤ {100 * low:g}%"),
        stats.Reading(ticket_minus_dense(tickets, low),
                      test=f"one-sided: ticket at densities ≤ {100 * low:g}% minus its dense network"),
    ], preconditions=[preconditions.controls_train({Arm("reinit", setup.stable_batch): (reinits, tickets)}, low,
                                                   lab.classes(runs))])
    conclude(CLAIM, decision, evidence.accuracy(lab.figures, CLAIM, setup, runs)
             + evidence.winning_tickets(setup, lab.classes(runs), {"": tickets}, {"": reinits}),
             reference="LeNet/MNIST: IMP ≈98.3% at 3.5%, 97.8% at 0.92%; reinitialization 98.1% at 3.5%, "
                       "97.1% at 0.92%, collapsing below 0.24%.")
