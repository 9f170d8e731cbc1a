"""The safety net under refactors: pinned names of stored runs and golden bits of training.

A stored run's folder is its spec's hash. A change to `ExperimentSpec.to_dict`, to a preset or to a claim's
setup that renames runs makes every store look empty (and every report rebuild fail): these pins catch it.
Change a pin only on purpose, with the reason in the commit (a SPEC_VERSION bump, a new setting), never to
get green.

The golden digests pin the bits one tiny run of each trainer path produces (one-model loop, the stacked MLP in
fp32 and bf16, the vmapped convnet), so that a refactor cannot change training silently. Bits depend on torch's
kernels, so they are pinned for the torch version and CPU kernel family they were taken with, and skipped
(with the reason) elsewhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from replication.devices import cpu_kernels
from replication.instability_map import MAPS
from replication.presets import PRESETS
from replication.registry import CLAIMS, SCALES, setup_for

from conftest import tiny_spec

PRESET_HASHES = {
    "lenet-mnist": "e580d0ca1f439581", "resnet20-cifar10": "6869e746ce327c8e", "conv4-cifar10": "513f2737e3233a1f",
    "resnet50-imagenet": "c895b655db35e839", "lenet-digits": "e70a71d4e5d545d8",
    "lenet-digits-sgd": "2ffd1ecf309bd34c", "lenet-fashion-mnist": "6fb96f0962336983",
    "lenet-fashion-mnist-sgd": "3bb594f94725f12e", "resnet20-digits-sgd": "990c4fe474666a6f",
    "resnet20-fashion-mnist-sgd": "c7af622ab6ab8e68", "conv2-fashion-mnist": "2f5fbf9de83d64a3",
}

# scale/claim -> (how many runs the claim asks for, a digest of their sorted hashes)
CLAIM_RUNS = {
    "smoke/stable-training-finds-tickets": (80, "6a319625685a"),
    "smoke/instability-predicts-tickets": (160, "0f5daf41cb6f"),
    "smoke/repellence-removes-tickets": (32, "5997d51df5be"),
    "smoke/attraction-rescues-unstable": (48, "6737b6828374"),
    "smoke/repel-previous-only-biphasic": (24, "796ac03dd6e6"),
    "smoke/tickets-retrain-to-similar-regions": (48, "d90d8567a34d"),
    "smoke/weights-grow-away-from-zero": (16, "d5f93fa70f42"),
    "smoke/same-basin-only-at-medium-density": (32, "d9a2b2db2e05"),
    "smoke/random-reinit-fails": (16, "709613c1edc8"),
    "smoke-resnet/stable-training-finds-tickets": (40, "450f8be2321d"),
    "smoke-resnet/tickets-retrain-to-similar-regions": (24, "a82477340cb5"),
    "smoke-resnet/random-reinit-fails": (8, "5cfe61f15217"),
    "small/stable-training-finds-tickets": (50, "b14f02dfd6ec"),
    "small/warmup-helps-semistable": (20, "e3886eda6113"),
    "small/instability-predicts-tickets": (75, "468a85f265b2"),
    "small/repellence-removes-tickets": (20, "c2690e40e758"),
    "small/attraction-rescues-unstable": (30, "7765864269e1"),
    "small/repel-previous-only-biphasic": (15, "341f895c2f52"),
    "small/tickets-retrain-to-similar-regions": (30, "b729b9be70f6"),
    "small/weights-grow-away-from-zero": (15, "c93c46dba34c"),
    "small/weight-decay-hurts-semistable": (10, "f26466afee08"),
    "small/same-basin-only-at-medium-density": (20, "25d1f43651f8"),
    "small/random-reinit-fails": (10, "5b6ec9b4ebac"),
    "medium/stable-training-finds-tickets": (60, "a935a8949d91"),
    "medium/warmup-helps-semistable": (20, "9fe1876265e8"),
    "medium/instability-predicts-tickets": (90, "495025027f26"),
    "medium/repellence-removes-tickets": (20, "2e2b32caada8"),
    "medium/attraction-rescues-unstable": (40, "d8ef58d81682"),
    "medium/repel-previous-only-biphasic": (15, "402c5c86d22f"),
    "medium/tickets-retrain-to-similar-regions": (35, "60df72fed39c"),
    "medium/weights-grow-away-from-zero": (15, "55e2e7a2a919"),
    "medium/weight-decay-hurts-semistable": (10, "26d54a7f137f"),
    "medium/same-basin-only-at-medium-density": (25, "49c18a584402"),
    "medium/random-reinit-fails": (10, "a68f7ab3f756"),
    # the long scale on the map's pick (its CPU budget admits claims 1, 7 and 11; the GPU variant runs the rest
    # too); claims 1 and 3 train their reinitializations only at the low densities they read
    "long/stable-training-finds-tickets": (30, "181b6a28bc72"),
    "long/tickets-retrain-to-similar-regions": (18, "0cc35d71f999"),
    "long/random-reinit-fails": (6, "40ca13927449"),
    "long-gpu/stable-training-finds-tickets": (30, "181b6a28bc72"),
    "long-gpu/instability-predicts-tickets": (45, "f65fcd26bb16"),
    "long-gpu/tickets-retrain-to-similar-regions": (18, "0cc35d71f999"),
    "long-gpu/random-reinit-fails": (6, "40ca13927449"),
    "long-gpu/stability-is-batch-not-steps": (24, "f32e6752c175"),
    "paper/stable-training-finds-tickets": (108, "74ffb8e9a6d0"),
    "paper/warmup-helps-semistable": (36, "5fe7b2ab51b3"),
    "paper/instability-predicts-tickets": (324, "fb6d0be55eed"),
    "paper/repellence-removes-tickets": (36, "cf9acbf18f5b"),
    "paper/attraction-rescues-unstable": (63, "a5767a274a57"),
    "paper/repel-previous-only-biphasic": (27, "ecad89e9b652"),
    "paper/tickets-retrain-to-similar-regions": (63, "4335a540dadc"),
    "paper/weights-grow-away-from-zero": (27, "eef9f784a52f"),
    "paper/weight-decay-hurts-semistable": (18, "19d98f1d02c5"),
    "paper/same-basin-only-at-medium-density": (45, "9e61427dc64b"),
    "paper/random-reinit-fails": (18, "ba8ac05cf0da"),
}

# The instability maps' runs (a store of them is being filled across sittings).
MAP_RUNS = {"long": (100, "69e30b01da4d")}


def _names(specs) -> tuple[int, str]:
    hashes = sorted(s.hash() for s in specs)
    return len(hashes), hashlib.sha256(",".join(hashes).encode()).hexdigest()[:12]


def test_every_presets_run_keeps_its_name():
    assert {name: spec.hash() for name, spec in PRESETS.items()} == PRESET_HASHES


def test_every_claims_runs_keep_their_names():
    found = {}
    for scale in SCALES:
        for claim_id, claim in CLAIMS.items():
            setup = setup_for(claim_id, scale)
            if setup is not None and not setup.not_run:
                found[f"{scale}/{claim_id}"] = _names(claim.specs(setup))
    assert found == CLAIM_RUNS


def test_the_instability_maps_runs_keep_their_names():
    found = {scale: _names([s for cell in cells for arm in cell.probe().arms().values() for s in arm])
             for scale, cells in MAPS.items()}
    assert found == MAP_RUNS


# -- golden bits --------------------------------------------------------------------------
# Float bits depend on the kernels torch dispatches to, and MKL picks its code path by CPU vendor as well as by
# instruction set: at the same torch and AVX512 capability a Xeon and an AMD EPYC train different bits from the
# same code (on the EPYC, MKL_CBWR=AVX2 gives the default's bits, so MKL runs its AVX2 code there). So the digests
# are pinned per kernel family. A family's digests are pinned only where the code of d931434, the commit that
# introduced them, trains the same bits on that machine as the code that pins them: then no code change lies
# between (both AMD families' were checked so). `python tests/test_pinned.py` prints a machine's family and digests.
_CONVNET = dict(model="resnet20", init="kaiming_normal", batch_size=128, lr=0.1, model_args=(("width", 2),))
TRAINER_PATHS = {
    "one-model convnet": [tiny_spec(rounds=1, **_CONVNET)],
    "stacked MLP fp32": [tiny_spec(rounds=1, init_seed=s, noise_seed=s) for s in (0, 1)],
    "stacked MLP bf16": [tiny_spec(rounds=1, init_seed=s, noise_seed=s, precision="bf16") for s in (0, 1)],
    "vmapped convnet": [tiny_spec(rounds=1, init_seed=s, noise_seed=s, stacking="vmap", **_CONVNET) for s in (0, 1)],
}
# (torch version, ATen CPU capability, CPU vendor) -> path -> digest
GOLDEN_BITS = {
    ("2.14.1", "AVX512", "GenuineIntel"): {
        "one-model convnet": "ad3637ce68e29b4b", "stacked MLP fp32": "b4068b1e29e308f7",
        "stacked MLP bf16": "8f17ecfa087ea60f", "vmapped convnet": "5a421a4c00aebf1c",
    },
    ("2.14.1", "AVX512", "AuthenticAMD"): {
        "one-model convnet": "af9a07670ede3963", "stacked MLP fp32": "26fe80db6f57c1c1",
        "stacked MLP bf16": "8f17ecfa087ea60f", "vmapped convnet": "4cb268004ea9df83",
    },
    ("2.14.1", "AVX2", "AuthenticAMD"): {  # an EPYC without AVX-512 (2026-12-08)
        "one-model convnet": "428a50cfa42aa79d", "stacked MLP fp32": "af6ad8a88277eb08",
        "stacked MLP bf16": "8f17ecfa087ea60f", "vmapped convnet": "7dbba91d35b94ce7",
    },
}


_DIGEST = """
import hashlib, sys, tempfile
import torch
torch.set_num_threads(1)  # a CPU's bits depend on the thread count
sys.path.insert(0, {tests!r})
from test_pinned import TRAINER_PATHS
from replication.data import load_digits
from replication.engine.imp import run_experiments
from replication.store import RunStore, tensor_bytes
h = hashlib.sha256()
with tempfile.TemporaryDirectory() as store:
    for run in run_experiments(TRAINER_PATHS[{path!r}], RunStore(store), data=load_digits()):
        for r in run.rounds:
            h.update(tensor_bytes(r.mask))
            h.update(tensor_bytes(r.trained))
print(h.hexdigest()[:16])
"""


def trained_bits(path: str) -> str:
    """In a fresh process: what a test session imported or switched before (an in-process pytester session drops
    torch modules it loaded) must not decide the bits."""
    import subprocess
    import sys

    code = _DIGEST.format(tests=str(Path(__file__).parent), path=path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.skipif(cpu_kernels() not in GOLDEN_BITS,
                    reason=f"no golden bits for the kernel family {cpu_kernels()} (pinned: {sorted(GOLDEN_BITS)})")
@pytest.mark.parametrize("path", TRAINER_PATHS)
def test_each_trainer_path_trains_the_golden_bits(path):
    assert trained_bits(path) == GOLDEN_BITS[cpu_kernels()][path], f"{path}: training changed its bits"


if __name__ == "__main__":  # prints this machine's family and digests, for pinning a new family (see above)
    print(cpu_kernels())
    for name in TRAINER_PATHS:
        print(f"{name!r}: {trained_bits(name)!r},")
