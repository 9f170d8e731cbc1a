"""Session options are declared once (replication/options.py): the pytest plugin's flags and the CLI's come
from the same fields, with the same help, the environment is read once, and `replication run` hands pytest
exactly the options it was given."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from replication import cli
from replication.options import OptionError, SessionOptions, add_flags, flag
from replication.pytest_plugin import pytest_addoption

FIELDS = {flag(f.name): f for f in dataclasses.fields(SessionOptions)}
CLI_ONLY = {"--preset", "--rounds", "--seed", "--control", "--batch-size", "--lr", "--epochs", "--warmup-epochs",
            "--prune-fraction", "--set", "--show", "--help",  # imp's experiment settings, presets --show
            "--runs", "--run", "--threads", "--sample-seed",  # which stored runs verify retrains, and how
            "--dry-run", "--claim",  # run's estimate instead of training, status's choice of claims
            "--reports", "--figure", "--update-readme"}  # what compare reads and writes


def _pytest_flags() -> dict[str, str]:
    parser = pytest.Parser(_ispytest=True)
    pytest_addoption(parser)
    group = parser.getgroup("replication")
    return {opt.names()[0]: opt.attrs()["help"] for opt in group.options}


def test_the_plugin_declares_every_session_option_from_the_one_declaration():
    flags = _pytest_flags()
    assert set(flags) == set(FIELDS)
    assert all(flags[name] == FIELDS[name].metadata["help"] for name in flags)


def test_every_cli_flag_is_a_session_option_with_the_same_help_or_an_experiment_setting():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    seen = set()
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in CLI_ONLY:
                    assert option in FIELDS, f"{name} {option} is declared outside SessionOptions"
                    assert action.help == FIELDS[option].metadata["help"], f"{name} {option}"
                    seen.add(option)
    assert {"--store", "--device", "--data-dir", "--executor", "--scale", "--seeds", "--report-dir"} <= seen


def test_the_environment_fills_what_the_flags_leave_out_and_no_more():
    env = {"REPLICATION_STORE": "/elsewhere", "REPLICATION_DATA": "/data"}
    assert SessionOptions.read({}, env).store == "/elsewhere"
    assert SessionOptions.read({"store": "mine"}, env).store == "mine"
    assert SessionOptions.read({}, {}).store == "runs" and SessionOptions.read({}, {}).data_dir is None
    assert SessionOptions.read({}, env).data_dir == "/data"
    assert SessionOptions.read({"device": None}, {}).device == "cpu"  # an absent flag is its default


def test_pytest_args_give_back_the_same_options():
    options = SessionOptions.read({"scale": "small", "seeds": 3, "store": "s", "no_train": True,
                                   "cpus_per_task": 2.0, "report_dir": "out", "start_ahead": True}, {})
    parser = argparse.ArgumentParser()
    add_flags(parser.add_argument)
    again = SessionOptions.read(vars(parser.parse_args(options.pytest_args())), {})
    assert again == options


@pytest.mark.parametrize("values, fragment", [
    ({"seeds": 1}, "--seeds must be at least 2"),
    ({"device": "tpu"}, "unknown --device 'tpu'"),
    ({"executor": "inprocess", "ray_address": "10.0.0.1:1"}, "--ray-address needs --executor ray"),
    ({"executor": "inprocess", "start_ahead": True}, "--start-ahead needs --executor ray"),
])
def test_check_says_what_is_wrong_in_one_line(values, fragment, tmp_path):
    with pytest.raises(OptionError, match=fragment) as error:
        SessionOptions.read({"store": str(tmp_path), **values}, {}).check()
    assert "\n" not in str(error.value)


def test_reports_go_inside_the_run_store_unless_asked_elsewhere():
    """Not ./reports: in a checkout those are the committed reports."""
    assert SessionOptions.read({}, {}).report_dir == str(Path("runs") / "reports")
    assert SessionOptions.read({"store": "/x/runs"}, {}).report_dir == "/x/runs/reports"
    assert SessionOptions.read({}, {"REPLICATION_STORE": "/y"}).report_dir == "/y/reports"
    assert SessionOptions.read({"report_dir": "reports"}, {}).report_dir == "reports"


def test_start_ahead_reaches_the_ray_executor_and_only_when_asked():
    pytest.importorskip("ray")
    asked = SessionOptions.read({"executor": "ray", "start_ahead": True}, {}).make_executor(connect=False)
    default = SessionOptions.read({"executor": "ray"}, {}).make_executor(connect=False)
    assert asked.start_ahead is True and default.start_ahead is None  # None: ahead where workers have own cores
