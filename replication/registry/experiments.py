"""What an experiment at a scale is: a claim's `Setup`, a stability `Probe`, and the `Scale` record that declares
everything about one scale (one module each beside this one: smoke.py, small.py, ...)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..presets import preset
from ..spec import ExperimentSpec

# A network "fails to train" when its test accuracy stays below chance plus this share of the dense gain over
# chance it is compared with: a ticket's advantage over such a control is a confound, not a win, and a batch
# size whose dense network fails is not a stand-in for any stability regime (replication/probe.py).
TRAINS_FLOOR = 0.5
# The absolute cuts on a linear interpolation instability (points of test error) that name a regime: under
# STABLE_CUT is stable (the 2-point cut of Frankle et al. that the paper uses too); at least UNSTABLE_CUT is
# unstable (the paper's unstable subnetworks sit at 69–83, its semistable at 22–42). What a claim reads as
# "unstable" (replication/preconditions.py), the instability map and every probe declared with rule="absolute".
STABLE_CUT, UNSTABLE_CUT = 2.0, 10.0
# Table 1: weight decay 1e-5; a 10-epoch warm-up of an 85-epoch round where one is used (claims 2 and 9).
PAPER_WEIGHT_DECAY = 1e-5


def paper_warmup(epochs: int) -> float:
    """The paper's warm-up share of a round (10 of 85 epochs) for a round of `epochs`, in epochs."""
    return round(10 / 85 * epochs, 3)


def training_bar(reference, classes: int, floor: float = TRAINS_FLOOR):
    """The test accuracy (%) a network must reach to count as trained: chance plus `floor` of the reference
    accuracy's gain over chance."""
    chance = 100.0 / classes
    return chance + floor * (reference - chance)


@dataclass(frozen=True)
class Arm:
    """One arm of a comparison, by what it is: its role (IMP, its reinitialization with the same masks, or the
    second trainings of IMP's rounds that the instability measure needs), its batch size, and what else sets
    it apart (a repellent or attractive loss, a warm-up, a weight decay, rewinding). Claim tests, probes and the
    evidence ask for arms by key; `label`, derived here alone, is what reports show."""

    role: str  # "imp", "reinit" or "copies"
    batch: int | None = None  # None: the setup's own
    repel: float = 0.0  # λ: repelled (> 0) or attracted (< 0)
    previous_only: bool = False  # the loss acts on the previous round's optimum alone
    warmup_epochs: float = 0
    weight_decay: float | None = None  # None: the setup's own
    rewind_step: int = 0  # rewinds to this step instead of resetting to initialization
    epochs: int | None = None  # None: the setup's own (claim 12 trains a larger batch for as many steps)

    def __post_init__(self) -> None:
        if self.role not in ("imp", "reinit", "copies"):
            raise ValueError(f"an arm's role is imp, reinit or copies, got {self.role!r}")

    @property
    def label(self) -> str:
        name = {"imp": "IMP", "reinit": "reinit", "copies": "second trainings of IMP"}[self.role]
        settings = [name + (f" batch {self.batch}" if self.batch is not None else "")]
        if self.repel:
            what = "repelling the previous optimum" if self.previous_only else \
                "repelled" if self.repel > 0 else "attracted"
            settings.append(f"{what} (λ={self.repel:g})")
        if self.warmup_epochs:
            settings.append(f"{self.warmup_epochs:g}-epoch warm-up")
        if self.weight_decay is not None:
            settings.append(f"weight decay {self.weight_decay:g}")
        if self.rewind_step:
            settings.append(f"rewound to step {self.rewind_step}")
        if self.epochs is not None:
            settings.append(f"{self.epochs} epochs a round")
        return ", ".join(settings)

    def __str__(self) -> str:
        return self.label


def labelled(runs: dict) -> dict:
    """The same arms keyed by their labels, for tables and figures."""
    return {str(arm): value for arm, value in runs.items()}


@dataclass(frozen=True)
class Setup:
    """The experiment behind one claim at one scale."""

    preset: str
    seeds: int
    rounds: int
    overrides: tuple[tuple[str, Any], ...] = ()  # training settings replaced in the preset
    # The batch sizes that stand for the paper's regimes in the claim's comparison, named by the regime the scale's
    # stability probe found them in (tests/test_registry.py holds each to its probe's record).
    unstable_batch: int | None = None
    semistable_batch: int | None = None
    stable_batch: int | None = None
    low_density: float = 0.05  # "low densities": rounds at or below this fraction remaining
    # Train the reinitializations only at the low densities, where claims 1, 3 and 11 read them (each round of a
    # reinitialization is its own fresh draw, so those rounds are the full control's bits): where a round costs
    # minutes, a full chain of reinitializations costs as much as IMP. Its figures then show them only there.
    reinit_at_low_density: bool = False
    # The subnetworks whose LII decides a claim about instability (the paper reads rounds 5, 10 and 15: 32.8,
    # 10.7 and 3.5% remaining); the dense round 0 is measured beside them as context, never decides.
    instability_rounds: tuple[int, ...] = ()
    histogram_round: int = 10  # the round whose surviving weights are compared (paper Fig. 5)
    medium_density: tuple[float, float] = (0.035, 0.52)  # the paper's "medium" densities (Fig. 8)
    very_low_density: float = 0.014  # below it the paper's barriers rise to 16–25 points (Fig. 8)
    batch_sizes: tuple[int, ...] = ()  # an ordered batch-size sweep (claim 3)
    repel: float = 0.0  # λ of the repellent (> 0) or attractive (< 0) loss (claims 4–6)
    previous_only: bool = False  # the loss repels only the previous round's optimum (claim 6)
    warmup_epochs: float = 0  # the warm-up arm's linear warm-up, in epochs (claim 2)
    rewind_step: int = 0  # claim 5's rewinding arm: IMP that rewinds to this step instead of initialization (0: none)
    weight_decay: float = 0.0  # the decayed arm's weight decay (claim 9)
    # Claim 12: a batch larger than the unstable one, trained for as many optimizer steps a round (more epochs).
    equal_steps_batch: int | None = None
    differs: str = ""  # how this differs from the paper, and why
    # Set where the scale has no setting the claim can honestly run on (no semistable batch size by the scale's
    # stability probe): the claim is reported NOT RUN with this reason instead of run on a stand-in.
    not_run: str = ""
    # Set only after a real run refuted the claim at this scale: why we believe it does not replicate.
    # The test then expects REFUTED (strict xfail), so CI stays a regression test without hiding it.
    known_refuted: str = ""
    # Of a claim of several parts, the ones (numbered from 1) known_refuted is about: every other part must
    # still be SUPPORTED, so that the record does not hide a regression in the parts that replicate.
    refuted_parts: tuple[int, ...] = ()

    def base(self, **train: Any) -> ExperimentSpec:
        train = {k: v for k, v in train.items() if v is not None}  # an arm the setup leaves unset (no batch)
        settings = {**dict(self.overrides), **train}
        if "epochs" in train and settings.get("milestones"):
            # A longer round keeps its step schedule's decays at the same share of training (for claim 12's
            # equal-steps arm: at the same optimizer steps as the batch it is compared with).
            own = preset(self.preset, **dict(self.overrides)).train.epochs
            settings["milestones"] = tuple(round(m * train["epochs"] / own) for m in settings["milestones"])
        spec = preset(self.preset, **settings)
        return spec.with_(prune=dataclasses.replace(spec.prune, rounds=self.rounds))

    def specs(self, control: str = "imp", seeds: int | None = None, repel: float = 0.0,
              previous_only: bool = False, rewind_step: int = 0, **train: Any) -> list[ExperimentSpec]:
        """One spec per seed (init seed = noise seed = seed index); repel = λ of the repellent loss; rewind_step > 0
        rewinds to that step instead of resetting to initialization."""
        base = self.base(**train).with_(control=control, repel_lambda=repel, repel_previous_only=previous_only)
        if rewind_step:
            base = base.with_(prune=dataclasses.replace(base.prune, reset="rewind", rewind_step=rewind_step))
        return [base.with_(init_seed=s, noise_seed=s) for s in range(seeds or self.seeds)]

    def equal_steps_epochs(self) -> int:
        """The epochs a round at `equal_steps_batch` that take as many optimizer steps as one at `unstable_batch`
        (the two batches must divide the training set alike: steps are ceil(images / batch) an epoch)."""
        base = self.base(batch_size=self.unstable_batch)
        ratio = self.equal_steps_batch / self.unstable_batch
        if not ratio.is_integer():
            raise ValueError(f"equal steps needs a batch that is a multiple of {self.unstable_batch}, "
                             f"got {self.equal_steps_batch}")
        return int(base.train.epochs * ratio)

    def runs_of(self, arm: Arm) -> list[ExperimentSpec]:
        """The runs of one arm, a spec per seed."""
        train = {"batch_size": arm.batch, "warmup_epochs": arm.warmup_epochs or None, "weight_decay": arm.weight_decay,
                 "epochs": arm.epochs}
        if arm.role == "copies":
            return self.copies(self.specs("imp", **train))
        specs = self.specs(arm.role, repel=arm.repel, previous_only=arm.previous_only, rewind_step=arm.rewind_step,
                           **train)
        if arm.role == "reinit" and self.reinit_at_low_density and not arm.repel:
            return [s.with_(trained_rounds=self.low_density_rounds()) for s in specs]
        return specs

    def low_density_rounds(self) -> tuple[int, ...]:
        """The rounds IMP reaches at or below `low_density` remaining, by its schedule of densities (a round's mask
        keeps a whole number of weights, so its density can differ from the schedule's by a weight or so: a
        low_density that close to a round's is refused, as the claims would read a round the control lacks)."""
        prune = self.base().prune
        densities = [(1 - prune.fraction) ** k for k in range(self.rounds + 1)]  # iterative and one-shot alike
        if any(abs(d - self.low_density) <= 1e-3 * self.low_density for d in densities):
            raise ValueError(f"low_density {self.low_density:g} is within 0.1% of a round's density: pick one "
                             f"between two rounds'")
        rounds = tuple(k for k, d in enumerate(densities) if d <= self.low_density)
        if not rounds:
            raise ValueError(f"no round of {self.rounds} reaches low_density {self.low_density:g}: add rounds")
        return rounds

    def copies(self, runs: list[ExperimentSpec]) -> list[ExperimentSpec]:
        """The second trainings the instability measure needs: each run's rounds `instability_rounds`, and its
        dense round for the paper's "stability at initialization" context."""
        return [spec.copy_of(r) for r in dict.fromkeys((0, *self.instability_rounds)) for spec in runs]


@dataclass(frozen=True)
class Probe:
    """A stability probe (its rule: replication/probe.py): a training (preset and overrides), the batch sizes it
    sweeps, seeds, and the rounds whose LII it reads (the dense round and an early subnetwork)."""

    preset: str
    batch_sizes: tuple[int, ...]
    seeds: int
    overrides: tuple[tuple[str, Any], ...] = ()
    rounds: tuple[int, ...] = (0, 2)
    # What the probe found when it ran (batch, regime), declared with it so that tests can hold every setup on
    # this training to it: its semistable arm semistable, its unstable arm unstable, its stable arm stable.
    found: tuple[tuple[int, str], ...] = ()
    # How its LII becomes a regime (replication/stability.py, classify): "absolute" cuts, or the "relative" rule
    # (unstable above half the sweep's largest) that the first probes were declared and run with: their records
    # keep the rule they were decided by.
    rule: str = "absolute"

    def covers(self, preset_name: str, overrides: tuple[tuple[str, Any], ...]) -> bool:
        """Does this probe calibrate a setup on this preset with these overrides (the same training)?"""
        return preset_name == self.preset and dict(overrides) == dict(self.overrides)

    def arms(self) -> dict[Arm, list[ExperimentSpec]]:
        """Per batch size: IMP up to the last probed round, and the second trainings of the probed rounds."""
        setup = Setup(self.preset, self.seeds, max(self.rounds), self.overrides, instability_rounds=self.rounds)
        return {arm: setup.runs_of(arm) for b in self.batch_sizes for arm in (Arm("imp", b), Arm("copies", b))}


@dataclass(frozen=True)
class Scale:
    """Everything about one scale, declared in its own module: the plugin, the CLI, `replication status` and the
    report read it. Adding a scale is one new module with one of these in this package (docs/extending.md,
    "Adding a scale"): the package finds it."""

    name: str
    description: str  # the help line of its pytest marker
    setups: dict[str, "Setup"] = field(compare=False)  # every claim, with a not_run reason where it does not run
    probes: tuple["Probe", ...] = ()  # its stability probes, with what they found
    marker: str = ""  # its pytest marker (default: its name); the convnet smoke scale is part of `-m smoke`
    needs_cuda: bool = False  # its claims skip without a GPU (and run with --device cuda)
    # Where the landscape measures (LII, error barriers) read a fixed share of the data: the first N test (or
    # training) examples, batch norm recomputed on the first N training examples. None: all of it.
    landscape_examples: int | None = None
    order: int = 100  # where it stands among the scales (reports, tables, --scale choices): smaller first

    @property
    def pytest_marker(self) -> str:
        return self.marker or self.name


# Where a stable setup stands for the paper's LeNet: said in several scales' notes.
STABLE_SETUP_NOTE = " The stable setup is the stable batch's IMP, as in the paper's reinit control of Fig. 1."
