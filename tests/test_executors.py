"""Executors: Ray computes exactly what the in-process executor computes, on a real local Ray cluster (CPU)."""

from __future__ import annotations

import sys

import pytest
import torch

from replication.executors import ExecutorError, InProcess, RayExecutor, families, make_executor
from replication.store import RunStore

from conftest import tiny_spec

pytestmark = pytest.mark.slow


def _specs():
    """Two seeds, IMP and its reinitialization control: two families."""
    return [tiny_spec(rounds=2, epochs=2, init_seed=s, noise_seed=s).with_(control=c)
            for s in (0, 1) for c in ("imp", "reinit")]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray  # part of the test extra (pip install -e '.[test]'): CI must run this, never skip it

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _assert_identical(a, b):
    assert len(a.rounds) == len(b.rounds) and a.spec == b.spec
    for x, y in zip(a.rounds, b.rounds):
        for name in ("mask", "start", "trained"):
            mine, theirs = getattr(x, name), getattr(y, name)
            assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), name
        assert {k: v for k, v in x.metrics.items() if k != "seconds"} == \
               {k: v for k, v in y.metrics.items() if k != "seconds"}


def test_families_keep_each_control_with_its_imp_run():
    groups = families(_specs())
    assert [[s.control for s in g] for g in groups] == [["imp", "reinit"], ["imp", "reinit"]]
    assert all(len({s.imp_parent() for s in g}) == 1 for g in groups)


def test_ray_gives_bit_identical_runs_to_in_process(tmp_path, digits, ray_cluster):
    local = InProcess().runs(_specs(), RunStore(tmp_path / "local"), "cpu", None, digits)
    seen = []
    remote = RayExecutor().runs(_specs(), RunStore(tmp_path / "ray"), "cpu", None,
                                progress=lambda spec, i, n, metrics: seen.append((spec, i)))
    for a, b in zip(local, remote):
        _assert_identical(a, b)
    assert sorted(seen, key=str) == sorted(((s, i) for s in _specs() for i in range(3)), key=str)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(s.hash() for s in _specs())


def test_a_family_computed_twice_at_once_is_stored_once(tmp_path, digits, ray_cluster):
    """Two tasks for the same family (a retried or duplicated task): the run's lock makes one compute and
    the other reuse; the store holds one copy, identical to the in-process result."""
    store = RunStore(tmp_path / "ray")
    family = families(_specs())[0]
    RayExecutor()._compute([family, family], store, "cpu", None, progress=None)
    again = RayExecutor().runs(family, store, "cpu", None)
    local = InProcess().runs(family, RunStore(tmp_path / "local"), "cpu", None, digits)
    for a, b in zip(local, again):
        _assert_identical(a, b)
    assert sorted(p.name for p in store.root.iterdir()) == sorted(s.hash() for s in family)


def test_finished_runs_never_reach_ray(tmp_path, digits, monkeypatch):
    store = RunStore(tmp_path)
    InProcess().runs(_specs(), store, "cpu", None, digits)
    monkeypatch.setattr(RayExecutor, "connect", lambda self: pytest.fail("connected to Ray for finished runs"))
    assert len(RayExecutor().runs(_specs(), store, "cpu", None)) == 4


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ExecutorError, match=r"not installed; pip install -e '\.\[ray\]'"):
        make_executor("ray")


def test_executor_choices_are_checked():
    assert isinstance(make_executor("inprocess"), InProcess)
    with pytest.raises(ExecutorError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ExecutorError, match="--ray-address needs --executor ray"):
        make_executor("inprocess", address="10.0.0.1:6379")
