"""Claim 5 — attracting previous optima rescues unstable IMP (paper Fig. 3 right).

With the attractive loss (λ = −1), small-batch IMP finds tickets, though not as
good as rewinding: where the scale has a rewinding arm (IMP at the same small
batch that rewinds to an early step instead of initialization), it beats
attracted IMP. A rescue presupposes something to rescue: plain IMP at the small
batch is unstable (its subnetworks) and has lost its tickets (it does not beat
reinitialization by the margin).
"""

import pytest

from replication import evidence, preconditions, stats
from replication.accuracy import low_density_accuracy, ticket_advantage
from replication.registry import CLAIMS, Arm
from replication.stability import subnetwork_instability

CLAIM = CLAIMS["attraction-rescues-unstable"]


@pytest.mark.claim(CLAIM.id)
def test_attraction_rescues_unstable(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))
    small = setup.unstable_batch
    tickets, attracted = runs[Arm("imp", small)], runs[Arm("imp", small, repel=setup.repel)]

    low = setup.low_density
    rewound = runs.get(Arm("imp", small, rewind_step=setup.rewind_step)) if setup.rewind_step else None
    at_low = f"batch {setup.unstable_batch}, densities ≤ {100 * low:g}%"
    readings = [stats.Reading(low_density_accuracy(attracted, low, tickets[0]), low_density_accuracy(tickets, low),
                              test=f"paired, one-sided: attracted IMP > plain IMP at {at_low}")]
    if rewound:  # a scale without a rewinding arm does not run the second part
        readings.append(stats.Reading(low_density_accuracy(rewound, low, tickets[0]),
                                      low_density_accuracy(attracted, low),
                                      test=f"paired, one-sided: IMP rewound to step {setup.rewind_step} > attracted "
                                           f"IMP at {at_low}"))
    lost = CLAIMS["stable-training-finds-tickets"].parts[0].margin  # claim 1's: what "beats reinit" means
    lii = lab.instability(tickets, runs[Arm("copies", small)])
    decision = stats.decide(CLAIM, readings, preconditions=[
        preconditions.subnetworks_unstable(subnetwork_instability(lii, setup.instability_rounds), small,
                                           setup.instability_rounds),
        preconditions.tickets_lost(ticket_advantage(tickets, runs[Arm("reinit", small)], low), small, lost),
    ])
    conclude(CLAIM, decision, evidence.accuracy(lab.figures, CLAIM, setup, runs),
             reference="ResNet-20 at batch 128: attractive IMP about 91.0 / 89.5 / 87.5 / 85% at "
                       "51 / 13 / 6.9 / 3.5%, against plain IMP 90.0 / 86.5 / 84 / 80.5%.")
