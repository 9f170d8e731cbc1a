"""The throughput benchmark's pieces run (on a few hundred examples), so the script cannot rot unnoticed.
Its numbers are measured by running it, never asserted here."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("throughput", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_loop_and_engine_run_and_report_rates(bench):
    data = bench.synthetic(240, (1, 28, 28))
    assert bench.plain_epoch(data) > 0
    for precision in ("fp32", "bf16"):
        assert bench.engine_epoch(data, 2, precision) > 0
    assert bench.matmul_peak(0.05, size=128) > 0


def test_every_resnet_engine_setting_runs(bench):
    data = bench.synthetic(128, (3, 32, 32))
    assert bench.resnet_plain_epoch(data, 0) > 0
    for members, settings in bench.RESNET_SETTINGS.values():
        assert bench.resnet_engine_epoch(data, min(members, 2), 0, **settings) > 0


def test_the_medium_scales_resnet_runs_at_its_small_batch(bench):
    from replication.registry import setup_for

    train = setup_for("stable-training-finds-tickets", "medium").specs("imp")[0].train
    assert dict(train.model_args)["width"] == bench.MEDIUM_SHAPE["width"]
    assert train.dataset == "fashion-mnist-8k-14px" and bench.MEDIUM_SHAPE["image"] == (1, 14, 14)
    data = bench.synthetic(64, bench.MEDIUM_SHAPE["image"])
    shape = dict(batch=16, width=bench.MEDIUM_SHAPE["width"])
    assert bench.resnet_plain_epoch(data, 0, **shape) > 0
    assert bench.resnet_engine_epoch(data, 2, 0, **shape, stacking="vmap") > 0


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_as_a_dry_run_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh --dry-run: tiny shapes on the CPU, every setting, the output copied to $OUT."""
    import os
    import re
    import subprocess
    import sys

    root = PATH.parents[1]
    env = {**os.environ, "OUT": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(root / "benchmarks" / "gpu_check.sh"), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"resnet20_trainings_per_gpu_hour=\d+", lines[-1]), lines[-1]
    settings = [line for line in lines if line.startswith("  ") and "ex/s per model" in line]
    assert len(settings) == 16 and (tmp_path / "gpu_check.json").is_file()  # 2 batches × 2 precisions × 4
