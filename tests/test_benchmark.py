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
