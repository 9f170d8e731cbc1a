"""Every part the claim-test audit changed can fail: on synthetic runs with the effect its claim states it comes out
SUPPORTED, and on runs without that effect it does not. Each part is decided by its own declared rule and margin
(stats.decide_part on the registry's Part), on the measure its claim test reads; the measures' hand-computed cases
come first."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from replication import stats
from replication.magnitudes import bimodality_coefficient, own_thresholds, surviving_weights, threshold_growth
from replication.registry import CLAIMS
from replication.similarity import distance_matrix, push_from_previous, return_to_two_back, shared_region
from replication.store import RoundRecord, Run
from replication.verdicts import REFUTED, SUPPORTED

from conftest import tiny_spec

SEEDS = 8


def run_of(trained: list[torch.Tensor], init: torch.Tensor, starts: list[torch.Tensor] | None = None) -> Run:
    """A run of one weight vector "w" per round, every weight kept."""
    mask = {"w": torch.ones_like(init)}
    starts = starts or [init] * len(trained)
    rounds = [RoundRecord(i, mask, {"w": s}, {"w": w}, {}) for i, (s, w) in enumerate(zip(starts, trained))]
    return Run(tiny_spec(), Path("/nonexistent"), {"w": init}, rounds, complete=True)


def part(claim_id: str, index: int):
    return CLAIMS[claim_id].parts[index]


def decided(claim_id: str, index: int, values, reference=None) -> str:
    return stats.decide_part(part(claim_id, index), stats.Reading(np.asarray(values), reference)).verdict


# -- claim 7: stable IMP's rounds share a region; small-batch rounds are as far apart as reinitializations ----

def test_shared_region_by_hand():
    # init (1, 0); both rounds trained to (1, 1): 45° from the init (distance 0.5), 0 from each other
    run = run_of([torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])], torch.tensor([1.0, 0.0]))
    assert shared_region(run) == pytest.approx(0.5)
    # rounds trained to (1, 1) and (1, −1): each 0.5 from the init, 90° (1.0) from each other
    apart = run_of([torch.tensor([1.0, 1.0]), torch.tensor([1.0, -1.0])], torch.tensor([1.0, 0.0]))
    assert shared_region(apart) == pytest.approx(-0.5)


def _rounds(rng, shared: bool, rounds: int = 6, dim: int = 400) -> Run:
    init = torch.tensor(rng.standard_normal(dim), dtype=torch.float32)
    common = torch.tensor(rng.standard_normal(dim), dtype=torch.float32)
    own = lambda: torch.tensor(rng.standard_normal(dim), dtype=torch.float32)  # noqa: E731
    trained = [init + common + 0.2 * own() if shared else init + own() for _ in range(rounds)]
    return run_of(trained, init)


def test_claim_7_first_part_holds_for_rounds_in_one_region_and_fails_for_rounds_each_in_its_own():
    rng = np.random.default_rng(0)
    shared = [shared_region(_rounds(rng, True)) for _ in range(SEEDS)]
    own = [shared_region(_rounds(rng, False)) for _ in range(SEEDS)]
    assert min(shared) > 0 > max(own)
    assert decided("tickets-retrain-to-similar-regions", 0, shared) == SUPPORTED
    assert decided("tickets-retrain-to-similar-regions", 0, own) == REFUTED


def test_claim_7_second_part_needs_small_batch_rounds_as_orthogonal_as_reinitializations():
    reinit = np.full(SEEDS, 0.99) + np.linspace(-0.005, 0.005, SEEDS)
    assert decided("tickets-retrain-to-similar-regions", 1, reinit - 0.02, reinit) == SUPPORTED
    assert decided("tickets-retrain-to-similar-regions", 1, reinit - 0.5, reinit) == REFUTED


# -- claim 6: a return to the round two back, beyond plain IMP's drift; and tickets that still win -----------

def _circle(angles: list[float]) -> list[torch.Tensor]:
    return [torch.tensor([math.cos(a), math.sin(a)], dtype=torch.float32) for a in angles]


def test_return_and_push_by_hand():
    # a checkerboard A, B, A, B with A ⟂ B: d(3, 0) = 1 and d(3, 1) = 0, so the return is 1
    board = run_of(_circle([0, math.pi / 2] * 2), torch.tensor([1.0, 1.0]))
    assert return_to_two_back(distance_matrix(board)) == pytest.approx(1.0)
    # its push: d(r, r−1) − d(r, r−2) = 1 − 0 at r = 2 and 3
    assert push_from_previous(distance_matrix(board)) == pytest.approx(1.0)
    # a drift of 10° a round: d(r, r−3) = 30°/90° and d(r, r−2) = 20°/90°, so drift alone returns 1/9
    drift = run_of(_circle([math.radians(10 * r) for r in range(5)]), torch.tensor([1.0, 0.0]))
    assert return_to_two_back(distance_matrix(drift)) == pytest.approx(1 / 9, abs=1e-6)


def _returns(angles) -> float:
    """The return to r−2 of a run whose rounds point at `angles` in the plane."""
    return return_to_two_back(distance_matrix(run_of(_circle(list(angles)), torch.ones(2))))


def test_claim_6_first_part_holds_for_a_checkerboard_and_not_for_drift_alone():
    rng = np.random.default_rng(1)
    step = lambda: math.radians(10 + rng.uniform(-1, 1))  # noqa: E731
    drift = [_returns(np.cumsum([step() for _ in range(6)])) for _ in range(SEEDS)]
    board = [_returns([rng.uniform(-0.05, 0.05) + (r % 2) * math.pi / 3 for r in range(6)]) for _ in range(SEEDS)]
    assert decided("repel-previous-only-biphasic", 0, board, drift) == SUPPORTED
    # the drift of one arm against the drift of another: no checkerboard, however far each drifts
    other = [_returns(np.cumsum([step() for _ in range(6)])) for _ in range(SEEDS)]
    assert decided("repel-previous-only-biphasic", 0, other, drift) != SUPPORTED


# -- claim 8: growth during training, not the mask's choice of large initial values --------------------------

def test_threshold_growth_by_hand():
    start = torch.arange(1.0, 11.0)  # magnitudes 1..10; the prune of 20% removes 1 and 2, its threshold is 2
    same = run_of([start], start, [start])
    assert threshold_growth(same) == pytest.approx([0.0])
    doubled = run_of([2 * start], start, [start])
    assert threshold_growth(doubled) == pytest.approx([math.log(2)])
    assert threshold_growth(doubled, own_thresholds(doubled)) == pytest.approx([math.log(2)])  # given, not redone


def _survivors(rng, grows: bool) -> Run:
    # the start keeps the largest of a normal draw (a magnitude mask): bimodal before any training
    draw = rng.standard_normal(4000)
    start = torch.tensor(draw[np.abs(draw) > 1.0], dtype=torch.float32)
    # growing away from zero: each weight moves out to the two humps, their spread a third of the start's
    size = start.abs()
    trained = torch.sign(start) * (2 * size.mean() + (size - size.mean()) / 3) if grows else start.clone()
    return run_of([trained], start, [start])


def test_claim_8_growth_parts_fail_when_training_adds_nothing_to_a_masked_start():
    rng = np.random.default_rng(2)
    grown = [_survivors(rng, True) for _ in range(SEEDS)]
    still = [_survivors(rng, False) for _ in range(SEEDS)]
    reinit = [_survivors(rng, False) for _ in range(SEEDS)]
    growth = lambda runs: [float(threshold_growth(r)[0]) for r in runs]  # noqa: E731
    bimodal = lambda runs: [bimodality_coefficient(surviving_weights(r.rounds[0])) - bimodality_coefficient(  # noqa: E731
        surviving_weights(r.rounds[0], "start")) for r in runs]
    assert bimodality_coefficient(surviving_weights(still[0].rounds[0], "start")) > 0.555  # bimodal untrained
    assert decided("weights-grow-away-from-zero", 0, growth(grown), growth(reinit)) == SUPPORTED
    assert decided("weights-grow-away-from-zero", 0, growth(still), growth(reinit)) == REFUTED
    assert decided("weights-grow-away-from-zero", 1, bimodal(grown), bimodal(reinit)) == SUPPORTED
    assert decided("weights-grow-away-from-zero", 1, bimodal(still), bimodal(reinit)) == REFUTED


# -- claim 1's new half: small-batch tickets no better than reinitialization ----------------------------------

def test_claim_1_fourth_part_holds_when_the_small_batch_ticket_is_no_better_and_fails_when_it_wins():
    no_better = np.linspace(-0.3, 0.3, SEEDS)
    assert decided("stable-training-finds-tickets", 3, -no_better) == SUPPORTED
    assert decided("stable-training-finds-tickets", 3, -(3 + no_better)) == REFUTED


# -- claim 10: each extreme against the medium densities ------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1])
def test_claim_10_parts_need_a_barrier_at_their_extreme(index):
    medium = np.linspace(0.0, 0.4, SEEDS)
    assert decided("same-basin-only-at-medium-density", index, medium + 10, medium) == SUPPORTED
    assert decided("same-basin-only-at-medium-density", index, medium + np.linspace(-0.2, 0.2, SEEDS),
                   medium) == REFUTED


# -- claim 12, ours: its claim test end to end on a lab of synthetic runs -----------------------------------

class SyntheticLab:
    """What a claim test asks of the lab, answered from per-batch LII at every round (no training)."""

    def __init__(self, tmp_path: Path, lii_by_batch: dict[int, float], seeds: int = SEEDS):
        from replication.figures import FigureFolder

        self.figures, self.lii, self.seeds = FigureFolder(tmp_path, "synthetic"), lii_by_batch, seeds

    def arms(self, specs: dict) -> dict:
        densities = [0.8 ** r for r in range(16)]
        runs = lambda arm: [Run(spec, Path("/nonexistent"), {}, [RoundRecord(  # noqa: E731
            r, {}, {}, {}, {"density": d, "test_acc": 0.9, "diverged": False}) for r, d in enumerate(densities)],
            complete=True) for spec in specs[arm]]
        return {arm: runs(arm) for arm in specs}

    def instability(self, runs: list[Run], copies: list[Run]) -> dict[int, np.ndarray]:
        rng = np.random.default_rng(len(runs))
        level = self.lii[runs[0].spec.train.batch_size]
        return {r: level + 0.3 * rng.standard_normal(len(runs)) for r in (0, 5, 10, 15)}


class Concluded:
    def __call__(self, claim, decision, evidence=None, reference=""):
        self.decision = decision


@pytest.mark.parametrize("lii,verdict", [({16: 30.0, 256: 0.5}, SUPPORTED),  # batch, not steps
                                         ({16: 30.0, 256: 29.0}, REFUTED),  # steps: no larger-batch stability
                                         ({16: 1.0, 256: 0.5}, "NOT TESTABLE")])  # nothing unstable to compare
def test_claim_12_decides_on_the_equal_steps_arm(tmp_path, lii, verdict):
    import dataclasses

    from claims.test_stability_is_batch_not_steps import test_stability_is_batch_not_steps as claim_test
    from replication.registry import SETUPS

    setup = dataclasses.replace(SETUPS["medium"]["stability-is-batch-not-steps"], not_run="")
    conclude = Concluded()
    claim_test(SyntheticLab(tmp_path, lii), setup, conclude)
    assert conclude.decision.verdict == verdict
    assert setup.equal_steps_epochs() == 32  # batch 256 for batch 16's steps: 16 times its 2 epochs


# -- claim 1 with its reinitializations trained at the low densities only (the long scale) -------------------

class LowDensityReinitLab(SyntheticLab):
    """Runs that hold only the rounds their spec stores (a reinitialization trained at round 10 alone), with a
    seed's test accuracy by arm: IMP 90%, batch 256's reinitialization 80% (the tickets win), batch 16's 90%."""

    def arms(self, specs: dict) -> dict:
        self.asked = specs
        rng = np.random.default_rng(0)

        def run(spec):
            acc = 0.8 if (spec.control, spec.train.batch_size) == ("reinit", 256) else 0.9
            rounds = [RoundRecord(r, {}, {}, {}, {"density": 0.8 ** r, "diverged": False,
                                                  "test_acc": acc + 0.005 * rng.standard_normal()})
                      for r in spec.stored_rounds]
            return Run(spec, Path("/nonexistent"), {}, rounds, complete=True)

        return {arm: [run(spec) for spec in arm_specs] for arm, arm_specs in specs.items()}

    def classes(self, runs) -> int:
        return 10

    def instability(self, runs: list[Run], copies: list[Run]) -> dict[int, np.ndarray]:
        return {r: v for r, v in super().instability(runs, copies).items() if r <= runs[0].spec.prune.rounds}


def test_claim_1_reads_reinitializations_trained_only_where_it_reads_them(tmp_path):
    """On the long scale's setup claim 1's reinitializations store round 10 alone: the claim test reads them
    there and decides (the tickets win at batch 256 and not at 16, batch 16 unstable: SUPPORTED)."""
    import dataclasses

    from claims.test_stable_training_finds_tickets import test_stable_training_finds_tickets as claim_test
    from replication.registry import Arm
    from replication.registry.long import map_setups

    setup = dataclasses.replace(map_setups()["stable-training-finds-tickets"], seeds=SEEDS)
    assert setup.reinit_at_low_density
    lab, conclude = LowDensityReinitLab(tmp_path, {16: 30.0, 256: 0.5}), Concluded()
    claim_test(lab, setup, conclude)
    assert {s.trained_rounds for b in (16, 256) for s in lab.asked[Arm("reinit", b)]} == {(10,)}
    assert conclude.decision.verdict == SUPPORTED
    advantage = conclude.decision.parts[0]
    assert advantage.effect == pytest.approx(10.0, abs=0.5)  # 90 − 80 at batch 256, minus 90 − 90 at 16
