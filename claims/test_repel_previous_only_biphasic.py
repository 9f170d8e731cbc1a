"""Claim 6 — repel-previous-only-biphasic (paper Fig. 17).

Repelling only the last optimum sends IMP back to the optimum of two rounds before: a checkerboard in the distance matrix.

Not calibrated at any scale yet: the test is collected at every scale and
reported as NOT RUN with the analysis it still needs (see the registry).
"""

import pytest

from replication.registry import CLAIMS

CLAIM = CLAIMS["repel-previous-only-biphasic"]


@pytest.mark.claim(CLAIM.id)
def test_repel_previous_only_biphasic(lab, scale, conclude):
    assert lab.setup(CLAIM) is None, "a setup exists for this scale: write the comparison it calls for"
    conclude.not_run(CLAIM)
