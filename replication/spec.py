"""Experiment specifications: frozen dataclasses that are the single source of truth.

A spec says everything that changes a result. Its content hash names the run's
folder in the store, so the same spec computed anywhere lands in the same place.
Validation happens here, at construction, so bad input never reaches training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# Bump when the meaning of a stored result changes without any field changing. 2: fused optimizers and
# member-aligned batches in the stacked trainer changed every run's bits; version-1 runs are not reused.
SPEC_VERSION = 2
# The same for bf16 runs alone, written into their hash only (fp32 runs keep their names). 2: the direct
# bf16 step (hand-written backward, compiled masked optimizer, population.DirectBF16Step) changed their bits.
BF16_VERSION = 2

# "fashion-mnist-8k-14px" is a reduced cousin of Fashion-MNIST (data.REDUCED says how it is made).
DATASETS = ("digits", "mnist", "fashion-mnist", "fashion-mnist-8k-14px", "cifar10", "imagenet")
MODELS = ("lenet", "conv2", "conv4", "conv6", "resnet20", "vgg16", "resnet50")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine")
INITS = ("kaiming_uniform", "kaiming_normal")
CONTROLS = ("imp", "reinit", "random-prune")
STRATEGIES = ("iterative", "oneshot")
RESETS = ("init", "rewind")
PRECISIONS = ("fp32", "bf16")
BF16_STEPS = ("direct", "autograd")
STACKINGS = ("loop", "vmap")

# Training fields added after runs were first stored: at these defaults they are left out of the hash, so
# every run stored before them keeps its name (and its cached result).
_HASH_NEUTRAL_TRAIN_DEFAULTS = {"precision": "fp32", "bf16_step": "direct", "channels_last": False,
                                "compile": False, "stacking": "loop", "tf32": False, "augment_pad": 4}


class SpecError(ValueError):
    """A setting that cannot be run; the message names the setting and the fix."""


def _normalize_floats(obj: Any) -> None:
    """lr=1 and lr=1.0 (or -0.0 and 0.0) are the same setting, so they must hash alike."""
    for f in dataclasses.fields(obj):
        if f.type == "float" and isinstance(getattr(obj, f.name), (int, float)):
            object.__setattr__(obj, f.name, float(getattr(obj, f.name)) + 0.0)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise SpecError(message)


# Your own network or data is named by where it is defined, "package.module:function" (no registry to fill in
# every process: a Ray worker imports it the same way). The name is hashed, not the code: rename the function
# when you change what it builds, or old runs are read back as if they were its.
def is_import_path(name: str) -> bool:
    module, colon, attr = name.partition(":")
    return bool(colon) and all(part.isidentifier() for part in module.split(".")) and attr.isidentifier()


def load_object(path: str) -> Any:
    """The function at "package.module:function"; a SpecError naming the path if it is not there."""
    import importlib

    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise SpecError(f"cannot load {path!r} ({err}); name your own model or dataset as "
                        f"'package.module:function', importable where the runs are computed") from None


@dataclass(frozen=True)
class TrainSpec:
    """How one network is trained (one row of the paper's Table 1)."""

    dataset: str
    model: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    init: str
    momentum: float = 0.9  # unstated by the paper; 0.9 is the convention
    schedule: str = "constant"
    milestones: tuple[int, ...] = ()  # epochs at which the step schedule divides by 10
    gamma: float = 0.1
    # Linear warm-up of the learning rate, in epochs; a fraction of one where a round is short (the paper's 10 of
    # 85 epochs, scaled to a round). A whole number is kept an int, so that 1 and 1.0 hash alike.
    warmup_epochs: int | float = 0
    weight_decay: float = 0.0
    augment: bool = False  # random crop (zero padding of augment_pad pixels) + horizontal flip, per sample
    # Table 1's CIFAR-10 crop pads 4 of 32 pixels; a smaller image keeps that share with a smaller pad.
    augment_pad: int = 4
    model_args: tuple[tuple[str, Any], ...] = ()  # e.g. (("widths", (300, 100)),)
    # "bf16": matmuls and convolutions in bfloat16 (autocast in the one-model trainer, explicit casts in the
    # stacked one); weights, optimizer state, batch norm, the loss and evaluation stay fp32. Opt-in for speed (bf16 units on GPUs and recent CPUs); it changes the bits.
    precision: str = "fp32"
    # How a stacked LeNet takes a bf16 step on the CPU without a repellent loss (elsewhere autograd always does):
    # "direct", the hand-written backward and compiled optimizer (kernels.py; training stops with an error where
    # no C compiler works), or "autograd". The two round differently, so the choice is the spec's, not the machine's.
    bf16_step: str = "direct"
    # Speed options of the one-model trainer (convnets) that change rounding, hence results: the channels-last
    # memory layout (with bf16, the layout this CPU's AMX and GPUs' tensor cores convolve fastest) and
    # torch.compile of the forward pass and loss. Timings: benchmarks/README.md.
    channels_last: bool = False
    compile: bool = False
    # On NVIDIA GPUs, let fp32 matmuls and convolutions round their inputs to TF32 (faster, about 3 digits).
    # Off by default, so that "fp32" means fp32 on every device; cuDNN's own default would be on.
    tf32: bool = False
    # How the convnets of a population train (LeNets always stack: engine/stacked_mlp.py): "loop", one after another
    # (the fastest on a 2-core CPU, benchmarks/README.md), or "vmap", one batched computation
    # (engine/stacked_convnet.py) for accelerators, where one small network leaves the device idle between launches.
    stacking: str = "loop"

    def __post_init__(self) -> None:
        _normalize_floats(self)
        if isinstance(self.warmup_epochs, float) and self.warmup_epochs.is_integer():
            object.__setattr__(self, "warmup_epochs", int(self.warmup_epochs))
        _require(self.dataset in DATASETS or is_import_path(self.dataset),
                 f"unknown dataset {self.dataset!r}; use one of {', '.join(DATASETS)}, or 'module:function' for your own")
        _require(self.model in MODELS or is_import_path(self.model),
                 f"unknown model {self.model!r}; use one of {', '.join(MODELS)}, or 'module:function' for your own")
        _require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}; pass a positive --epochs")
        _require(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}; pass a positive --batch-size")
        _require(self.lr > 0, f"learning rate must be > 0, got {self.lr}; pass a positive --lr")
        _require(self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        _require(self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; use one of {', '.join(SCHEDULES)}")
        _require(self.init in INITS, f"unknown init {self.init!r}; use one of {', '.join(INITS)}")
        _require(self.precision in PRECISIONS,
                 f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        _require(self.bf16_step in BF16_STEPS,
                 f"unknown bf16_step {self.bf16_step!r}; use one of {', '.join(BF16_STEPS)}")
        _require(self.stacking in STACKINGS,
                 f"unknown stacking {self.stacking!r}; use one of {', '.join(STACKINGS)}")
        # functorch's batch-norm rule builds its dummy weight in the input's dtype while the running statistics
        # stay fp32, and CPU autocast does not reach the convolutions vmap calls: refused here rather than
        # failing on a GPU only.
        _require(self.stacking == "loop" or self.precision == "fp32",
                 "precision='bf16' is an option of the one-model loop and the stacked LeNet; vmap stacking "
                 "trains in fp32 (set stacking='loop' for bf16)")
        _require(self.stacking == "loop" or not (self.channels_last or self.compile),
                 "channels_last and compile are options of the one-model loop; vmap stacking takes neither")
        _require(self.augment_pad >= 0, f"augment_pad must be >= 0 pixels, got {self.augment_pad}")
        _require(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        _require(self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay}")
        _require(0 <= self.warmup_epochs <= self.epochs,
                 f"warm-up of {self.warmup_epochs} epochs must lie in [0, epochs={self.epochs}]")
        _require(all(0 < m < self.epochs for m in self.milestones),
                 f"step milestones {self.milestones} must lie strictly inside (0, {self.epochs})")

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.model_args)


@dataclass(frozen=True)
class PruneSpec:
    """How IMP prunes and what it resets to."""

    fraction: float = 0.2  # of the weights still alive, per round
    rounds: int = 25  # pruning events; densities 1, 0.8, ..., 0.8**rounds are trained
    strategy: str = "iterative"  # or "oneshot": one prune from dense to fraction-per-round**rounds
    reset: str = "init"  # reset to initialization (the paper) or rewind to step k
    rewind_step: int = 0

    def __post_init__(self) -> None:
        _normalize_floats(self)
        _require(0 < self.fraction < 1, f"prune fraction must be in (0, 1), got {self.fraction}; e.g. 0.2")
        _require(self.rounds >= 0, f"rounds must be >= 0, got {self.rounds}")
        _require(self.strategy in STRATEGIES, f"unknown pruning strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}")
        _require(self.reset in RESETS, f"unknown reset {self.reset!r}; use one of {', '.join(RESETS)}")
        _require(self.rewind_step >= 0, f"rewind step must be >= 0, got {self.rewind_step}")
        _require(self.reset == "rewind" or self.rewind_step == 0, "rewind_step is only meaningful with reset='rewind'")


@dataclass(frozen=True)
class ExperimentSpec:
    """One IMP run (or one of its controls) with its seeds.

    The initialization seed and the SGD-noise seed (data order, augmentation) are
    separate so that instability analyses can vary the noise alone.
    """

    train: TrainSpec
    prune: PruneSpec = field(default_factory=PruneSpec)
    control: str = "imp"
    init_seed: int = 0
    noise_seed: int = 0
    repel_lambda: float = 0.0  # repellent (>0) / attractive (<0) loss weight; 0 = off
    repel_previous_only: bool = False
    # Set: this is not the run itself but a second training of its round `copy_round`, from the same start
    # weights and mask with SGD noise of its own (copy_noise_seed): the other end of the instability measure.
    copy_round: int | None = None
    # Set on a control: it trains only these rounds of its IMP run (the ones its claims read). Each round of a
    # control is drawn afresh from the round's own seeds, so these rounds are bit for bit the full control's
    # (unless the full control diverged in an earlier round and stopped there); the other rounds cost nothing.
    trained_rounds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _normalize_floats(self)
        _require(self.control in CONTROLS, f"unknown control {self.control!r}; use one of {', '.join(CONTROLS)}")
        _require(self.init_seed >= 0 and self.noise_seed >= 0, "seeds must be non-negative integers")
        _require(self.copy_round is None or 0 <= self.copy_round <= self.prune.rounds,
                 f"copy_round {self.copy_round} must name a round in [0, {self.prune.rounds}]")
        if self.trained_rounds is not None:
            rounds = self.trained_rounds
            _require(self.control != "imp" and self.copy_round is None and not self.repel_lambda,
                     "trained_rounds is for a control without the repellent loss (its rounds are independent draws); "
                     "IMP, its second trainings and a repelled control train every round")
            _require(len(rounds) > 0 and list(rounds) == sorted(set(rounds)) and 0 <= rounds[0]
                     and rounds[-1] <= self.prune.rounds,
                     f"trained_rounds {rounds} must be increasing round indices in [0, {self.prune.rounds}]")

    # -- identity ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {"version": SPEC_VERSION, **dataclasses.asdict(self)}
        for key, default in _HASH_NEUTRAL_TRAIN_DEFAULTS.items():
            if out["train"][key] == default:
                del out["train"][key]
        for optional in ("copy_round", "trained_rounds"):
            if out[optional] is None:
                del out[optional]
        if self.train.precision == "bf16":
            out["bf16_version"] = BF16_VERSION
        return out

    def hash(self) -> str:
        """A content hash, stable across processes, machines and PYTHONHASHSEED."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def stored_rounds(self) -> tuple[int, ...]:
        """The indices of the rounds the run stores, in order: the dense round and one per pruning event, a
        control's `trained_rounds`, or a copy's one round (stored as its round 0)."""
        if self.copy_round is not None:
            return (0,)
        return self.trained_rounds if self.trained_rounds is not None else tuple(range(self.prune.rounds + 1))

    @property
    def n_rounds(self) -> int:
        """How many rounds the run stores (see `stored_rounds`)."""
        return len(self.stored_rounds)

    def imp_parent(self) -> "ExperimentSpec":
        """The IMP run whose masks a control (or a second training) reuses."""
        return dataclasses.replace(self, control="imp", copy_round=None, trained_rounds=None)

    def copy_of(self, index: int) -> "ExperimentSpec":
        """The second training of this run's round `index` (see `copy_round`)."""
        return dataclasses.replace(self, copy_round=index)

    def source(self) -> "ExperimentSpec | None":
        """The run this one reads its rounds from: a copy's own run, a control's IMP run; None for IMP."""
        if self.copy_round is not None:
            return dataclasses.replace(self, copy_round=None)
        return None if self.control == "imp" else self.imp_parent()

    def with_(self, **changes: Any) -> "ExperimentSpec":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentSpec":
        data = {k: v for k, v in data.items() if k not in ("version", "bf16_version")}
        train = dict(data.pop("train"))
        train["milestones"] = tuple(train.get("milestones", ()))
        train["model_args"] = tuple((k, _tuplify(v)) for k, v in train.get("model_args", ()))
        if data.get("trained_rounds") is not None:
            data["trained_rounds"] = tuple(data["trained_rounds"])
        return cls(train=TrainSpec(**train), prune=PruneSpec(**data.pop("prune")), **data)


def _tuplify(value: Any) -> Any:
    return tuple(_tuplify(v) for v in value) if isinstance(value, list) else value


def derive_seed(*parts: Any) -> int:
    """A deterministic 63-bit seed from any printable parts (no Python hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def families(specs: list[ExperimentSpec]) -> list[list[ExperimentSpec]]:
    """Specs grouped by the IMP run whose masks they need (a control cannot run ahead of its parent), in the
    order their parents first appear: what an executor hands out as one task each."""
    out: dict[ExperimentSpec, list[ExperimentSpec]] = {}
    for spec in dict.fromkeys(specs):
        out.setdefault(spec.imp_parent(), []).append(spec)
    return list(out.values())
