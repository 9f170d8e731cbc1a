"""Progress of long work: lines when piped, one bar on a terminal that counts each round of a run once."""

from __future__ import annotations

import io

from conftest import tiny_spec

from replication.engine.imp import run_experiment
from replication.progress import RoundPrinter, stored_rounds
from replication.store import RunStore

METRICS = {"test_acc": 0.5, "density": 0.8}


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_progress_is_one_line_per_round():
    lines: list[str] = []
    printer = RoundPrinter(lines.append, total=4, terminal=io.StringIO())
    printer(tiny_spec(), 1, 3, METRICS)
    assert printer.bar is None and len(lines) == 1
    assert lines[0].startswith("  lenet/digits") and "imp seed 0: round 1/2, 80.00% remaining, test acc 50.00%" in lines[0]


def test_a_bar_starts_at_the_stored_rounds_and_counts_each_round_once():
    a, b = tiny_spec(), tiny_spec(init_seed=1)
    terminal = FakeTerminal()
    printer = RoundPrinter(total=6, done={(a.hash(), 0)}, terminal=terminal)
    printer.stage("random-reinit-fails [smoke]")
    for spec, index in [(a, 0), (a, 1), (a, 1), (b, 0), (b, 1)]:  # a's round 0 stored, a's round 1 read twice
        printer(spec, index, 3, METRICS)
    assert printer.bar.n == 4
    printer.close()
    assert "random-reinit-fails [smoke]" in terminal.getvalue() and "4/6" in terminal.getvalue()


def test_stored_rounds_reads_what_the_store_holds(tmp_path, digits):
    spec, store = tiny_spec(rounds=1), RunStore(tmp_path)
    assert stored_rounds(store, [spec]) == set()
    run_experiment(spec, store, data=digits)
    assert stored_rounds(store, [spec, tiny_spec(init_seed=1)]) == {(spec.hash(), 0), (spec.hash(), 1)}
