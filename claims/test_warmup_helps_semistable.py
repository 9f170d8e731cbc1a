"""Claim 2 — warmup-helps-semistable (paper Fig. 1).

A 10-epoch warm-up improves IMP near batch 512 and makes little difference once training is fully stable.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["warmup-helps-semistable"]


@pytest.mark.claim(CLAIM.id)
def test_warmup_helps_semistable(lab, scale, conclude):
    assert lab.setup(CLAIM) is None, "a setup exists for this scale: write the comparison it calls for"
    conclude.not_run(CLAIM)
