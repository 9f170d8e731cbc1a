"""Divergence and concurrency: nothing silently wrong, nothing corrupted."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from replication import stats
from replication.accuracy import mean_over_rounds
from replication.engine.imp import run_experiment
from replication.store import MARKER, RunStore

from conftest import tiny_spec


def test_a_diverged_run_is_recorded_as_diverged_and_stops(tmp_path, digits):
    spec = tiny_spec(rounds=3, lr=1e12)  # SGD at this rate overflows within a few steps
    run = run_experiment(spec, RunStore(tmp_path), data=digits)
    first = run.rounds[0].metrics
    assert first["diverged"] is True and first["test_acc"] is None and first["train_acc"] is None
    assert len(run.rounds) == 1, "later masks would be pruned from non-finite weights"
    assert (run.path / MARKER).is_file()


def test_claim_statistics_turn_a_diverged_seed_into_error(tmp_path, digits):
    store = RunStore(tmp_path)
    good = [run_experiment(tiny_spec(rounds=1, init_seed=s, noise_seed=s), store, data=digits) for s in range(2)]
    bad = run_experiment(tiny_spec(rounds=1, init_seed=2, noise_seed=2, lr=1e12), store, data=digits)
    values = mean_over_rounds(good + [bad], [1])
    assert np.isnan(values[-1])
    decision = stats.beats(values, np.zeros_like(values), margin=1.0)
    assert decision.verdict == stats.ERROR


CHILD = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(Path(__file__).parent)!r})
    import torch
    torch.set_num_threads(1)
    from conftest import tiny_spec
    from replication.engine.imp import run_experiment
    from replication.store import RunStore
    run = run_experiment(tiny_spec(rounds=3, epochs=4, init_seed=11), RunStore(sys.argv[1]))
    print(run.rounds[-1].metrics["test_acc"])
""")


@pytest.mark.slow
def test_two_processes_asking_for_the_same_run_share_one_result(tmp_path, digits):
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1]
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1, "one spec, one folder"
    assert not list(tmp_path.rglob("*.tmp")), "no half-written files left behind"
    reference = run_experiment(tiny_spec(rounds=3, epochs=4, init_seed=11), RunStore(tmp_path / "ref"), data=digits)
    stored = RunStore(tmp_path).load(tiny_spec(rounds=3, epochs=4, init_seed=11))
    for mine, theirs in zip(stored.rounds, reference.rounds):
        assert all(torch.equal(mine.trained[k], theirs.trained[k]) for k in mine.trained)


def test_the_lab_counts_runs_trained_here_and_read_from_the_store(tmp_path):
    """The report's provenance says how many runs were trained, so that a wall time from a warm store is
    not mistaken for training time. A run asked for twice counts once."""
    from replication.lab import Session
    from replication.registry import setup_for

    class Store:
        root = tmp_path

        def is_complete(self, spec):
            return spec.init_seed == 0 or spec.hash() in done

    class Executor:
        def runs(self, specs, *args, **kwargs):
            done.update(s.hash() for s in specs)
            return [object()] * len(specs)

    done: set[str] = set()
    specs = setup_for("random-reinit-fails", "smoke").specs("imp", seeds=3)
    session = Session(Store(), executor=Executor())
    session.lab("smoke").runs(specs)
    session.lab("smoke").runs(specs[1:])  # trained above: still counted as trained, once
    session.lab("small").runs(specs[1:2])
    assert session.run_counts("smoke") == "2 trained in this session, 1 read complete from the store"
    assert session.run_counts("small") == "0 trained in this session, 1 read complete from the store"
