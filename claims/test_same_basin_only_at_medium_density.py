"""Claim 10 — same-basin-only-at-medium-density (paper Figs. 8, 20, 23).

Between successive stable rounds the error barrier is near zero at medium densities only.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["same-basin-only-at-medium-density"]


@pytest.mark.claim(CLAIM.id)
def test_same_basin_only_at_medium_density(lab, scale, conclude):
    assert lab.setup(CLAIM) is None, "a setup exists for this scale: write the comparison it calls for"
    conclude.not_run(CLAIM)
