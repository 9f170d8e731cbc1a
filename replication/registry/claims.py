"""The paper's claims, declared once: what each says, where the paper shows it, what it compares (its arms, for a
scale's setup), its parts with their rule, margin and unit. Margins are declared here, before any data is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..spec import ExperimentSpec
from .experiments import STABLE_CUT, Arm

if TYPE_CHECKING:
    from .experiments import Setup

RULES = ("superiority", "non-inferiority", "equivalence", "trend")
ACCURACY, TEST_ERROR, TRAINING_ERROR = "points of accuracy", "points of test error", "points of training error"
ANGULAR, LOG_THRESHOLD, RANK = "angular distance", "log threshold ratio", "Spearman ρ"


@dataclass(frozen=True)
class Part:
    """One comparison of a claim: its rule (superiority, non-inferiority, equivalence or trend; stats.decide applies
    it), its smallest effect of interest, and the unit of both. tests/test_claim_statistics.py simulates the error
    rates of every claim's parts at every scale."""

    rule: str
    margin: float
    unit: str

    def __post_init__(self) -> None:
        if self.rule not in RULES or not self.margin > 0:
            raise ValueError(f"a part needs a rule in {RULES} and a positive margin, got {self.rule!r}, {self.margin}")


Arms = Callable[["Setup"], tuple[Arm, ...]]


@dataclass(frozen=True)
class Claim:
    number: int
    id: str
    statement: str
    figure: str
    comparison: str
    parts: tuple[Part, ...]
    # The arms the claim compares at a scale's setup: the claim test asks for exactly these, and `replication
    # status` counts their runs.
    compares: Arms
    core: bool = False
    needs: str = ""  # the analysis still missing where no scale is calibrated
    beyond_paper: bool = False  # a claim of our own, not the paper's (the report says so)

    def arms(self, setup: "Setup") -> dict[Arm, list[ExperimentSpec]]:
        """Each arm's runs at `setup` (a spec per seed)."""
        return {arm: setup.runs_of(arm) for arm in self.compares(setup)}

    def specs(self, setup: "Setup") -> list[ExperimentSpec]:
        """Every run the claim compares at `setup`, once each (arms share runs), in the arms' order."""
        return list(dict.fromkeys(s for arm in self.arms(setup).values() for s in arm))


def _tickets(batch: int | None, copies: bool = False) -> tuple[Arm, ...]:
    """IMP and its reinitialization at one batch size, and the second trainings its instability needs."""
    return (Arm("imp", batch), Arm("reinit", batch)) + ((Arm("copies", batch),) if copies else ())


CLAIMS: dict[str, Claim] = {c.id: c for c in [
    Claim(1, "stable-training-finds-tickets",
          "With small batches IMP tickets (reset to initialization) do no better than random reinitialization; "
          "with large enough batches they clearly beat it, without any rewinding.",
          "Fig. 1 (Conv-4: Fig. 12; ResNet-50: ImageNet table)",
          "ticket advantage over reinitialization at low densities, large batch minus small batch; the "
          "large-batch ticket against its own dense network (a winning ticket); the LII of IMP's subnetworks, "
          "small batch minus large batch; and the small-batch ticket's advantage held under the margin (no "
          "better than reinitialization). Presupposes unstable small-batch subnetworks and controls that train",
          (Part("superiority", 1.0, ACCURACY), Part("non-inferiority", 1.0, ACCURACY),
           Part("superiority", 2.0, TEST_ERROR), Part("non-inferiority", 1.0, ACCURACY)),
          lambda s: _tickets(s.unstable_batch, copies=True) + _tickets(s.stable_batch, copies=True),
          core=True),
    Claim(2, "warmup-helps-semistable",
          "A 10-epoch learning-rate warm-up improves IMP near the semistable batch size and makes little "
          "difference once training is fully stable.",
          "Fig. 1", "IMP accuracy with minus without warm-up, semistable and stable batch",
          (Part("superiority", 0.5, ACCURACY), Part("equivalence", 0.5, ACCURACY)),
          lambda s: tuple(Arm("imp", b, warmup_epochs=w) for b in (s.semistable_batch, s.stable_batch)
                          for w in (0, s.warmup_epochs)),
          needs="a warm-up × batch-size sweep calibrated to a semistable regime"),
    Claim(3, "instability-predicts-tickets",
          "The linear interpolation instability of IMP's subnetworks falls as the batch size grows, and IMP finds "
          "winning tickets only where it is low.",
          "Fig. 2", "per-seed rank correlation with batch size of the subnetworks' LII (falling) and of the ticket "
          "advantage over reinitialization (rising), exact sign-flip tests; and the ticket at the largest batch "
          "against its own dense network (a winning ticket). Presupposes unstable subnetworks at the smallest batch",
          (Part("trend", 0.5, RANK), Part("trend", 0.5, RANK), Part("non-inferiority", 1.0, ACCURACY)),
          lambda s: tuple(arm for b in s.batch_sizes for arm in _tickets(b, copies=True)),
          needs="a calibrated sweep at this scale"),
    Claim(4, "repellence-removes-tickets",
          "Stable IMP trained with the repellent loss (λ = 2) falls to the level of random reinitialization, "
          "while reinitialization itself is not noticeably affected by the same loss.",
          "Fig. 3 left (Conv-4: Fig. 13, LeNet: Fig. 14)",
          "equivalence of repelled IMP and reinitialization; of repelled and plain reinitialization",
          (Part("equivalence", 1.0, ACCURACY), Part("equivalence", 1.0, ACCURACY)),
          lambda s: (Arm("imp", s.stable_batch), Arm("imp", s.stable_batch, repel=s.repel),
                     Arm("reinit", s.stable_batch), Arm("reinit", s.stable_batch, repel=s.repel)),
          needs="a calibrated setup at this scale"),
    Claim(5, "attraction-rescues-unstable",
          "With the attractive loss (λ = −1), small-batch IMP finds tickets, though not as good as rewinding.",
          "Fig. 3 right", "attracted IMP minus plain IMP at low densities, small batch; and IMP rewound to an early "
          "step minus attracted IMP (where the scale has a rewinding arm). Presupposes that plain small-batch IMP "
          "is unstable and has lost its tickets",
          (Part("superiority", 1.0, ACCURACY), Part("superiority", 1.0, ACCURACY)),
          lambda s: (Arm("imp", s.unstable_batch), Arm("imp", s.unstable_batch, repel=s.repel),
                     Arm("reinit", s.unstable_batch), Arm("copies", s.unstable_batch),
                     *((Arm("imp", s.unstable_batch, rewind_step=s.rewind_step),) if s.rewind_step else ())),
          needs="a calibrated setup at this scale"),
    Claim(6, "repel-previous-only-biphasic",
          "Repelling only the previous optimum is not enough: IMP retrains to the optimum from two rounds back "
          "(a checkerboard in the distance matrix) and tickets still somewhat win.",
          "Fig. 17", "the checkerboard: how much closer round r lies to r−2 than to r−3 (the other parity beyond "
          "r−1, which the loss repels), repel-previous-only IMP minus plain IMP (whose drift makes r−2 closer "
          "anyway); and the repelled ticket's advantage over reinitialization at low densities",
          (Part("superiority", 0.05, ANGULAR), Part("superiority", 0.5, ACCURACY)),
          lambda s: (Arm("imp", s.stable_batch, repel=s.repel, previous_only=s.previous_only),
                     Arm("imp", s.stable_batch), Arm("reinit", s.stable_batch)),
          needs="a calibrated setup at this scale"),
    Claim(7, "tickets-retrain-to-similar-regions",
          "With stable IMP the trained networks of successive rounds lie at small angular distances; with small "
          "batches, and for random reinitializations, successive solutions are nearly orthogonal.",
          "Fig. 4 (also 9–11, 18, 21)",
          "stable IMP: each round's distance from the initialization it restarts from minus its distance to the next "
          "round (positive: successive solutions share a region; a network that retrains elsewhere from the same "
          "start lies farther from its successor than from the start); and small-batch IMP's successive distance "
          "against reinitialization's, which restart from fresh draws (as orthogonal, within the margin). The "
          "second part presupposes unstable small-batch subnetworks",
          (Part("superiority", 0.05, ANGULAR), Part("non-inferiority", 0.1, ANGULAR)),
          lambda s: (Arm("imp", s.stable_batch), Arm("reinit", s.stable_batch), Arm("imp", s.unstable_batch),
                     Arm("copies", s.unstable_batch)),
          core=True),
    Claim(8, "weights-grow-away-from-zero",
          "Under stable IMP the surviving weights become bimodal and the pruning threshold rises above that of "
          "random reinitialization; in the semistable setting it rises and later collapses.",
          "Fig. 5, 6", "growth during training (trained weights against the masked start of the same round: a mask "
          "that keeps large initial values raises them with no training), IMP minus reinitialization: of the "
          "pruning threshold (log ratio, mean over late rounds) and of the bimodality coefficient of the "
          "surviving weights; the log ratio of IMP's peak threshold to its last round's, semistable batch minus "
          "stable batch (presupposes a peak within the rounds run)",
          (Part("superiority", 0.1, LOG_THRESHOLD), Part("superiority", 0.05, "bimodality coefficient"),
           Part("superiority", 0.1, LOG_THRESHOLD)),
          lambda s: (Arm("imp", s.stable_batch), Arm("reinit", s.stable_batch),
                     *((Arm("imp", s.semistable_batch),) if s.semistable_batch else ()))),
    Claim(9, "weight-decay-hurts-semistable",
          "Without weight decay (semistable batch, no warm-up) the pruning threshold grows faster and collapses "
          "later, giving a longer high-accuracy plateau.",
          "Fig. 7", "accuracy at low densities, and the pruning threshold, without over with weight decay",
          (Part("superiority", 0.5, ACCURACY), Part("superiority", 0.1, LOG_THRESHOLD)),
          lambda s: (Arm("imp", s.semistable_batch), Arm("imp", s.semistable_batch, weight_decay=s.weight_decay)),
          needs="a semistable setting with weight decay on and off"),
    Claim(10, "same-basin-only-at-medium-density",
          "Between successive stable rounds the error barrier is near zero at medium densities but not at very "
          "high or very low densities; the angular distances stay far below those of reinitializations.",
          "Fig. 8 (also 20, 23)", "error barrier between successive rounds: the first pair (from the dense network) "
          "minus the medium densities, presupposing a dense network not stable at initialization; and the pairs "
          "at very low densities (the paper's rise is below 1.4%) minus the medium ones, presupposing rounds "
          "that reach them",
          (Part("superiority", 2.0, TRAINING_ERROR), Part("superiority", 2.0, TRAINING_ERROR)),
          lambda s: (Arm("imp", s.stable_batch), Arm("copies", s.stable_batch)),
          needs="very low densities (more rounds) for the low-density end of the comparison"),
    Claim(11, "random-reinit-fails",
          "On a setup that is stable from initialization (LeNet in the paper; each scale's large batch here), the "
          "ticket keeps its accuracy to far lower densities than the same mask with a fresh random initialization.",
          "Frankle & Carbin 2019; the reinit control of Fig. 1",
          "test accuracy at low densities, ticket minus random reinitialization (same mask), paired by seed; and "
          "the ticket against its own dense network (a winning ticket)",
          (Part("superiority", 1.0, ACCURACY), Part("non-inferiority", 1.0, ACCURACY)),
          lambda s: (Arm("imp", s.stable_batch), Arm("reinit", s.stable_batch)),
          core=True),
    Claim(12, "stability-is-batch-not-steps",
          "At equal training steps, the larger batch's subnetworks are still stable where the smaller batch's are "
          "unstable: what makes IMP stable is the batch size, not how few steps a larger batch takes.",
          "beyond the paper: its larger batches also train for fewer steps (PAPER.md, \"Training length\")",
          "the LII of IMP's subnetworks, the unstable batch minus a larger batch trained for as many optimizer "
          "steps (more epochs); and that larger batch's LII held under the 2-point stability cut. Presupposes "
          "unstable small-batch subnetworks",
          (Part("superiority", 2.0, TEST_ERROR), Part("non-inferiority", STABLE_CUT, TEST_ERROR)),
          lambda s: (Arm("imp", s.unstable_batch), Arm("copies", s.unstable_batch),
                     Arm("imp", s.equal_steps_batch, epochs=s.equal_steps_epochs()),
                     Arm("copies", s.equal_steps_batch, epochs=s.equal_steps_epochs())),
          needs="a setting whose small batch's subnetworks are unstable, and an equal-steps arm",
          beyond_paper=True),
]}
