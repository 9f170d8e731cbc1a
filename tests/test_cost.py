"""The cost model (replication/cost.py) against hand-computed cases, and the estimates `status` and
`run --dry-run` give before anything is stored."""

from __future__ import annotations

import pytest

from replication import cost
from replication.cli import main
from replication.data import REDUCED, load_digits
from replication.presets import preset


def test_a_round_costs_its_steps_and_its_images():
    # 2 epochs × (512 steps × 4.6 ms + 8,192 images × 0.446 ms)
    spec = preset("resnet20-fashion-mnist-sgd", batch_size=16)
    assert cost.round_seconds(spec) == pytest.approx(2 * (512 * 4.6e-3 + 8192 * 446e-6))
    # a large batch pays the per-step cost 16 times less often
    large = preset("resnet20-fashion-mnist-sgd", batch_size=256)
    assert cost.round_seconds(large) == pytest.approx(2 * (32 * 4.6e-3 + 8192 * 446e-6))


def test_workers_take_whole_families_in_order():
    b16, b256 = (preset("resnet20-fashion-mnist-sgd", batch_size=b) for b in (16, 256))
    r16, r256 = cost.round_seconds(b16), cost.round_seconds(b256)
    imp = [b256.with_(init_seed=s, noise_seed=s) for s in range(3)]
    families = [[s, s.with_(control="reinit")] for s in imp]  # an IMP run and its reinitialization train together
    family = 2 * b256.n_rounds * r256
    # three equal families on two workers: one worker takes two of them, one after the other
    assert cost.wall_seconds([s for f in families for s in f], workers=2) == pytest.approx(2 * family)
    assert cost.wall_seconds([s for f in families for s in f], workers=3) == pytest.approx(family)
    # a second training of one round is one round long, in its run's family, and shared runs count once
    copy = imp[0].copy_of(5)
    assert cost.wall_seconds([imp[0], copy, imp[0]], workers=2) == pytest.approx((b256.n_rounds + 1) * r256)
    # the next family goes to the worker that frees first: 16 | 256, then 256 after the shorter one
    runs = [b16, b256, b256.with_(init_seed=1)]
    assert cost.wall_seconds(runs, workers=2) == pytest.approx(
        max(b16.n_rounds * r16, 2 * b256.n_rounds * r256))


def test_measured_ratios_scale_each_runs_rounds_before_the_schedule():
    # batch 16 measured at the model, batch 256 at half of it: the 256 family (IMP and its reinitialization)
    # then takes 2 × 0.5 × its rounds, and a control trained at one round costs one round
    b16, b256 = (preset("resnet20-fashion-mnist-sgd", batch_size=b) for b in (16, 256))
    r16, r256 = cost.round_seconds(b16), cost.round_seconds(b256)
    half = {16: 1.0, 256: 0.5}
    runs = [b16, b256, b256.with_(control="reinit")]
    assert cost.wall_seconds(runs, 2, measured=lambda s: half[s.train.batch_size]) == pytest.approx(
        max(b16.n_rounds * r16, b256.n_rounds * r256))
    one_round = b256.with_(control="reinit", trained_rounds=(b256.prune.rounds,))
    assert cost.wall_seconds([b256, one_round], 1) == pytest.approx((b256.n_rounds + 1) * r256)


def test_a_preset_without_a_rate_on_a_device_has_no_estimate():
    assert cost.round_seconds(preset("resnet20-cifar10"), "cpu") is None
    assert cost.round_seconds(preset("resnet20-cifar10"), "cuda:0") is not None
    assert cost.sources([preset("resnet20-cifar10")], "cuda") == {cost.RATES[("resnet20", "cifar10", "sgd", "cuda")].source}
    assert all(r.source.startswith("assumed") for k, r in cost.RATES.items() if k[3] == "cuda")


def test_the_image_counts_are_the_datasets():
    assert cost.TRAIN_IMAGES["digits"] == load_digits().n_train
    assert cost.TRAIN_IMAGES["fashion-mnist-8k-14px"] == REDUCED["fashion-mnist-8k-14px"].train_examples


def test_status_estimates_before_the_first_run(tmp_path, capsys):
    store = str(tmp_path / "empty")
    assert main(["status", "--scale", "smoke", "--store", store, "--claim", "random-reinit-fails"]) == 0
    out = capsys.readouterr().out
    assert "rounds 0/336, remaining ~" in out and "(cost model)" in out and "measured on the 2-core" in out
    # a GPU estimate needs no GPU, and says its rates are assumed
    assert main(["status", "--scale", "paper", "--device", "cuda", "--store", store,
                 "--claim", "random-reinit-fails"]) == 0
    assert "assumed, not measured" in capsys.readouterr().out
    assert main(["status", "--scale", "smoke", "--store", store, "--claim", "no-such-claim"]) == 2
    assert "unknown claim 'no-such-claim'" in capsys.readouterr().err


def test_run_dry_run_trains_nothing(tmp_path, capsys):
    store = tmp_path / "runs"
    assert main(["run", "random-reinit-fails", "--scale", "smoke", "--dry-run", "--store", str(store)]) == 0
    assert "remaining ~" in capsys.readouterr().out
    assert not store.exists()
