"""Do the stored runs reproduce? Retrain the first rounds of some of them with this code and compare the bits.

A run store fills over several sittings, and may be resumed by another code version or on another machine.
Whether all of them computed the same thing is answered here by recomputation: each chosen run's first rounds
are trained again in a scratch store, from the run's own spec (its seeds, so its data orders and initialization),
and every tensor of those rounds (the mask, the weights the round began from, the trained weights, a rewinding
run's rewind point) is compared bit for bit with the stored one.

On a CPU the bits depend on the number of threads (reductions are split by thread), so a round is
retrained with the thread count it recorded; rounds from before threads were recorded are retrained with one
thread, what each Ray worker trains with, unless told otherwise. On a GPU the harness does not ask for
deterministic kernels, so there a difference may be the kernels' own, not a change in what was computed.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
from dataclasses import dataclass

import torch

from .engine.imp import run_experiments
from .spec import ExperimentSpec
from .store import RoundRecord, RunStore, StoreError

UNRECORDED_THREADS = 1  # the Ray workers' thread count, for rounds that did not record theirs


@dataclass(frozen=True)
class RoundCheck:
    """One retrained round against the stored one: what differs (empty: bit-identical)."""

    run: str  # the run's hash
    round: int
    differs: tuple[str, ...]

    @property
    def identical(self) -> bool:
        return not self.differs


def finished_runs(store: RunStore) -> dict[str, ExperimentSpec]:
    """Every finished run in the store, by hash (the folder it is stored under)."""
    return store.finished()


def choose(runs: dict[str, ExperimentSpec], count: int, seed: int, named: list[str]) -> list[str]:
    """The runs named, or else `count` IMP runs drawn with `seed` (an IMP run needs no other run retrained)."""
    if named:
        unknown = [h for h in named if h not in runs]
        if unknown:
            raise StoreError(f"no finished run {', '.join(unknown)} in the store; `replication status` lists what "
                             f"is there, or omit --run to sample")
        copies = [h for h in named if runs[h].copy_round is not None]
        if copies:
            raise StoreError(f"run {', '.join(copies)} is a second training; name the run it copies instead")
        return list(dict.fromkeys(named))
    imp = sorted(h for h, spec in runs.items() if spec.source() is None)
    if not imp:
        raise StoreError("the store has no finished IMP run to verify; finish one first (`replication status`)")
    return random.Random(seed).sample(imp, min(count, len(imp)))


def truncated(spec: ExperimentSpec, rounds: int) -> ExperimentSpec:
    """The spec cut to its first `rounds` rounds (dense included). A round's seeds do not depend on how many
    rounds follow it, so these rounds are the stored run's own."""
    return spec.with_(prune=dataclasses.replace(spec.prune, rounds=min(spec.prune.rounds, rounds - 1)))


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit, so that a diverged run's NaNs compare equal to themselves (torch.equal says NaN ≠ NaN)."""
    as_bytes = lambda t: t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)  # noqa: E731
    return torch.equal(as_bytes(a), as_bytes(b))


def compare(stored: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor], what: str) -> list[str]:
    """Where two state dicts differ, one line per tensor; empty when they are bit-identical."""
    out = [f"{what}: {name} missing" for name in sorted(set(stored) ^ set(fresh))]
    for name in sorted(set(stored) & set(fresh)):
        a, b = stored[name], fresh[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            out.append(f"{what}: {name} is {tuple(a.shape)} {a.dtype} stored, {tuple(b.shape)} {b.dtype} now")
        elif not same_bits(a, b):
            gap = (a.double() - b.double()).abs().max().item() if a.is_floating_point() else float("nan")
            out.append(f"{what}: {name} max |Δ| {gap:.3g}")
    return out


def compare_round(stored: RoundRecord, fresh: RoundRecord) -> list[str]:
    return [*compare(stored.mask, fresh.mask, "mask"), *compare(stored.start, fresh.start, "start"),
            *compare(stored.trained, fresh.trained, "trained")]


def recorded_threads(store: RunStore, spec: ExperimentSpec, rounds: int) -> int | None:
    """The thread count the run's first rounds recorded (the first one found), or None."""
    return next((int(m["threads"]) for m in store.round_metrics(spec)[:rounds] if "threads" in m), None)


def verify_run(store: RunStore, spec: ExperimentSpec, rounds: int, threads: int, device: str,
               data_dir: str | None) -> list[RoundCheck]:
    """Retrain the run's first `rounds` rounds with `threads` threads in a scratch store; compare each round."""
    if not store.path(spec).is_dir():  # its folder is named by the hash of the code that wrote it
        return [RoundCheck(spec.hash(), 0, (f"its spec hashes to {spec.hash()} under this code, not to the name of "
                                            f"its folder: this code would neither find nor resume the run",))]
    short = truncated(spec, rounds)
    saved = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="replication-verify-") as scratch:
        fresh_store = RunStore(scratch)
        torch.set_num_threads(threads)
        try:
            run_experiments([short], fresh_store, device, data_dir=data_dir)
        finally:
            torch.set_num_threads(saved)
        checks = []
        for index in range(short.prune.rounds + 1):
            stored, fresh = store.load_round(spec, index), fresh_store.load_round(short, index)
            differs = compare_round(stored, fresh) if stored is not None and fresh is not None else \
                [f"round {index} is missing from the {'stored' if stored is None else 'retrained'} run"]
            if index == 0 and (rewind := store.load_extra(spec, "rewind.pt")) is not None:
                differs += compare(rewind, fresh_store.load_extra(short, "rewind.pt") or {}, "rewind")
            checks.append(RoundCheck(spec.hash(), index, tuple(differs)))
    return checks


def describe(spec: ExperimentSpec) -> str:
    """The run in a few words: what it trains and whatever sets its arm apart."""
    train, prune = spec.train, spec.prune
    extras = [f"λ {spec.repel_lambda:g}" + (" (previous optimum only)" if spec.repel_previous_only else "")
              if spec.repel_lambda else "",
              f"rewinding to step {prune.rewind_step}" if prune.reset == "rewind" else "",
              f"{train.warmup_epochs}-epoch warm-up" if train.warmup_epochs else "",
              f"weight decay {train.weight_decay:g}" if train.weight_decay else ""]
    return ", ".join([f"{train.model} on {train.dataset}, batch {train.batch_size}, {spec.control}",
                      *filter(None, extras), f"seed {spec.init_seed}"])


def threads_for(store: RunStore, spec: ExperimentSpec, rounds: int, asked: int | None) -> tuple[int, str]:
    """The thread count to retrain with, and where it came from (for the printout)."""
    if asked is not None:
        return asked, "as asked"
    recorded = recorded_threads(store, spec, rounds)
    if recorded is not None:
        return recorded, "as recorded"
    return UNRECORDED_THREADS, "not recorded; the Ray workers' count"
