"""Claim 3 — instability-predicts-tickets (paper Fig. 2).

The instability of the subnetworks falls as the batch size grows; IMP finds winning tickets only where it is low.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["instability-predicts-tickets"]


@pytest.mark.claim(CLAIM.id)
def test_instability_predicts_tickets(lab, scale, conclude):
    assert lab.setup(CLAIM) is None, "a setup exists for this scale: write the comparison it calls for"
    conclude.not_run(CLAIM)
