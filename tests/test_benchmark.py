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
def test_the_gpu_session_runs_end_to_end_as_a_dry_run_on_the_cpu(tmp_path):
    """benchmarks/gpu_session.sh --dry-run: tiny shapes on the CPU, every part, each line in $OUT as printed."""
    import json
    import os
    import subprocess
    import sys

    root = PATH.parents[1]
    env = {**os.environ, "OUT": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(root / "benchmarks" / "gpu_session.sh"), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("gpu_session: ") and lines[-1].endswith("failed, real run ok, stacked ok"), lines[-1]
    assert " 0 failed" in lines[-1]
    assert (tmp_path / "gpu_session.log").read_text().splitlines() == lines
    records = [json.loads(line) for line in (tmp_path / "gpu_session.jsonl").read_text().splitlines()]
    engines = {r["engine"] for r in records if "engine" in r}
    assert {"loop fp32", "loop fp32 tf32", "loop bf16 channels-last", "vmap K=1 fp32", "vmap K=4 fp32"} <= engines
    assert {r["measure"] for r in records if "measure" in r} == {"evaluate", "recompute_batchnorm"}
    assert (tmp_path / "reports" / "smoke" / "results.json").is_file()


def test_a_failing_configuration_is_one_line_and_the_session_goes_on(capsys):
    sys_path = str(PATH.parent)
    import sys

    sys.path.insert(0, sys_path)
    try:
        import gpu_session
    finally:
        sys.path.remove(sys_path)
    s = gpu_session.Session(None, budget_s=60)
    assert s.guarded("broken", lambda: 1 / 0) is None and s.guarded("fine", lambda: 2.0) == 2.0
    assert (s.measured, s.failed) == (1, 1)
    assert "broken: FAILED ZeroDivisionError: division by zero" in capsys.readouterr().out
    spent = gpu_session.Session(None, budget_s=-1)
    assert spent.guarded("late", lambda: 1.0) is None and "late: skipped (budget spent)" in capsys.readouterr().out


def test_the_long_rounds_benchmark_times_the_long_scales_own_dense_rounds():
    """benchmarks/long_rounds.py trains (in its own processes, on the real data) the dense round of the long
    scale's IMP runs: the specs it builds are those runs cut to round 0, and --epochs shortens them."""
    spec = importlib.util.spec_from_file_location("long_rounds", PATH.parent / "long_rounds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from replication.registry import Arm
    from replication.registry.long import map_setups

    setup = map_setups()["instability-predicts-tickets"]
    specs = module.specs([16, 256], None, seed=1)
    assert [s.train for s in specs] == [setup.runs_of(Arm("imp", b))[1].train for b in (16, 256)]
    assert all(s.prune.rounds == 0 and s.n_rounds == 1 and s.init_seed == 1 for s in specs)
    short = module.specs([64], 2, seed=0)[0]
    assert short.train.epochs == 2 and short.train.milestones == ()
