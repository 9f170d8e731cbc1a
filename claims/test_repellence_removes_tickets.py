"""Claim 4 — repellence-removes-tickets (paper Fig. 3 left; Figs. 13, 14).

Stable IMP with the repellent loss falls to the level of random reinitialization, which the same loss leaves unchanged.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["repellence-removes-tickets"]


@pytest.mark.claim(CLAIM.id)
def test_repellence_removes_tickets(lab, scale, conclude):
    assert lab.setup(CLAIM) is None, "a setup exists for this scale: write the comparison it calls for"
    conclude.not_run(CLAIM)
