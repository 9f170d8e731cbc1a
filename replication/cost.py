"""What a run costs before anything trains: a declared model of a round's training time.

    seconds a round = epochs × (steps an epoch × per_step + training images × per_image)

`per_step` is what a step costs whatever its size (kernel launches and their fixed cost: it dominates small
batches), `per_image` what each example adds. Rates are per (model, dataset, optimizer, device kind), one
thread on a CPU. The CPU rates were fitted to one- and four-epoch trainings on the development machine (2
cores; benchmarks/README.md, "The cost model"); the CUDA rates are assumptions from arithmetic (no GPU has
measured them yet), and say so wherever an estimate is printed. Evaluation and the landscape measures are not
counted: an estimate of training time, to decide whether to start.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable

from .spec import ExperimentSpec, families

# Training images per dataset (data.py loads them; tests/test_cost.py checks the two that ship or are reduced).
TRAIN_IMAGES = {"digits": 1437, "mnist": 60000, "fashion-mnist": 60000, "fashion-mnist-8k-14px": 8192,
                "cifar10": 50000, "imagenet": 1281167}


@dataclass(frozen=True)
class Rate:
    per_step: float  # seconds
    per_image: float  # seconds
    source: str  # "measured …" or "assumed …"


_CPU = "measured on the 2-core development CPU, one thread"
_GPU = ("assumed, not measured: a one-model fp32 step launch-bound at about 1.5 ms (ResNet-20's ~300 kernels "
        "forward, backward and optimizer), and about 30% of an H100's fp32 peak per image")
RATES: dict[tuple[str, str, str, str], Rate] = {
    ("lenet", "digits", "sgd", "cpu"): Rate(0.86e-3, 31e-6, _CPU),
    ("lenet", "digits", "adam", "cpu"): Rate(1.1e-3, 21e-6, _CPU),
    ("lenet", "fashion-mnist", "sgd", "cpu"): Rate(1.46e-3, 12.4e-6, _CPU),
    ("lenet", "fashion-mnist", "adam", "cpu"): Rate(2.0e-3, 12.6e-6, _CPU),
    ("resnet20", "digits", "sgd", "cpu"): Rate(7.3e-3, 92e-6, _CPU),
    ("resnet20", "fashion-mnist-8k-14px", "sgd", "cpu"): Rate(4.6e-3, 446e-6, _CPU),
    ("resnet20", "cifar10", "sgd", "cuda"): Rate(1.5e-3, 12e-6, _GPU),
    ("lenet", "mnist", "adam", "cuda"): Rate(0.3e-3, 0.1e-6, _GPU),
}


# Members sharing one vmapped step on a GPU, assumed until benchmarks/gpu_session.sh measures the largest that fits
# (a paper-scale batch size has 9 seeds of IMP, its reinitialization and its second trainings: 18 or more).
ASSUMED_POPULATION = 16


def rate(spec: ExperimentSpec, device: str) -> Rate | None:
    t = spec.train
    return RATES.get((t.model, t.dataset, t.optimizer, device.split(":")[0]))


def round_seconds(spec: ExperimentSpec, device: str = "cpu") -> float | None:
    """The declared model's training time of one round of `spec` on `device`; None where no rate is declared."""
    r, images = rate(spec, device), TRAIN_IMAGES.get(spec.train.dataset)
    if r is None or images is None:
        return None
    steps = math.ceil(images / spec.train.batch_size)
    per_step = r.per_step
    if spec.train.stacking == "vmap" and device.startswith("cuda"):
        per_step /= ASSUMED_POPULATION  # the launches are shared by the population's members
    return spec.train.epochs * (steps * per_step + images * r.per_image)


def sources(specs: list[ExperimentSpec], device: str) -> set[str]:
    """Where the rates behind an estimate of `specs` come from (measured, or assumed)."""
    return {r.source for s in specs if (r := rate(s, device)) is not None}


def wall_seconds(specs: list[ExperimentSpec], workers: int, device: str = "cpu",
                 measured: Callable[[ExperimentSpec], float] | None = None) -> float:
    """The declared model's wall-clock time of `specs` on `workers` workers, each running one family at a time
    (an IMP run with its controls and copies: they train in the same steps) and taking the next family in order
    as it frees, as Ray does with a session's tasks started ahead (`--start-ahead` on a local CPU cluster;
    without it each claim's new families start only when its test asks, and workers idle at each claim's
    end). Three equal families on two workers take two families' time, not one and a half. `measured` scales
    each run's rounds by what a scale measured against the model for such runs (default 1). Runs without a
    declared rate count nothing."""
    finish = [0.0] * max(workers, 1)
    for family in families(specs):
        free = heapq.heappop(finish)
        heapq.heappush(finish, free + sum(s.n_rounds * (round_seconds(s, device) or 0.0)
                                          * (measured(s) if measured else 1.0) for s in family))
    return max(finish)
