"""The medium scale: Table 1's ResNet-20 at width 8 on reduced Fashion-MNIST, about three hours on a 2-core CPU."""

from __future__ import annotations

from .experiments import PAPER_WEIGHT_DECAY, STABLE_SETUP_NOTE, Probe, Scale, Setup, paper_warmup
import math

# The medium sweep: Table 1's ResNet-20 at width 8 on reduced Fashion-MNIST (presets.py), one sweep for every claim as
# at the smaller scales. Its batch sizes are the medium stability probe's findings (PROBES["medium"]): 16 unstable,
# 32 semistable; of the stable 64–512, 256 keeps the paper's ratio of stable to unstable batch (2048 / 128 = 16),
# and 512 trains to 69% in its 32 steps, 11 points under the best dense network. 16 rounds (2.8% remaining) so that
# claims 8 and 10 reach the paper's very low densities; "low densities" ≤ 6.87% as at paper scale; 5 seeds. The
# rewinding arm rewinds to 5% of the unstable batch's training steps.
_MEDIUM_UNSTABLE, _MEDIUM_SEMISTABLE, _MEDIUM_STABLE = 16, 32, 256
_MEDIUM_REWIND = math.ceil(0.05 * 2 * math.ceil(8192 / _MEDIUM_UNSTABLE))
_MEDIUM_SWEEP = dict(preset="resnet20-fashion-mnist-sgd", seeds=5, rounds=16, stable_batch=_MEDIUM_STABLE,
                     low_density=0.07, instability_rounds=(5, 10, 15))
_MEDIUM_NOTE = ("ResNet-20 (batch norm, parameter-free shortcuts) at width 8 instead of 16, on Fashion-MNIST "
                "reduced to 8,192 training images at 14×14 instead of CIFAR-10, so that it runs on a 2-core CPU in "
                "under three hours. SGD with momentum 0.9 and lr 0.1 as in Table 1, constant, 2 epochs per round (the "
                "paper: 85), no weight decay or augmentation; the landscape measures read 2,048 examples. Batch "
                f"{_MEDIUM_UNSTABLE} stands for the unstable 128, {_MEDIUM_SEMISTABLE} for the semistable 512 and "
                f"{_MEDIUM_STABLE} for the stable 2048, as the medium stability probe found before any IMP run (see "
                "PROBES); 5 seeds, 16 rounds (2.8% remaining).")

_BEYOND_THE_PAPER = ("claim 12 is ours, beyond the paper, and is decided at the long scale, whose instability map "
                     "finds where the subnetworks become unstable; here batch 16's subnetworks are stable "
                     "(its claims 1 and 3 say so), so an equal-steps arm would only show it NOT TESTABLE")

SETUPS: dict[str, Setup] = {
    "random-reinit-fails": Setup(**_MEDIUM_SWEEP, differs=_MEDIUM_NOTE + STABLE_SETUP_NOTE),
    "stable-training-finds-tickets": Setup(**_MEDIUM_SWEEP, unstable_batch=_MEDIUM_UNSTABLE,
                                           differs=_MEDIUM_NOTE),
    "warmup-helps-semistable": Setup(
        **_MEDIUM_SWEEP, semistable_batch=_MEDIUM_SEMISTABLE, warmup_epochs=paper_warmup(2),
        differs=_MEDIUM_NOTE + f" The warm-up is the paper's share of a round (10 of 85 epochs): {paper_warmup(2):g} "
                               "of 2 epochs."),
    "instability-predicts-tickets": Setup(
        **_MEDIUM_SWEEP, batch_sizes=(_MEDIUM_UNSTABLE, _MEDIUM_SEMISTABLE, _MEDIUM_STABLE),
        differs=_MEDIUM_NOTE + " Three batch sizes: the unstable, semistable and stable ones."),
    "repellence-removes-tickets": Setup(**_MEDIUM_SWEEP, repel=2.0,
                                        differs=_MEDIUM_NOTE + " The paper's λ = 2 at the stable batch."),
    "attraction-rescues-unstable": Setup(
        **_MEDIUM_SWEEP, unstable_batch=_MEDIUM_UNSTABLE, repel=-1.0, rewind_step=_MEDIUM_REWIND,
        differs=_MEDIUM_NOTE + f" The paper's λ = −1 at the unstable batch; the rewinding arm rewinds to step "
                               f"{_MEDIUM_REWIND}, 5% of that batch's training (the paper does not say where it "
                               f"rewinds; Frankle et al. 2020 rewind ResNet-20 to a few percent of training)."),
    "repel-previous-only-biphasic": Setup(**_MEDIUM_SWEEP, repel=2.0, previous_only=True,
                                          differs=_MEDIUM_NOTE + " λ = 2 against the previous optimum only."),
    "tickets-retrain-to-similar-regions": Setup(**_MEDIUM_SWEEP, unstable_batch=_MEDIUM_UNSTABLE,
                                                differs=_MEDIUM_NOTE),
    "weights-grow-away-from-zero": Setup(**_MEDIUM_SWEEP, semistable_batch=_MEDIUM_SEMISTABLE, differs=_MEDIUM_NOTE),
    "weight-decay-hurts-semistable": Setup(
        **_MEDIUM_SWEEP, semistable_batch=_MEDIUM_SEMISTABLE, weight_decay=PAPER_WEIGHT_DECAY,
        differs=_MEDIUM_NOTE + f" Table 1's weight decay {PAPER_WEIGHT_DECAY:g} against none (Fig. 7)."),
    "stability-is-batch-not-steps": Setup(**_MEDIUM_SWEEP, unstable_batch=_MEDIUM_UNSTABLE,
                                          equal_steps_batch=_MEDIUM_STABLE, not_run=_BEYOND_THE_PAPER),
    "same-basin-only-at-medium-density": Setup(
        **_MEDIUM_SWEEP, differs=_MEDIUM_NOTE + " 16 rounds reach 2.8%, so both extremes exist: pairs above "
                                                "51.2% and the pair below 3.5%."),
}

# the medium training (batch 16 added when 32 was the only unstable one); then two diagnostic probes at 4 and 8
# epochs a round, run after the medium report, that calibrate none of its setups
PROBES = (Probe("resnet20-fashion-mnist-sgd", (16, 32, 64, 128, 256, 512), seeds=4,
                rule="relative", found=((16, "unstable"), (32, "semistable"), (64, "stable"), (128, "stable"), (256, "stable"),
                       (512, "stable"))),
          *(Probe("resnet20-fashion-mnist-sgd", (16, 256), seeds=4, overrides=(("epochs", epochs),),
                  rule="relative", found=((16, "unstable"), (256, "stable"))) for epochs in (4, 8)))

# A ResNet's path of 30 points over all 10,000 test images would cost more than its trainings here.
SCALE = Scale("medium", "medium scale: a BN ResNet-20 on reduced Fashion-MNIST, CPU, under three hours", SETUPS,
              PROBES, landscape_examples=2048, order=40)
