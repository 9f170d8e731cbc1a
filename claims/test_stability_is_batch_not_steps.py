"""Claim 12 — beyond the paper: stability is the batch size, not the number of steps.

The paper fixes the epochs, so its larger batches also train for fewer steps (PAPER.md, "Training length"):
its figures cannot tell which of the two makes IMP stable. Here the larger batch trains for as many optimizer
steps as the unstable one (more epochs). If its subnetworks are still stable where the smaller batch's are
unstable, the batch size is what stabilizes IMP; if not, the paper's "stable training" is partly a matter of
how long the network trains. Presupposes what it compares against: unstable small-batch subnetworks.
"""

import pytest

from replication import evidence, preconditions, stats
from replication.registry import CLAIMS, Arm
from replication.report import Evidence
from replication.stability import subnetwork_instability

CLAIM = CLAIMS["stability-is-batch-not-steps"]


@pytest.mark.claim(CLAIM.id)
def test_stability_is_batch_not_steps(lab, setup, conclude):
    small, large, epochs = setup.unstable_batch, setup.equal_steps_batch, setup.equal_steps_epochs()
    runs = lab.arms(CLAIM.arms(setup))
    arms = {"small": (Arm("imp", small), Arm("copies", small)),
            "equal steps": (Arm("imp", large, epochs=epochs), Arm("copies", large, epochs=epochs))}
    lii = {name: lab.instability(runs[imp], runs[copies]) for name, (imp, copies) in arms.items()}
    subnetworks = {name: subnetwork_instability(v, setup.instability_rounds) for name, v in lii.items()}

    rounds = ", ".join(map(str, setup.instability_rounds))
    decision = stats.decide(CLAIM, [
        stats.Reading(subnetworks["small"], subnetworks["equal steps"],
                      test=f"paired, one-sided: LII of the subnetworks (rounds {rounds}), batch {small} minus batch "
                           f"{large} trained for as many steps ({epochs} epochs a round)"),
        stats.Reading(-subnetworks["equal steps"],
                      test=f"one-sided: batch {large}'s subnetwork LII at equal steps under the stability cut"),
    ], preconditions=[preconditions.subnetworks_unstable(subnetworks["small"], small, setup.instability_rounds)])
    first = runs[arms["small"][0]][0]
    conclude(CLAIM, decision, Evidence([evidence.instability_table(
        {arms[name][0]: lii[name] for name in arms}, first)]) + evidence.accuracy(
        lab.figures, CLAIM, setup, {arms[name][0]: runs[arms[name][0]] for name in arms}),
        reference="No reference: the paper's larger batches train for fewer steps (batch 1024: about 4,200 a round "
                  "against batch 128's 33,200), so it cannot separate the two.")
