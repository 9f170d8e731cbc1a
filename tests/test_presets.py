"""The paper's Table 1, pinned value by value, and the parameter counts of its networks."""

from __future__ import annotations

import pytest

from replication import masks as M
from replication.models import build_model, count_parameters
from replication.presets import PRESETS, SMALL, TABLE_1, preset
from replication.spec import SpecError

# name: (dataset, model, epochs, batch, optimizer, lr, schedule, milestones, init, weight decay)
TABLE = {
    "lenet-mnist": ("mnist", "lenet", 25, 60, "adam", 1.2e-3, "constant", (), "kaiming_uniform", 0.0),
    "resnet20-cifar10": ("cifar10", "resnet20", 85, 128, "sgd", 0.1, "step", (56, 71), "kaiming_normal", 1e-5),
    "conv4-cifar10": ("cifar10", "conv4", 75, 128, "sgd", 0.01, "cosine", (), "kaiming_normal", 1e-5),
    "resnet50-imagenet": ("imagenet", "resnet50", 90, 1024, "sgd", 0.4, "step", (30, 60, 80), "kaiming_normal",
                          1e-5),
}

# name: (input shape, paper's parameter count)
PARAMS = {
    "lenet-mnist": ((1, 28, 28), 266_000),
    "resnet20-cifar10": ((3, 32, 32), 274_000),
    "conv4-cifar10": ((3, 32, 32), 2_400_000),
    "resnet50-imagenet": ((3, 224, 224), 25_500_000),
}
CLASSES = {"mnist": 10, "cifar10": 10, "imagenet": 1000}


def test_table_1_has_exactly_the_four_rows():
    assert set(TABLE_1) == set(TABLE)
    assert set(PRESETS) == set(TABLE_1) | set(SMALL)


@pytest.mark.parametrize("name", list(TABLE))
def test_table_1_row(name):
    dataset, model, epochs, batch, optimizer, lr, schedule, milestones, init, wd = TABLE[name]
    spec = preset(name)
    t, p = spec.train, spec.prune
    assert t.dataset == dataset
    assert t.model == model
    assert t.epochs == epochs
    assert t.batch_size == batch
    assert t.optimizer == optimizer
    assert t.lr == lr
    assert t.schedule == schedule
    assert t.milestones == milestones
    if schedule == "step":
        assert t.gamma == 0.1  # "÷10 at epochs ..."
    assert t.init == init
    assert t.weight_decay == wd
    if optimizer == "sgd":
        assert t.momentum == 0.9  # unstated; the convention
    assert t.warmup_epochs == 0  # warm-up is a per-experiment change, not part of Table 1
    assert t.model_args == ()  # the full-size networks
    assert t.augment == (dataset in ("cifar10", "imagenet"))
    assert spec.control == "imp" and spec.repel_lambda == 0.0
    assert p.reset == "init" and p.rewind_step == 0  # reset to initialization, no rewinding


@pytest.mark.parametrize("name", ["lenet-mnist", "resnet20-cifar10", "conv4-cifar10"])
def test_iterative_rows_prune_20_percent_for_25_rounds(name):
    p = preset(name).prune
    assert (p.fraction, p.rounds, p.strategy) == (0.2, 25, "iterative")


def test_resnet50_is_one_shot_to_30_percent():
    p = preset("resnet50-imagenet").prune
    assert (p.fraction, p.rounds, p.strategy) == (0.7, 1, "oneshot")
    assert (1 - p.fraction) ** p.rounds == pytest.approx(0.3)


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_counts_match_the_paper(name):
    shape, paper = PARAMS[name]
    spec = preset(name)
    model = build_model(spec.train.model, shape, CLASSES[spec.train.dataset], spec.train.init, 0)
    count = count_parameters(model)
    assert abs(count - paper) <= 0.02 * paper, f"{name}: {count:,} parameters vs the paper's {paper:,}"
    assert 0 < M.size(M.dense_mask(model)) <= count


def test_exact_counts_of_the_small_networks():
    assert count_parameters(build_model("lenet", (1, 28, 28), 10, "kaiming_uniform", 0)) == 266_610
    assert count_parameters(build_model("conv4", (3, 32, 32), 10, "kaiming_normal", 0)) == 2_425_930


def test_preset_overrides_and_errors():
    big = preset("resnet20-cifar10", batch_size=2048, warmup_epochs=10)
    base = preset("resnet20-cifar10")
    assert big.train.batch_size == 2048 and big.train.warmup_epochs == 10
    assert big.train.lr == base.train.lr and big.train.epochs == base.train.epochs  # only the batch changes
    assert big.hash() != base.hash()
    assert preset("resnet20-cifar10") == base  # the table itself is untouched
    with pytest.raises(SpecError, match="unknown preset"):
        preset("resnet18-cifar10")
    with pytest.raises(SpecError, match="unknown training setting"):
        preset("lenet-mnist", learning_rate=0.1)
    with pytest.raises(SpecError, match="learning rate"):
        preset("lenet-mnist", lr=0.0)
