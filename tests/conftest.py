"""Shared fixtures: the digits data (loaded once) and tiny specs/models that train in milliseconds."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import settings

# In-process pytester sessions (the plugin's tests, the paper-scale dry run) drop the modules they imported when
# they end. torch's optimizers import torch._dynamo on their first step, which registers an operator library that
# cannot be registered twice: imported here, it outlives every inner session.
import torch._dynamo  # noqa: E402,F401

from replication.data import load_digits
from replication.models import build_model
from replication.spec import ExperimentSpec, PruneSpec, TrainSpec

TINY_WIDTHS = (16, 8)

# No per-example deadline: on a shared 2-core machine a busy neighbour can stretch one example past
# hypothesis's default 200 ms and fail a property that holds. Tests that set their own settings keep them.
settings.register_profile("shared-machine", deadline=None)
settings.load_profile("shared-machine")


@pytest.fixture(scope="session")
def digits():
    return load_digits()


# Tests that take `device` run on the CPU, and on CUDA where a GPU is present (`pytest -m cuda` runs those
# alone: benchmarks/gpu_session.sh does).
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here")])]


@pytest.fixture(params=DEVICES)
def device(request):
    """The device a test runs on; on CUDA with TF32 off, so that fp32 there means fp32 (cuDNN's default is on)."""
    from replication.devices import tf32

    with tf32(False):
        yield torch.device(request.param)


def tiny_train(**overrides) -> TrainSpec:
    """LeNet 64-16-8-10 on digits, one epoch: about 23 optimizer steps."""
    base = dict(dataset="digits", model="lenet", epochs=1, batch_size=64, optimizer="sgd", lr=0.05,
                momentum=0.9, init="kaiming_uniform", model_args=(("widths", TINY_WIDTHS),))
    base.update(overrides)
    return TrainSpec(**base)


def tiny_spec(rounds: int = 2, fraction: float = 0.2, **overrides) -> ExperimentSpec:
    train_keys = {f.name for f in dataclasses.fields(TrainSpec)}
    train = tiny_train(**{k: v for k, v in overrides.items() if k in train_keys})
    rest = {k: v for k, v in overrides.items() if k not in train_keys}
    return ExperimentSpec(train=train, prune=PruneSpec(fraction=fraction, rounds=rounds), **rest)


def tiny_model(seed: int = 0, init: str = "kaiming_uniform") -> torch.nn.Module:
    return build_model("lenet", (1, 8, 8), 10, init, seed, widths=TINY_WIDTHS)


# The networks here are tiny: a second intra-op thread buys nothing, and when the machine is shared
# (two cores, another job running) OpenMP threads that wait on each other slow training 10-100x.
torch.set_num_threads(1)
