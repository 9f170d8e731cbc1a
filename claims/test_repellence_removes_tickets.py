"""Claim 4 — repelling previous optima removes the tickets (paper Fig. 3 left; Figs. 13, 14).

Stable IMP with the repellent loss (λ = 2) falls to the level of random
reinitialization, while random reinitialization itself is not noticeably
affected by the same loss. (Reinitializations reuse their IMP run's masks.)
"""

import pytest

from replication import evidence, stats
from replication.accuracy import mean_over_rounds, rounds_at_or_below
from replication.registry import CLAIMS

CLAIM = CLAIMS["repellence-removes-tickets"]


@pytest.mark.claim(CLAIM.id)
def test_repellence_removes_tickets(lab, setup, conclude):
    batch = setup.large_batch
    tickets, reinits, repelled, repelled_reinits = lab.arms(
        setup.specs("imp", batch_size=batch), setup.specs("reinit", batch_size=batch),
        setup.specs("imp", repel=setup.repel, batch_size=batch),
        setup.specs("reinit", repel=setup.repel, batch_size=batch))

    low = rounds_at_or_below(tickets[0], setup.low_density)
    accuracy = lambda runs: mean_over_rounds(runs, low)  # noqa: E731
    decision = stats.combine([
        stats.equivalent(accuracy(repelled), accuracy(reinits), CLAIM.margin),
        stats.equivalent(accuracy(repelled_reinits), accuracy(reinits), CLAIM.margin),
    ], test=f"paired TOST ±{CLAIM.margin:g} points at densities ≤ {100 * setup.low_density:g}%: repelled IMP ≈ "
            f"reinit, and repelled reinit ≈ reinit")
    conclude(CLAIM, decision, **evidence.accuracy(lab, CLAIM, setup, {
        "IMP": tickets, f"IMP, repelled (λ={setup.repel:g})": repelled, "random reinit": reinits,
        f"random reinit, repelled (λ={setup.repel:g})": repelled_reinits}),
        reference="ResNet-20 at batch 2048: repellent IMP tracks the reinitialization curve "
                  "(86.5 / 85.3 / 84.0 / 81.6% at 51.2 / 26.2 / 13.4 / 6.87%).")
