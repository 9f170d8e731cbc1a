"""The command line: a tiny run works; seeds parse; missing data says where it looked (the table of bad
inputs is in test_bad_input.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import replication.data as D
from replication.cli import main, parse_seeds


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty store path, no datasets anywhere, no downloads, and a scratch working directory."""
    data, home, cwd = tmp_path / "data", tmp_path / "home", tmp_path / "cwd"
    for folder in (data, home, cwd):
        folder.mkdir()
    monkeypatch.setenv("REPLICATION_DATA", str(data))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("REPLICATION_STORE", raising=False)
    monkeypatch.chdir(cwd)

    def no_download(*args, **kwargs):
        raise AssertionError("the CLI tried to download")

    monkeypatch.setattr(D, "_download", no_download)
    return tmp_path / "store"


def _assert_usage_error(capsys, store: Path, code: int, fragment: str):
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {err!r}"
    assert lines[0].startswith("replication: error: ")
    assert fragment in lines[0]
    assert out == ""
    assert not store.exists() or not any(store.iterdir()), "something was written to the store"


def _imp(store, *extra):
    return ["imp", *extra, "--store", str(store)]


def test_missing_dataset_names_where_it_looked(env, capsys, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    code = main(_imp(env, "--preset", "lenet-mnist", "--data-dir", str(tmp_path / "elsewhere")))
    _assert_usage_error(capsys, env, code, str(tmp_path / "elsewhere" / "mnist"))


@pytest.mark.parametrize("seeds", ["a", "3-x", "1,,2", "-1", ""])
def test_bad_seeds_exit_2_via_argparse(env, capsys, seeds):
    with pytest.raises(SystemExit) as exit_info:
        main(_imp(env, "--preset", "lenet-digits", f"--seed={seeds}"))
    assert exit_info.value.code == 2
    _, err = capsys.readouterr()
    assert "bad seeds" in err.strip().splitlines()[-1]
    assert not env.exists()


def test_parse_seeds():
    assert parse_seeds("3") == [3]
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,4,9") == [1, 4, 9]
    assert parse_seeds("0-1,5") == [0, 1, 5]


def test_presets_command_lists_every_preset(capsys):
    from replication.presets import PRESETS

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS)


def test_presets_show_prints_every_setting_of_one_preset(capsys):
    import dataclasses

    from replication.presets import preset

    assert main(["presets", "--show", "resnet20-cifar10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    spec = preset("resnet20-cifar10")
    assert len(lines) == len(dataclasses.fields(spec.train)) + len(dataclasses.fields(spec.prune))
    assert "train.lr               0.1" in lines and "prune.rounds           25" in lines


def test_tiny_run_prints_a_table_and_the_run_folder(env, capsys):
    code = main(["imp", "--preset", "lenet-digits", "--rounds", "1", "--epochs", "1", "--seed", "0",
                 "--control", "reinit", "--store", str(env)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "round" in lines[0] and "% remaining" in lines[0]
    assert "imp (n=1)" in lines[0] and "reinit (n=1)" in lines[0]
    assert lines[2].split()[:2] == ["0", "100.00"] and lines[3].split()[:2] == ["1", "80.00"]
    folder = Path(lines[-1])
    assert folder.is_dir() and folder.parent == env
    assert (folder / "COMPLETE.json").is_file()
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["control"] == "reinit" and spec["train"]["epochs"] == 1 and spec["prune"]["rounds"] == 1
    imp_line = next(line for line in lines if line.startswith("run folder (imp, seed 0)"))
    assert Path(imp_line.split(": ", 1)[1]).is_dir()
    assert sorted(p.name for p in env.iterdir() if not p.name.startswith(".")) == sorted(
        [folder.name, Path(imp_line.split(": ", 1)[1]).name])
    assert "round 1/1" in err  # progress goes to stderr, one line per round off a terminal


def test_status_counts_finished_running_and_missing_runs(env, capsys, monkeypatch, digits):
    from replication import registry
    from replication.engine.imp import run_experiments
    from replication.store import RunStore

    tiny = registry.Setup("lenet-digits", seeds=2, rounds=1,
                          overrides=(("epochs", 1), ("model_args", (("widths", (16, 8)),))))
    monkeypatch.setitem(registry.SETUPS, "smoke", {"random-reinit-fails": tiny})
    store = RunStore(env)
    imp, reinit = tiny.specs("imp"), tiny.specs("reinit")
    run_experiments([imp[0]], store, data=digits)
    with store.lock(reinit[1]):  # another process is computing this one
        assert store.is_running(reinit[1]) and not store.is_running(imp[0])
        assert main(["status", "--scale", "smoke", "--store", str(env)]) == 0
    out = capsys.readouterr().out
    assert "runs 1/4 finished, 1 running, 2 missing or partial; rounds 2/8, remaining ~" in out
    total = next(line for line in out.splitlines() if "all claims" in line)  # every claim's runs, shared ones once
    assert "all claims" in total and "runs 1/4 finished" in total and "parallel workers" in total


def test_status_estimates_each_batch_size_from_its_own_stored_rounds():
    """A missing round costs what the stored rounds at its batch size cost, not the mean of every batch size."""
    from types import SimpleNamespace

    from replication.cli import _progress
    from replication.presets import preset

    small, large = (preset("lenet-digits-sgd", batch_size=b).with_(prune=dataclasses.replace(
        preset("lenet-digits-sgd").prune, rounds=1)) for b in (8, 256))
    seconds = {small: [60.0], large: [6.0, 6.0]}  # small: 1 of 2 rounds stored; large: complete
    store = SimpleNamespace(is_complete=lambda s: s is large, is_running=lambda s: False,
                            round_seconds=lambda s: seconds[s])
    assert _progress(store, [small, large]).endswith("rounds 3/4, remaining ~1.0 min")


def test_help_and_version_answer_without_importing_torch():
    """`replication --help` should not pay torch's 1.5 s import: the CLI and the package load it on use."""
    import subprocess
    import sys

    code = ("import io, sys, contextlib\nfrom replication import cli\n"
            "for argv in (['--help'], ['run', '--help'], ['imp', '--help'], ['--version']):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "        cli.main(argv)\n"
            "print('torch' in sys.modules, out.getvalue().strip())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    from replication import __version__

    assert done.stdout.split() == ["False", "replication", __version__], done.stderr


@pytest.mark.slow
def test_run_ends_with_the_verdict_table_on_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "random-reinit-fails", "--seeds", "2", "--store", str(tmp_path / "runs"),
                 "--report-dir", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code in (0, 1)  # the verdict is whatever two seeds give; the table must be there either way
    table = out[out.index("| # | claim |"):]
    assert "`random-reinit-fails`" in table and table.count("\n| 11 |") == 1
