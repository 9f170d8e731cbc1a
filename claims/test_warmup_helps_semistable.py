"""Claim 2 — warmup-helps-semistable (paper Fig. 1).

A 10-epoch warm-up improves IMP near batch 512 and makes little difference once training is fully stable.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["warmup-helps-semistable"]


@pytest.mark.claim(CLAIM.id)
def test_warmup_helps_semistable(lab, setup, conclude):
    pytest.fail(f"a {lab.scale} setup exists for {CLAIM.id}: write the comparison it calls for")
