"""The instability map's declaration and rule (replication/instability_map.py), against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from replication import instability_map as M
from replication.cli import main
from replication.presets import preset
from replication.registry import SCALES, Arm


def result(cell: M.Cell, read: list[list[float]], accuracy: float = 80.0, read_accuracy: float = 80.0):
    """A cell whose seeds have LII `read[0]` at round 5 and `read[1]` at round 10 (1 point elsewhere)."""
    seeds = len(read[0])
    lii = {0: [1.0] * seeds, 2: [1.0] * seeds, 5: read[0], 10: read[1]}
    acc = {0: [accuracy] * seeds, 2: [accuracy] * seeds, 5: [read_accuracy] * seeds, 10: [read_accuracy] * seeds}
    return M.CellResult(cell, lii, acc)


SMALL, LARGE = M.Cell(16, 8), M.Cell(256, 8)


def test_a_seeds_instability_is_its_mean_over_the_rounds_read():
    assert result(SMALL, [[12.0, 30.0], [8.0, 10.0]]).instability() == [10.0, 20.0]


@pytest.mark.parametrize("read, expected", [
    ([[12.0, 30.0], [8.0, 10.0]], M.UNSTABLE),  # seeds at 10 and 20: both reach the cut
    ([[12.0, 30.0], [7.9, 10.0]], M.BETWEEN),  # one seed at 9.95
    ([[1.9, 0.0], [1.9, 3.9]], M.STABLE),  # 1.9 and 1.95, both under 2
    ([[2.0, 0.0], [2.0, 0.0]], M.BETWEEN),  # 2.0 is not under 2
])
def test_regime_by_absolute_cuts(read, expected):
    assert M.regime(result(SMALL, read), best_dense=80.0, classes=10) == expected


def test_a_subnetwork_stuck_at_chance_fails_rather_than_looking_stable():
    # two copies at chance are "connected" by an LII of 0; the floor is 10 + 0.5 * (80 - 10) = 45%
    assert M.regime(result(LARGE, [[0.0, 0.0], [0.0, 0.0]], read_accuracy=10.0), 80.0, 10) == M.FAILS
    assert M.regime(result(LARGE, [[0.0, 0.0], [0.0, 0.0]], read_accuracy=45.0), 80.0, 10) == M.STABLE
    assert M.regime(result(LARGE, [[0.0, 0.0], [0.0, 0.0]], accuracy=44.9), 80.0, 10) == M.FAILS
    diverged = result(LARGE, [[0.0, math.nan], [0.0, 0.0]])
    assert M.regime(diverged, 80.0, 10) == M.FAILS


def test_regimes_judge_training_against_the_best_cell():
    good, weak = result(SMALL, [[20.0, 20.0], [20.0, 20.0]], accuracy=90.0), result(LARGE, [[0.0] * 2] * 2, 40.0)
    assert M.regimes([good, weak], classes=10) == {SMALL: M.UNSTABLE, LARGE: M.FAILS}  # 40 < 10 + 0.5 * 80


def test_choose_takes_the_cheapest_setting_with_both_regimes():
    long_small, long_large = M.Cell(16, 16), M.Cell(256, 16)
    found = {SMALL: M.BETWEEN, LARGE: M.STABLE, long_small: M.UNSTABLE, long_large: M.STABLE}
    assert M.choose(found) == (long_small, long_large)
    assert M.choose({**found, SMALL: M.UNSTABLE}) == (SMALL, LARGE)
    # the stable partner must share the setting: a constant-schedule large batch does not pair with a step one
    assert M.choose({SMALL: M.UNSTABLE, M.Cell(256, 8, schedule="constant"): M.STABLE}) is None
    assert M.choose({SMALL: M.UNSTABLE, LARGE: M.FAILS}) is None
    assert M.choose({}) is None


def _rounds(cell: M.Cell, by_round: dict[int, list[float]], accuracy: float = 80.0) -> M.CellResult:
    seeds = cell.seeds
    lii = {0: [30.0] * seeds, 2: [1.0] * seeds, 5: [1.0] * seeds, 10: [1.0] * seeds, **by_round}
    return M.CellResult(cell, lii, {r: [accuracy] * seeds for r in (0, 2, 5, 10)})


def test_decide_takes_the_main_rule_first():
    found = [result(SMALL, [[12.0, 30.0], [8.0, 10.0]]), result(LARGE, [[0.5, 0.5], [0.5, 0.5]])]
    assert M.decide(found, classes=10) == M.Pick(SMALL, LARGE, M.READ_ROUNDS)
    assert not M.decide(found, classes=10).fallback


def test_the_fallback_reads_the_single_rounds_with_a_contrast():
    # batch 16's mean over rounds 5 and 10 is between (12 and 4), but round 2 and round 5 each reach the cut alone
    small = _rounds(SMALL, {2: [15.0, 11.0], 5: [12.0, 10.0], 10: [4.0, 1.0]})
    large = _rounds(LARGE, {2: [1.9, 0.3], 5: [2.5, 0.1], 10: [0.1, 0.1]})
    assert M.regimes([small, large], 10)[SMALL] == M.BETWEEN
    pick = M.decide([small, large], classes=10)
    assert pick == M.Pick(SMALL, LARGE, (2,)) and pick.fallback  # round 5's large batch has a seed at 2.5
    # one seed under the cut at every round: no contrast anywhere, so nothing is picked
    assert M.decide([_rounds(SMALL, {2: [15.0, 9.9], 5: [9.0, 10.0]}), large], classes=10) is None
    # a pair that fails to train is never read, whatever its LII
    assert M.decide([small, _rounds(LARGE, {2: [0.0, 0.0]}, accuracy=20.0)], classes=10) is None


def test_the_fallback_takes_the_cheapest_setting_and_pairs_within_a_setting():
    long_small, long_large = M.Cell(16, 16), M.Cell(256, 16)
    contrast = {2: [20.0, 20.0]}
    cells = [_rounds(long_small, contrast), _rounds(long_large, {}), _rounds(SMALL, contrast), _rounds(LARGE, {}),
             _rounds(M.Cell(16, 4), contrast)]  # the cheapest batch 16, but it has no larger batch of its setting
    assert M.decide(cells, classes=10) == M.Pick(SMALL, LARGE, (2,))
    assert M.decide([], classes=10) is None


def test_cells_scale_table_1s_schedule_to_the_round():
    assert dict(M.Cell(16, 16).overrides()) == {"epochs": 16, "schedule": "step", "milestones": (11, 13)}
    assert dict(M.Cell(16, 8).overrides())["milestones"] == (5, 7)
    assert dict(M.Cell(16, 32).overrides())["milestones"] == (21, 27)
    assert dict(M.Cell(16, 8, schedule="constant").overrides()) == {"epochs": 8}
    assert dict(M.Cell(16, 8, augment=True).overrides())["augment_pad"] == 2
    assert M.Cell(16, 8).steps == 4096 and M.Cell(64, 32).steps == 4096  # the equal-steps pair
    assert M.Cell(256, 16).steps == 512


def test_the_declared_map_covers_the_axes_the_issue_asks_for():
    cells = M.MAPS["long"]
    assert "long" in SCALES
    assert len(set(cells)) == len(cells)
    lengths = {c.epochs for c in cells if c.batch == M.UNSTABLE_BATCH and c.setting[0] == "step" and not c.augment}
    assert min(lengths) <= 4 and max(lengths) >= 32
    assert {c.batch for c in cells} >= {16, 256}
    assert {c.schedule for c in cells if c.batch == 16 and c.epochs == 8} == {"step", "constant"}
    assert {c.augment for c in cells if c.batch == 16 and c.epochs == 8} == {True, False}
    assert any(c.batch > 16 and c.steps in {d.steps for d in cells if d.batch == 16} and c.epochs > 8 for c in cells)
    for cell in cells:  # every cell builds valid specs that read the claims' rounds
        arms = cell.probe().arms()
        assert {s.copy_round for s in arms[Arm("copies", cell.batch)]} == {0, 2, 5, 10}
        assert {s.prune.rounds for s in arms[Arm("imp", cell.batch)]} == {10}


def test_augment_pad_is_hash_neutral_at_its_old_value():
    spec = preset("resnet20-cifar10")
    assert spec.with_(train=spec.train.__class__(**{**spec.train.__dict__, "augment_pad": 4})).hash() == spec.hash()
    assert preset("resnet20-cifar10", augment_pad=2).hash() != spec.hash()


def test_replication_probe_writes_the_maps_page_and_reads_partial_stores(monkeypatch, tmp_path, capsys):
    done, pending = (M.Cell(32, 1, schedule="constant", preset="lenet-digits-sgd"),
                     M.Cell(256, 1, schedule="constant", preset="lenet-digits-sgd"))
    store, reports = str(tmp_path / "runs"), str(tmp_path / "reports")
    monkeypatch.setitem(M.MAPS, "long", (done,))
    assert main(["probe", "--scale", "long", "--store", store, "--report-dir", reports]) == 0
    monkeypatch.setitem(M.MAPS, "long", (done, pending))
    capsys.readouterr()
    assert main(["probe", "--scale", "long", "--store", store, "--report-dir", reports, "--no-train"]) == 0
    page = (tmp_path / "reports" / "long" / "PROBE.md").read_text()
    assert capsys.readouterr().out.strip() == page.strip()
    assert "| batch 32, 1 epochs, constant |" in page and "| batch 256, 1 epochs, constant |" not in page
    assert "Not yet measured (the store resumes them): batch 256, 1 epochs, constant." in page
    assert (tmp_path / "reports" / "long" / "figures" / "instability-map.png").stat().st_size > 0


def test_the_long_scales_pick_is_the_rules_choice_on_what_the_map_found():
    from replication.registry import long

    found = {M.Cell(b, e, schedule=sched, augment=aug): regime for (b, e, sched, aug), regime in long.MAP_FOUND}
    assert {(c.batch, c.epochs, c.schedule, c.augment) for c in found} == {
        (c.batch, c.epochs, c.schedule, c.augment) for c in M.MAPS["long"]}  # every cell of the map, once
    unstable, stable = M.choose(found)
    assert long.PICK["overrides"] == unstable.overrides()
    assert (long.PICK["unstable_batch"], long.PICK["stable_batch"]) == (unstable.batch, stable.batch)
    assert "instability_rounds" not in long.PICK  # the main rule decided: the claims read rounds 5 and 10
