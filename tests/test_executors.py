"""Executors: Ray computes exactly what the in-process executor computes, on a real local Ray cluster (CPU)."""

from __future__ import annotations

import sys

import pytest
import torch

from replication.executors import ExecutorError, InProcess, RayExecutor, make_executor
from replication.spec import families
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
    RayExecutor()._compute([family, family], store, "cpu", None)
    again = RayExecutor().runs(family, store, "cpu", None)
    local = InProcess().runs(family, RunStore(tmp_path / "local"), "cpu", None, digits)
    for a, b in zip(local, again):
        _assert_identical(a, b)
    assert sorted(p.name for p in store.root.iterdir()) == sorted(s.hash() for s in family)


def test_runs_started_ahead_are_waited_on_not_started_again(tmp_path, digits, ray_cluster, monkeypatch):
    """prefetch starts every family; a claim asking for some of those runs waits on those tasks, and the
    runs are the in-process ones bit for bit."""
    store = RunStore(tmp_path / "ray")
    default = RayExecutor()
    default.prefetch(_specs(), store, "cpu", None)
    assert not default.ahead  # a local CPU cluster shares the driver's cores: nothing starts ahead by default
    executor = RayExecutor(start_ahead=True)
    executor.prefetch(_specs(), store, "cpu", None)
    assert set(executor.ahead) == set(_specs()) and len(set(executor.ahead.values())) == 2
    submit = RayExecutor._submit
    monkeypatch.setattr(RayExecutor, "_submit", lambda self, todo, *rest: (
        pytest.fail(f"started {len(todo)} family(ies) again") if todo else submit(self, todo, *rest)))
    remote = executor.runs(_specs()[2:], store, "cpu", None)
    local = InProcess().runs(_specs()[2:], RunStore(tmp_path / "local"), "cpu", None, digits)
    for a, b in zip(local, remote):
        _assert_identical(a, b)
    executor.close()
    assert not executor.ahead


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


def test_a_failing_task_surfaces_its_own_error_and_cancels_the_rest(tmp_path, ray_cluster):
    """A worker's DataError (no MNIST where it looks) reaches the driver as that DataError, not a traceback
    wrapped by Ray, and nothing is left marked finished."""
    from replication.data import DataError
    from replication.presets import preset

    (tmp_path / "empty").mkdir()
    specs = [preset("lenet-mnist", epochs=1).with_(init_seed=s) for s in range(3)]
    with pytest.raises(DataError, match="mnist"):
        RayExecutor().runs(specs, RunStore(tmp_path / "runs"), "cpu", str(tmp_path / "empty"))
    assert not any(RunStore(tmp_path / "runs").is_complete(s) for s in specs)


def test_a_task_asking_for_more_gpus_than_the_cluster_has_fails_up_front(ray_cluster):
    with pytest.raises(ExecutorError, match="asks for 1 GPU"):
        RayExecutor(gpus_per_task=1.0).connect()


@pytest.mark.parametrize("device, gpus", [("cuda", 0.0), ("cuda:1", 1.0)])
def test_ray_needs_plain_cuda_and_a_gpu_per_task(device, gpus):
    with pytest.raises(ExecutorError, match="Ray gives each task its own GPU"):
        make_executor("ray", device=device, gpus_per_task=gpus)
