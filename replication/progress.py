"""Progress of long work, one round at a time: a tqdm bar on a terminal, one line per round otherwise."""

from __future__ import annotations

import sys
from typing import Any, Callable

from .spec import ExperimentSpec


def describe(spec: ExperimentSpec, index: int, n: int, metrics: dict[str, Any]) -> str:
    t, acc = spec.train, metrics["test_acc"]
    what = spec.control + (f" λ={spec.repel_lambda:g}" if spec.repel_lambda else "")
    if spec.copy_round is not None:
        what += f", second training of round {spec.copy_round}"
    return (f"{t.model}/{t.dataset} batch {t.batch_size} {what} seed {spec.init_seed}: round {index}/{n - 1}, "
            f"{100 * metrics['density']:.2f}% remaining, test acc {'diverged' if acc is None else f'{100 * acc:.2f}%'}")


class RoundPrinter:
    """A progress callback (imp.Progress). `write` takes one line; with `total` rounds known and a terminal
    on stderr, a tqdm bar replaces the lines."""

    def __init__(self, write: Callable[[str], None] | None = None, total: int | None = None):
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.bar = None
        if total is not None and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="round", file=sys.stderr)

    def __call__(self, spec: ExperimentSpec, index: int, n: int, metrics: dict[str, Any]) -> None:
        text = describe(spec, index, n, metrics)
        if self.bar is None:
            self.write("  " + text)
        else:
            self.bar.set_description(text, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
