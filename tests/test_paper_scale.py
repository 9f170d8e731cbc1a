"""A dry run of every paper-scale claim on the CPU: the claim modules, analyses and report exactly as
`pytest claims --scale paper` runs them on a GPU, with the experiments shrunk (1 epoch, 2 rounds, 2 seeds,
batch sizes ÷ 32, ResNet-20 at width 4) on fake MNIST and CIFAR-10 files. It shows the paper scale runs
without code changes: ResNet-20 trained as vmapped populations (TrainSpec.stacking="vmap"), its batch norm
recomputed along interpolation paths, its second trainings, the reference values in the report. The verdicts
on random data mean nothing."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import replication.pytest_plugin  # noqa: F401  (imported before the inner session; see test_plugin.py)
from replication import presets, registry, stats
from replication.stats import ERROR

from test_data import _fake_mnist


pytest_plugins = ["pytester"]
CLAIMS_DIR = Path(__file__).resolve().parents[1] / "claims"


def _fake_cifar10(folder: Path, n_train: int = 80, n_test: int = 32) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    per_batch = n_train // 5
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        batch = {b"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))


def _shrunk(setup: registry.Setup) -> registry.Setup:
    smaller = lambda b: b and max(2, b // 32)  # noqa: E731  (64 … 2048 -> 2 … 64, still distinct)
    return dataclasses.replace(
        # claim 6's return to r−2 is read against r−3: it needs a round 3
        setup, seeds=2, rounds=3 if setup.previous_only else 2, unstable_batch=smaller(setup.unstable_batch),
        semistable_batch=smaller(setup.semistable_batch), stable_batch=smaller(setup.stable_batch),
        batch_sizes=tuple(smaller(b) for b in setup.batch_sizes), warmup_epochs=min(setup.warmup_epochs, 1),
        equal_steps_batch=smaller(setup.equal_steps_batch),
        instability_rounds=(1,) if setup.instability_rounds else (), histogram_round=1, low_density=0.7,
        medium_density=(0.6, 0.9))  # rounds 0-1 are an 'extreme' pair, rounds 1-2 a 'medium' one


def test_paper_scale_seeds_come_from_the_power_calculation():
    """Every paper-scale setup uses PAPER_SEEDS, which is the skew-robust test's 80%-power seed count at a per-seed
    sd of two thirds of the margin, and at least 5 (below that the sign-flip p cannot reach α)."""
    assert registry.PAPER_SEEDS == stats.seeds_for_power(2 / 3, 1.0) >= 5
    assert {s.seeds for s in registry.SETUPS["paper"].values()} == {registry.PAPER_SEEDS}


@pytest.mark.slow
def test_every_paper_scale_claim_runs_on_a_cpu_dry_run(pytester, monkeypatch, tmp_path):
    data = tmp_path / "data"
    _fake_cifar10(data / "cifar10")
    _fake_mnist(data / "mnist", gz=False, n_train=80, n_test=32, side=28)
    # ResNet-20 stacked, and narrowed to width 4: the path-measures' forward passes, not training, dominate this
    # test's time, and they scale with the width squared while every code path stays the same.
    for name, stacking, model_args in (("resnet20-cifar10", "vmap", (("width", 4),)), ("lenet-mnist", "loop", None)):
        spec = presets.PRESETS[name]
        one_epoch = spec.with_(train=dataclasses.replace(
            spec.train, epochs=1, milestones=(), stacking=stacking, model_args=model_args or spec.train.model_args))
        monkeypatch.setitem(presets.PRESETS, name, one_epoch)
    monkeypatch.setitem(registry.SETUPS, "paper", {k: _shrunk(s) for k, s in registry.SETUPS["paper"].items()})

    result = pytester.runpytest(str(CLAIMS_DIR), "--scale", "paper", "--allow-cpu", "--data-dir", str(data),
                                "--store", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "reports"),
                                "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                "-W", "ignore::pytest.PytestAssertRewriteWarning")
    outcomes = result.parseoutcomes()
    assert "error" not in outcomes and "errors" not in outcomes, result.stdout.str()[-3000:]
    results = json.loads((tmp_path / "reports" / "paper" / "results.json").read_text())
    assert sorted(r["claim"] for r in results) == sorted(registry.CLAIMS)
    assert not [r for r in results if r["verdict"] == ERROR or (r["verdict"] == "NOT RUN" and not r["beyond_paper"])]
    specs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/spec.json")]
    resnets = [s for s in specs if s["train"]["model"] == "resnet20"]
    assert resnets and all(s["train"]["stacking"] == "vmap" for s in resnets)
    assert any(s.get("copy_round") is not None for s in resnets)  # the instability's second trainings too
    report = (tmp_path / "reports" / "paper" / "REPORT.md").read_text()
    assert "Paper's reference values" in report and "resnet20 on cifar10" in report
