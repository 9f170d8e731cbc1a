"""Claim 5 — attraction-rescues-unstable (paper Fig. 3 right).

With the attractive loss, small-batch IMP finds tickets, though not as good as rewinding.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["attraction-rescues-unstable"]


@pytest.mark.claim(CLAIM.id)
def test_attraction_rescues_unstable(lab, scale, conclude):
    assert lab.setup(CLAIM) is None, "a setup exists for this scale: write the comparison it calls for"
    conclude.not_run(CLAIM)
