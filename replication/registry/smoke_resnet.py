"""The convnet smoke scale: the medium scale's ResNet-20 on the digits, so that CI trains a batch-norm ResNet."""

from __future__ import annotations

from .claims import CLAIMS
from .experiments import STABLE_SETUP_NOTE, Probe, Scale, Setup

# The convnet smoke scale: claims 1, 7 and 11 on the medium scale's ResNet-20 (width 8, batch norm, SGD at lr 0.1) on
# the digits, so that CI trains a batch-norm ResNet through the claims end to end. Its probe (PROBES["smoke-resnet"])
# found batch 16 unstable and 128 stable (and 256 failing to train in its 18 steps); 4 seeds and 6 rounds (26.2%
# remaining) keep it to minutes.
_RESNET_SMOKE_SWEEP = dict(preset="resnet20-digits-sgd", seeds=4, rounds=6, stable_batch=128, low_density=0.33,
                           instability_rounds=(3, 6))
_RESNET_SMOKE_NOTE = ("scikit-learn's 8×8 digits (1,437 training images) instead of MNIST/CIFAR-10, so that it runs "
                      "offline on a laptop CPU in minutes; the medium scale's ResNet-20 at width 8." + " SGD with momentum 0.9 and lr 0.1 as in Table 1, constant, 3 epochs per round; batch 16 "
                        "stands for the unstable 128 and 128 for the stable 2048, as the probe found (see PROBES); 4 "
                        "seeds, 6 rounds (26.2% remaining), \"low densities\" the rounds at or below 32.8%.")
_RESNET_SMOKE_ONLY = "the convnet smoke scale runs claims 1, 7 and 11 only, to keep CI within its time"

SETUPS: dict[str, Setup] = {
    **{claim_id: Setup(**_RESNET_SMOKE_SWEEP, not_run=_RESNET_SMOKE_ONLY) for claim_id in CLAIMS},
    "stable-training-finds-tickets": Setup(**_RESNET_SMOKE_SWEEP, unstable_batch=16,
                                           differs=_RESNET_SMOKE_NOTE),
    "tickets-retrain-to-similar-regions": Setup(
        **_RESNET_SMOKE_SWEEP, unstable_batch=16, differs=_RESNET_SMOKE_NOTE,
        known_refuted="in the few steps of a round at batch 128 on the digits, training moves the ResNet little "
                      "from its initialization, and its successive rounds lie almost as far from each other: no "
                      "closer to each other than to the start they share by the margin"),
    "random-reinit-fails": Setup(**_RESNET_SMOKE_SWEEP, differs=_RESNET_SMOKE_NOTE + STABLE_SETUP_NOTE),
}

# the medium scale's ResNet-20 on the digits, 3 epochs (128 added when 256 failed to train)
PROBES = (Probe("resnet20-digits-sgd", (16, 32, 64, 128, 256), seeds=4,
                rule="relative", found=((16, "unstable"), (32, "semistable"), (64, "semistable"), (128, "stable"), (256, "fails"))),)

SCALE = Scale("smoke-resnet", "the convnet smoke scale: claims 1, 7 and 11 on a BN ResNet-20, the digits, minutes",
              SETUPS, PROBES, marker="smoke", order=20)
