"""Claim 9 — weight-decay-hurts-semistable (paper Fig. 7).

Without weight decay the semistable threshold grows faster and collapses later, giving a longer plateau.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["weight-decay-hurts-semistable"]


@pytest.mark.claim(CLAIM.id)
def test_weight_decay_hurts_semistable(lab, setup, conclude):
    pytest.fail(f"a {lab.scale} setup exists for {CLAIM.id}: write the comparison it calls for")
