"""The stability probe: its rule on hand-made numbers, and `replication probe` end to end on the digits."""

from __future__ import annotations

import math

import pytest

from replication import probe, registry
from replication.cli import main
from replication.registry import Arm, Probe
from replication.stability import FAILS, SEMISTABLE, STABLE, UNSTABLE, BatchStability


def _batch(b: int, lii: list[float], accuracy: list[float]) -> BatchStability:
    return BatchStability(b, {0: lii, 2: lii}, accuracy)


def test_the_rule_on_hand_made_numbers():
    # 10 classes, best mean dense accuracy 90%: the floor is 10 + 0.5 × 80 = 50%. Batch 8 has a seed at 40%: fails.
    # Of those that train the largest mean LII is 30 (batch 16): unstable above 15, semistable in [2, 15], stable
    # below 2.
    results = [_batch(8, [50.0, 60.0], [40.0, 90.0]), _batch(16, [20.0, 40.0], [85.0, 86.0]),
               _batch(32, [15.0, 15.0], [88.0, 89.0]), _batch(64, [10.0, 2.0], [90.0, 90.0]),
               _batch(128, [1.0, 3.2], [90.0, 90.0]), _batch(256, [1.0, 2.9], [90.0, 90.0])]  # 2.1 and 1.95
    assert probe.classify(results, classes=10, trains_floor=0.5, rule="relative") == {
        8: FAILS, 16: UNSTABLE, 32: SEMISTABLE, 64: SEMISTABLE, 128: SEMISTABLE, 256: STABLE}
    # The absolute cuts on every seed: unstable when each is at least 10 (16, 32), stable when each is under 2
    # (none: 256's second seed is 2.9), semistable otherwise (64 has a seed at 10 and one at 2).
    assert probe.classify(results, classes=10, trains_floor=0.5) == {
        8: FAILS, 16: UNSTABLE, 32: UNSTABLE, 64: SEMISTABLE, 128: SEMISTABLE, 256: SEMISTABLE}


def test_absolute_cuts_never_relabel_a_batch_when_another_is_added():
    results = [_batch(64, [4.0, 4.0], [90.0, 90.0]), _batch(256, [1.0, 1.0], [90.0, 90.0])]
    wider = [_batch(16, [40.0, 50.0], [88.0, 89.0]), *results]
    assert probe.classify(results, 10, rule="relative")[64] == UNSTABLE
    assert probe.classify(wider, 10, rule="relative")[64] == SEMISTABLE  # the old rule relabels it
    assert probe.classify(results, 10)[64] == probe.classify(wider, 10)[64] == SEMISTABLE
    with pytest.raises(ValueError, match="absolute' or 'relative"):
        probe.classify(results, 10, rule="half")


def test_a_diverged_seed_fails_and_is_left_out_of_the_largest():
    results = [_batch(8, [90.0, math.nan], [60.0, math.nan]), _batch(64, [4.0, 4.0], [90.0, 90.0]),
               _batch(256, [1.0, 1.0], [90.0, 90.0])]
    assert probe.classify(results, classes=10, trains_floor=0.5, rule="relative") == {
        8: FAILS, 64: UNSTABLE, 256: STABLE}
    assert probe.classify(results, classes=10, trains_floor=0.5) == {8: FAILS, 64: SEMISTABLE, 256: STABLE}


def test_the_probe_runs_imp_for_its_last_round_and_copies_of_its_rounds():
    declared = Probe("lenet-digits-sgd", (8, 32), seeds=2, rounds=(0, 2))
    arms = declared.arms()
    assert list(arms) == [Arm("imp", 8), Arm("copies", 8), Arm("imp", 32), Arm("copies", 32)]
    assert [a.label for a in arms][:2] == ["IMP batch 8", "second trainings of IMP batch 8"]
    assert {s.prune.rounds for s in arms[Arm("imp", 8)]} == {2}
    assert sorted(s.copy_round for s in arms[Arm("copies", 32)]) == [0, 0, 2, 2]


def test_every_cpu_scale_declares_its_probes_with_what_they_found():
    assert {"smoke", "small", "medium"} <= set(registry.PROBES)
    for declared in (p for probes in registry.PROBES.values() for p in probes):
        assert [b for b, _ in declared.found] == list(declared.batch_sizes), declared
        assert {r for _, r in declared.found} <= {FAILS, UNSTABLE, SEMISTABLE, STABLE}


def test_replication_probe_end_to_end(monkeypatch, tmp_path, capsys):
    tiny = Probe("lenet-digits-sgd", (32, 256), seeds=2, overrides=(("epochs", 1),), rounds=(0, 1))
    monkeypatch.setitem(registry.PROBES, "smoke", (tiny,))
    assert main(["probe", "--scale", "smoke", "--store", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "| batch | LII round 0 | LII round 1 | mean LII | dense accuracy % | regime |" in out
    assert out.count("\n| 32 |") == 1 and out.count("\n| 256 |") == 1
    page = tmp_path / "runs" / "reports" / "smoke" / "PROBE.md"  # the store's reports/, by default
    assert page.read_text().strip() == out.strip() and "![LII by batch size](figures/probe-1.png)" in out
    assert (page.parent / "figures" / "probe-1.png").stat().st_size > 0
    # a second call reads everything back from the store, and --no-train rebuilds the same page
    # (the pages' last line, "Code <commit>, <date> HH:MM UTC", moves on when a minute turns between calls)
    assert main(["probe", "--scale", "smoke", "--store", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.split("Code ")[0] == out.split("Code ")[0]
    assert main(["probe", "--scale", "smoke", "--store", str(tmp_path / "runs"), "--no-train"]) == 0
    assert capsys.readouterr().out.split("Code ")[0] == out.split("Code ")[0]


def test_replication_probe_no_train_trains_nothing(monkeypatch, tmp_path, capsys):
    tiny = Probe("lenet-digits-sgd", (32,), seeds=2, overrides=(("epochs", 1),), rounds=(0, 1))
    monkeypatch.setitem(registry.PROBES, "smoke", (tiny,))
    (tmp_path / "runs").mkdir()
    assert main(["probe", "--scale", "smoke", "--store", str(tmp_path / "runs"), "--no-train"]) == 2
    assert "run(s) missing from" in capsys.readouterr().err
    assert list((tmp_path / "runs").iterdir()) == []


def test_replication_probe_at_a_scale_without_one_is_a_usage_error(tmp_path, capsys):
    assert main(["probe", "--scale", "paper", "--store", str(tmp_path / "runs")]) == 2
    assert "no stability probe is declared at scale 'paper'" in capsys.readouterr().err
