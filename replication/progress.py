"""Progress of long work, one round at a time: a tqdm bar on a terminal, one line per round otherwise."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, TextIO

from .spec import ExperimentSpec


def describe(spec: ExperimentSpec, index: int, n: int, metrics: dict[str, Any]) -> str:
    t, acc = spec.train, metrics["test_acc"]
    what = spec.control + (f" λ={spec.repel_lambda:g}" if spec.repel_lambda else "")
    if spec.copy_round is not None:
        what += f", second training of round {spec.copy_round}"
    last = n - 1 if spec.trained_rounds is None else spec.prune.rounds
    return (f"{t.model}/{t.dataset} batch {t.batch_size} {what} seed {spec.init_seed}: round {index}/{last}, "
            f"{100 * metrics['density']:.2f}% remaining, test acc {'diverged' if acc is None else f'{100 * acc:.2f}%'}")


def stored_rounds(store, specs: Iterable[ExperimentSpec]) -> set[tuple[str, int]]:
    """(run hash, round index) of every round of `specs` the store already holds: where a bar starts."""
    return {(s.hash(), i) for s in specs for i in s.stored_rounds[:len(store.round_seconds(s))]}


class RoundPrinter:
    """A progress callback (imp.Progress). `write` takes one line; with `total` rounds known and a terminal
    (`terminal`, default stderr), a tqdm bar replaces the lines. A bar counts each round of a run once, however
    often it is read back: `done` holds the rounds it starts with (see `stored_rounds`)."""

    def __init__(self, write: Callable[[str], None] | None = None, total: int | None = None,
                 done: set[tuple[str, int]] | None = None, terminal: TextIO | None = None):
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.bar, self.seen = None, set(done or ())
        terminal = terminal or sys.stderr
        if total is not None and terminal.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=len(self.seen), unit="round", file=terminal, dynamic_ncols=True)

    @classmethod
    def over(cls, store, specs: list[ExperimentSpec], terminal: TextIO | None = None) -> "RoundPrinter":
        """A bar over every round of `specs`, starting at the rounds the store already holds."""

        return cls(total=sum(s.n_rounds for s in specs), done=stored_rounds(store, specs), terminal=terminal)

    def stage(self, text: str) -> None:
        """What the rounds that follow are for (a claim): the bar's label."""
        if self.bar is not None:
            self.bar.set_description(text)

    def __call__(self, spec: ExperimentSpec, index: int, n: int, metrics: dict[str, Any]) -> None:
        text = describe(spec, index, n, metrics)
        if self.bar is None:
            self.write("  " + text)
            return
        self.bar.set_postfix_str(text, refresh=False)
        key = (spec.hash(), index)
        if key in self.seen:
            self.bar.refresh()
        else:
            self.seen.add(key)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
