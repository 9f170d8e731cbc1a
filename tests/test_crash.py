"""Kill and resume: an IMP run killed with SIGKILL at any point resumes to bit-identical results, for the
stacked LeNet and for a BN ResNet trained as a vmapped population."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from replication.engine.imp import run_experiment
from replication.store import MARKER, RunStore, load_run

from conftest import tiny_spec

pytestmark = pytest.mark.slow

SPECS = {
    "lenet": "tiny_spec(rounds=4, epochs=6, init_seed=3, noise_seed=5)",
    "resnet20-vmap": "tiny_spec(rounds=4, epochs=2, init_seed=3, noise_seed=5, model='resnet20', "
                     "init='kaiming_normal', model_args=(('width', 4),), stacking='vmap')",
}
CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import torch
    torch.set_num_threads(1)
    from conftest import tiny_spec
    from replication.engine.imp import run_experiment
    from replication.store import RunStore
    run_experiment({spec}, RunStore(sys.argv[1]))
""")


@pytest.fixture(scope="module", params=list(SPECS))
def kind(request):
    return request.param


def _spec(kind: str):
    return eval(SPECS[kind], {"tiny_spec": tiny_spec})  # noqa: S307  (the test's own literal)


def _start(store: Path, kind: str) -> subprocess.Popen:
    child = CHILD.format(tests=str(Path(__file__).parent), spec=SPECS[kind])
    return subprocess.Popen([sys.executable, "-c", child, str(store)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill_when(process: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits, kind):
    return run_experiment(_spec(kind), RunStore(tmp_path_factory.mktemp("reference")), data=digits)


@pytest.mark.parametrize("point", ["at start", "mid-round 1", "between rounds 2 and 3", "mid-round 3"])
def test_sigkill_then_resume_gives_identical_results(tmp_path, digits, kind, reference, point):
    folder = RunStore(tmp_path).path(_spec(kind))
    ready = {
        "at start": lambda: (folder / "spec.json").exists(),
        "mid-round 1": lambda: (folder / "round_000" / MARKER).exists(),
        "between rounds 2 and 3": lambda: (folder / "round_002" / MARKER).exists(),
        "mid-round 3": lambda: (folder / "round_003" / "mask.pt").exists(),
    }[point]
    _kill_when(_start(tmp_path, kind), ready)
    assert not (folder / MARKER).exists(), "the kill came too late to test anything"
    resumed = run_experiment(_spec(kind), RunStore(tmp_path), data=digits)
    assert len(resumed.rounds) == len(reference.rounds)
    for mine, theirs in zip(resumed.rounds, reference.rounds):
        assert _same(mine.mask, theirs.mask) and _same(mine.start, theirs.start)
        assert _same(mine.trained, theirs.trained)
        assert mine.metrics["test_acc"] == theirs.metrics["test_acc"]


def test_torn_writes_are_recomputed(tmp_path, digits, kind, reference):
    """A round killed mid-write leaves temporary files and files without a marker: both are ignored."""
    store = RunStore(tmp_path)
    run_experiment(_spec(kind), store, data=digits)
    folder = store.path(_spec(kind))
    (folder / MARKER).unlink()
    round_dir = folder / "round_002"
    (round_dir / MARKER).unlink()
    (round_dir / "trained.pt").write_bytes((round_dir / "trained.pt").read_bytes()[:100])  # torn
    (round_dir / ".metrics.json.abc.tmp").write_text("{")  # an interrupted atomic write
    resumed = run_experiment(_spec(kind), store, data=digits)
    assert all(_same(a.trained, b.trained) for a, b in zip(resumed.rounds, reference.rounds))


def test_two_processes_compute_bit_identical_runs(tmp_path, kind, reference):
    """Determinism: the same spec computed in another process (another interpreter, other hash seeds)
    gives the same masks, weights and accuracies, bit for bit."""
    child = _start(tmp_path, kind)
    assert child.wait(timeout=120) == 0
    other = load_run(RunStore(tmp_path).path(_spec(kind)))
    assert other.complete and len(other.rounds) == len(reference.rounds)
    for mine, them in zip(reference.rounds, other.rounds):
        assert _same(mine.mask, them.mask) and _same(mine.trained, them.trained)
        assert mine.metrics["test_acc"] == them.metrics["test_acc"]
