"""Bad input, table-driven: every mistake a user can make at the three doors (the `replication` CLI, the
pytest options of `pytest claims`, and specs built in Python) ends as one line that names the problem and the
fix, exit code 2 (a pytest usage error for pytest options), and leaves the run store untouched."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import replication.data as D
import replication.pytest_plugin  # noqa: F401  (imported before any inner pytest session; see test_plugin.py)
from replication.cli import main
from replication.presets import preset
from replication.spec import ExperimentSpec, PruneSpec, SpecError, TrainSpec
from test_plugin import PLUGIN, concluding

pytest_plugins = ["pytester"]

BLOCKED = "<a file where a folder should be>"  # replaced by a path under tmp_path
MISSING = "<a folder that does not exist>"
FILE = "<a file>"

# (door, arguments, a fragment the one line must contain)
CLI = [
    (["imp", "--preset", "nope"], "unknown preset 'nope'; choose one of"),
    (["imp", "--preset", "lenet-digits", "--device", "tpu"], "unknown --device 'tpu'; use cpu or cuda"),
    (["imp", "--preset", "lenet-digits", "--device", "cuda"], "no CUDA GPU is available; use --device cpu"),
    (["imp", "--preset", "lenet-digits", "--batch-size", "5000"], "batch size 5000"),
    (["imp", "--preset", "lenet-mnist"], "not found"),
    (["imp", "--preset", "lenet-digits", "--rounds", "-1"], "rounds must be >= 0"),
    (["imp", "--preset", "lenet-digits", "--lr", "0"], "learning rate must be > 0"),
    (["imp", "--preset", "lenet-digits", "--lr", "-0.5"], "pass a positive --lr"),
    (["imp", "--preset", "lenet-digits", "--epochs", "0"], "epochs must be >= 1"),
    (["imp", "--preset", "lenet-digits", "--warmup-epochs", "100"], "warm-up of 100 epochs"),
    (["imp", "--preset", "lenet-digits", "--prune-fraction", "1.5"], "prune fraction must be in (0, 1)"),
    (["imp", "--preset", "lenet-digits", "--prune-fraction", "0"], "prune fraction must be in (0, 1)"),
    (["imp", "--preset", "lenet-digits", "--seed", "3-x"], "bad seeds '3-x'"),
    (["imp", "--preset", "lenet-digits", "--set", "momentum"], "malformed setting 'momentum'; use KEY=VALUE"),
    (["imp", "--preset", "lenet-digits", "--set", "momentun=0.5"], "unknown training setting 'momentun'"),
    (["imp", "--preset", "lenet-digits", "--set", "momentum=fast"], "bad value 'fast' for momentum"),
    (["imp", "--preset", "lenet-digits", "--set", "dataset=svhn"], "unknown dataset 'svhn'"),
    (["imp", "--preset", "lenet-digits", "--set", "model=mlp"], "unknown model 'mlp'"),
    (["imp", "--preset", "lenet-digits", "--data-dir", MISSING], "does not exist; pass --data-dir"),
    (["imp", "--preset", "lenet-digits", "--store", BLOCKED], "is not writable"),
    (["imp", "--preset", "lenet-digits", "--set", "model_args=300,100"], "cannot be set from the command line"),
    (["run", "no-such-claim"], "unknown claim 'no-such-claim'; see `replication claims`"),
    (["run", "all", "--scale", "paper"], "the paper scale runs on the GPU: pass --device cuda"),
    (["run", "all", "--scale", "huge"], "invalid choice: 'huge'"),
    (["probe", "--scale", "smoke", "--device", "cuda:0"], "no CUDA GPU"),  # status only estimates for it
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["imp", "--preset", "lenet-digits", "--executor", "dask"], "invalid choice: 'dask'"),
    (["run", "all", "--ray-address", "10.0.0.1:6379"], "--ray-address needs --executor ray"),
    (["run", "all", "--seeds", "1"], "--seeds must be at least 2"),
    (["report", "--store", MISSING], "a report is rebuilt only from stored runs"),
    (["status", "--data-dir", MISSING], "does not exist; pass --data-dir"),
    (["imp", "--preset", "lenet-digits", "--population", "0"], "--population must be at least 1"),
    (["presets", "--show", "nope"], "unknown preset 'nope'; choose one of"),
    (["imp", "--preset", "lenet-digits", "--seed", "7-3"], "a range runs from low to high, e.g. 3-7"),
    (["imp", "--preset", "lenet-digits", "--set", "milestones=x"], "e.g. --set milestones=40,60"),
    (["status", "--store", FILE], "is not a folder; pass the run store folder"),
    (["probe", "--scale", "paper"], "no stability probe is declared at scale 'paper'"),
]
PYTEST = [
    (["--scale", "huge"], "invalid choice: 'huge'"),
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--seeds", "many"], "invalid int value: 'many'"),
    (["--device", "tpu"], "unknown --device 'tpu'; use cpu or cuda"),
    (["--device", "cuda"], "no CUDA GPU is available; use --device cpu"),
    (["--data-dir", MISSING], "does not exist; pass --data-dir (or set $REPLICATION_DATA)"),
    (["--store", BLOCKED], "is not writable"),
    (["--no-train", "--store", MISSING], "a report is rebuilt only from stored runs"),
    (["--executor", "dask"], "invalid choice: 'dask'"),
    (["--ray-address", "10.0.0.1:6379"], "--ray-address needs --executor ray"),
    (["--population", "0"], "--population must be at least 1"),
]
LENET = preset("lenet-digits")
SPECS = [
    (lambda: dataclasses.replace(LENET.train, lr=0.0), "learning rate must be > 0"),
    (lambda: dataclasses.replace(LENET.train, batch_size=0), "batch size must be >= 1"),
    (lambda: dataclasses.replace(LENET.train, optimizer="lbfgs"), "unknown optimizer 'lbfgs'"),
    (lambda: dataclasses.replace(LENET.train, dataset="svhn"), "unknown dataset 'svhn'"),
    (lambda: dataclasses.replace(LENET.train, momentum=1.0), "momentum must be in [0, 1)"),
    (lambda: dataclasses.replace(LENET.train, weight_decay=-1e-4), "weight decay must be >= 0"),
    (lambda: PruneSpec(fraction=1.0), "prune fraction must be in (0, 1)"),
    (lambda: PruneSpec(rounds=-3), "rounds must be >= 0"),
    (lambda: PruneSpec(strategy="random"), "unknown pruning strategy 'random'"),
    (lambda: PruneSpec(rewind_step=5), "only meaningful with reset='rewind'"),
    (lambda: LENET.with_(control="shuffle"), "unknown control"),
]


def test_the_table_covers_at_least_twenty_mistakes():
    assert len(CLI) + len(PYTEST) + len(SPECS) >= 20


def _paths(args: list[str], tmp_path: Path) -> list[str]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    paths = {BLOCKED: str(blocker / "store"), MISSING: str(tmp_path / "nowhere"), FILE: str(blocker)}
    return [paths.get(a, a) for a in args]


def _nothing_written(store: Path, cwd: Path):
    assert not store.exists() or not any(store.iterdir()), "something was written to the store"
    assert not (cwd / "runs").exists() and not (cwd / "reports").exists()


@pytest.mark.parametrize("args, fragment", CLI, ids=[" ".join(a) for a, _ in CLI])
def test_cli(args, fragment, tmp_path, monkeypatch, capsys):
    for name in ("data", "home", "cwd"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("REPLICATION_DATA", str(tmp_path / "data"))  # no datasets anywhere
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(D, "_download", lambda *a, **k: pytest.fail("the CLI tried to download"))
    store = tmp_path / "store"
    args = _paths(args, tmp_path)
    if "--store" not in args and args[0] in ("imp", "run", "status", "probe"):
        args += ["--store", str(store)]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("replication: error: ") and fragment in lines[0], lines[0]
    _nothing_written(store, tmp_path / "cwd")


@pytest.mark.parametrize("args, fragment", PYTEST, ids=[" ".join(a) for a, _ in PYTEST])
def test_pytest_options(args, fragment, pytester, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("REPLICATION_STORE", raising=False)
    pytester.makepyfile(test_fake=concluding("random-reinit-fails", "SUPPORTED"))
    args = _paths(args, pytester.path)
    if "--store" not in args:
        args += ["--store", str(pytester.path / "store")]
    result = pytester.runpytest(*PLUGIN, "--report-dir", str(pytester.path / "reports"), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # pytest prints its own usage line before errors in its options; ours are one "ERROR: ..." line
    errors = [line for line in result.stderr.lines
              if (line.startswith("ERROR:") or "error:" in line) and not line.startswith("ERROR: usage:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr.str()
    _nothing_written(pytester.path / "store", pytester.path)


@pytest.mark.parametrize("build, fragment", SPECS, ids=[f for _, f in SPECS])
def test_specs(build, fragment):
    with pytest.raises(SpecError) as error:
        build()
    message = str(error.value)
    assert fragment in message and "\n" not in message


def test_a_spec_error_is_a_value_error():
    """Library users who catch ValueError for bad settings keep working."""
    assert issubclass(SpecError, ValueError) and ExperimentSpec and TrainSpec
