"""Named experiment settings: the four rows of the paper's Table 1, and small CPU cousins.

Table 1 rows are copied exactly (tests pin every value). Where the paper is
silent the choice is written next to it.
"""

from __future__ import annotations

import dataclasses

from .spec import ExperimentSpec, PruneSpec, SpecError, TrainSpec

# --- the paper's Table 1 --------------------------------------------------------
TABLE_1: dict[str, ExperimentSpec] = {
    "lenet-mnist": ExperimentSpec(
        train=TrainSpec(dataset="mnist", model="lenet", epochs=25, batch_size=60, optimizer="adam", lr=1.2e-3,
                        schedule="constant", init="kaiming_uniform", weight_decay=0.0),
        prune=PruneSpec(fraction=0.2, rounds=25, strategy="iterative"),
    ),
    "resnet20-cifar10": ExperimentSpec(
        train=TrainSpec(dataset="cifar10", model="resnet20", epochs=85, batch_size=128, optimizer="sgd", lr=0.1,
                        momentum=0.9, schedule="step", milestones=(56, 71), init="kaiming_normal",
                        weight_decay=1e-5, augment=True),
        prune=PruneSpec(fraction=0.2, rounds=25, strategy="iterative"),
    ),
    "conv4-cifar10": ExperimentSpec(
        train=TrainSpec(dataset="cifar10", model="conv4", epochs=75, batch_size=128, optimizer="sgd", lr=0.01,
                        momentum=0.9, schedule="cosine", init="kaiming_normal", weight_decay=1e-5, augment=True),
        prune=PruneSpec(fraction=0.2, rounds=25, strategy="iterative"),
    ),
    # One-shot pruning to 30% of the weights remaining (the paper's ImageNet table).
    "resnet50-imagenet": ExperimentSpec(
        train=TrainSpec(dataset="imagenet", model="resnet50", epochs=90, batch_size=1024, optimizer="sgd", lr=0.4,
                        momentum=0.9, schedule="step", milestones=(30, 60, 80), init="kaiming_normal",
                        weight_decay=1e-5, augment=True),
        prune=PruneSpec(fraction=0.7, rounds=1, strategy="oneshot"),
    ),
}

# --- CPU scales ------------------------------------------------------------------
# Digits: 1,437 training images of 8×8. LeNet-300-100 with Adam as in Table 1's
# first row; 20 rounds reach 1.2% density. SGD variants make batch size matter
# (Adam's normalization hides much of it). Which batch sizes are unstable, semistable
# and stable is each scale's stability probe's finding (registry.PROBES, docs/probes.md).
SMALL: dict[str, ExperimentSpec] = {
    "lenet-digits": ExperimentSpec(
        train=TrainSpec(dataset="digits", model="lenet", epochs=30, batch_size=60, optimizer="adam", lr=1.2e-3,
                        schedule="constant", init="kaiming_uniform"),
        prune=PruneSpec(fraction=0.2, rounds=20),
    ),
    "lenet-digits-sgd": ExperimentSpec(
        train=TrainSpec(dataset="digits", model="lenet", epochs=30, batch_size=256, optimizer="sgd", lr=0.05,
                        momentum=0.9, schedule="constant", init="kaiming_uniform"),
        prune=PruneSpec(fraction=0.2, rounds=15),
    ),
    "lenet-fashion-mnist": ExperimentSpec(
        train=TrainSpec(dataset="fashion-mnist", model="lenet", epochs=10, batch_size=60, optimizer="adam",
                        lr=1.2e-3, schedule="constant", init="kaiming_uniform"),
        prune=PruneSpec(fraction=0.2, rounds=15),
    ),
    # lr 0.1 and momentum 0.9 as Table 1's ResNet-20 (at lr 0.05 the batch sizes hardly differ).
    "lenet-fashion-mnist-sgd": ExperimentSpec(
        train=TrainSpec(dataset="fashion-mnist", model="lenet", epochs=3, batch_size=512, optimizer="sgd", lr=0.1,
                        momentum=0.9, schedule="constant", init="kaiming_uniform"),
        prune=PruneSpec(fraction=0.2, rounds=12),
    ),
    # The convnet smoke scale: the medium scale's ResNet-20 at width 8 on the digits (8×8), so that CI trains a batch-
    # norm ResNet end to end in minutes. SGD at lr 0.1 and momentum 0.9, constant, as the medium scale.
    "resnet20-digits-sgd": ExperimentSpec(
        train=TrainSpec(dataset="digits", model="resnet20", epochs=3, batch_size=256, optimizer="sgd", lr=0.1,
                        momentum=0.9, schedule="constant", init="kaiming_normal", model_args=(("width", 8),)),
        prune=PruneSpec(fraction=0.2, rounds=10),
    ),
    # The medium scale's network is Table 1's ResNet-20 (batch norm, parameter-free shortcuts, SGD at lr 0.1,
    # momentum 0.9, Kaiming normal), narrowed to width 8 and fed Fashion-MNIST reduced to 8,192 training images at
    # 14×14 (data.REDUCED), so that a seed of every claim trains in minutes on a 2-core CPU. ResNet-20 rather than
    # a shallower ResNet: depth carries the instability (docs/probes.md). Constant lr, no weight decay or
    # augmentation, as the small scale; 2 epochs.
    "resnet20-fashion-mnist-sgd": ExperimentSpec(
        train=TrainSpec(dataset="fashion-mnist-8k-14px", model="resnet20", epochs=2, batch_size=256,
                        optimizer="sgd", lr=0.1, momentum=0.9, schedule="constant", init="kaiming_normal",
                        model_args=(("width", 8),)),
        prune=PruneSpec(fraction=0.2, rounds=16),
    ),
    "conv2-fashion-mnist": ExperimentSpec(
        train=TrainSpec(dataset="fashion-mnist", model="conv2", epochs=10, batch_size=128, optimizer="sgd",
                        lr=0.01, momentum=0.9, schedule="cosine", init="kaiming_normal", weight_decay=1e-5),
        prune=PruneSpec(fraction=0.2, rounds=15),
    ),
}

PRESETS: dict[str, ExperimentSpec] = {**TABLE_1, **SMALL}


def preset(name: str, **train_overrides) -> ExperimentSpec:
    """A preset by name, optionally with training settings replaced (e.g. batch_size=2048)."""
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    spec = PRESETS[name]
    if train_overrides:
        unknown = set(train_overrides) - {f.name for f in dataclasses.fields(TrainSpec)}
        if unknown:
            raise SpecError(f"unknown training setting(s) {', '.join(sorted(unknown))}; "
                            f"valid: {', '.join(f.name for f in dataclasses.fields(TrainSpec))}")
        spec = spec.with_(train=dataclasses.replace(spec.train, **train_overrides))
    return spec
