"""Time rounds of the long scale at its batch sizes against the cost model, two at a time on two one-thread
processes (as the scale's two Ray workers train), and print each batch's measured-over-model ratio: what
`replication/registry/long.py` scales its budget's estimate by.

    python benchmarks/long_rounds.py            # batches 16, 64, 256, two passes: about 8 minutes
    python benchmarks/long_rounds.py --epochs 2 # a quick look (the ratio of a short round runs higher)

Each job trains the dense round of the scale's IMP run for one seed (its first round: the later rounds train
fewer weights on the same dense kernels, so they take as long) into a scratch store. The smallest batch (the
slowest round) trains on one process while the others train one after another on the second, so both stay
busy; the passes swap the others' order.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _round_seconds(args: tuple[dict, str]) -> float:
    """Train one dense round of `spec` (as a dict) on one thread; its stored training time."""
    spec_dict, data_dir = args
    import torch

    torch.set_num_threads(1)
    from replication.engine.imp import run_experiment
    from replication.spec import ExperimentSpec
    from replication.store import RunStore

    spec = ExperimentSpec.from_dict(spec_dict)
    with tempfile.TemporaryDirectory(prefix="long-rounds-") as scratch:
        run = run_experiment(spec, RunStore(scratch), data_dir=data_dir)
    return float(run.rounds[0].metrics["seconds"])


def specs(batches: list[int], epochs: int | None, seed: int):
    import dataclasses

    from replication.registry import Arm
    from replication.registry.long import map_setups

    setup = map_setups()["instability-predicts-tickets"]
    out = []
    for batch in batches:
        spec = setup.runs_of(Arm("imp", batch))[seed]
        spec = spec.with_(prune=dataclasses.replace(spec.prune, rounds=0))
        if epochs is not None:
            spec = spec.with_(train=dataclasses.replace(spec.train, epochs=epochs, milestones=()))
        out.append(spec)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16,64,256")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="override the scale's epochs a round")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    from replication.cost import round_seconds

    batches = [int(b) for b in args.batches.split(",")]
    measured: dict[int, list[float]] = {b: [] for b in batches}
    model: dict[int, float] = {}
    with ProcessPoolExecutor(2) as pool:
        for p in range(args.passes):
            # the slowest first, the others after it on the second process: both stay busy, as in a run
            rest = sorted(batches)[1:]
            order = sorted(batches)[:1] + (rest if p % 2 == 0 else rest[::-1])
            jobs = specs(order, args.epochs, seed=p)
            for spec, seconds in zip(jobs, pool.map(_round_seconds, [(s.to_dict(), args.data_dir) for s in jobs])):
                b = spec.train.batch_size
                measured[b].append(seconds)
                model[b] = round_seconds(spec)
                print(f"  pass {p}: batch {b} {seconds:.1f} s (model {model[b]:.1f} s)", flush=True)
    print("batch, measured s (median), model s, measured / model")
    for b in batches:
        median = statistics.median(measured[b])
        print(f"{b}, {median:.1f}, {model[b]:.1f}, {median / model[b]:.2f}")


if __name__ == "__main__":
    main()
