"""The stability probe: which batch sizes are unstable, semistable and stable at a scale.

The paper names its regimes by the linear interpolation instability (ResNet-20,
Fig. 2): unstable at batch 64–256 (LII about 70–83 points), semistable at 512
(22–42, and IMP needs a warm-up there), stable at 1024–2048 (about 0). A scale
declares its stand-ins for these from this probe, run before any of its claims'
IMP runs: per batch size and seed, IMP for a few rounds and a second training of
the dense round and of an early subnetwork.

The rule (a probe's `rule`), declared with it:

- fails: some seed's dense network does not train (it diverged, or its test
  accuracy is below chance + registry.TRAINS_FLOOR × (the best batch's mean
  dense accuracy − chance)). Failure to train is not instability.
- "absolute" (every probe declared from now on): a seed's LII is its mean over
  the probe's rounds; unstable when every seed's is at least UNSTABLE_CUT (10
  points), stable when every seed's is under STABLE_CUT (2), semistable
  otherwise. Adding a batch size never relabels another.
- "relative" (the rule the smoke, small, smoke-resnet and medium probes were
  declared and run with; their records keep it): stable when the mean LII
  (over seeds and rounds) is under STABLE_CUT; unstable when it is above half
  the largest mean among the batch sizes that train; semistable in between.
  Extending such a sweep relabels regimes (medium's batch 32 became semistable
  when batch 16 was added), and its "unstable" may be far from the paper's:
  the claims check what they presuppose themselves (replication/preconditions.py).

A scale without a semistable batch size does not run the claims about the
semistable regime (2, 8's third part and 9); it says so instead.
"""

from __future__ import annotations

from .accuracy import dense_accuracy, mean_over_rounds
from .registry import Arm, Probe
# The rule itself is a measure's (replication/stability.py): the probe runs it, and its regime names live there.
from .stability import BatchStability, classify


def survey(lab, probe: Probe) -> tuple[list[BatchStability], dict[int, str]]:
    """Runs the probe through the lab (stored, resumable), reads each batch size's LII and dense accuracy, and
    classifies them."""
    runs = lab.arms(probe.arms())
    results = []
    for b in probe.batch_sizes:
        imp = runs[Arm("imp", b)]
        lii = lab.instability(imp, runs[Arm("copies", b)])
        results.append(BatchStability(b, {r: v.tolist() for r, v in sorted(lii.items())},
                                      dense_accuracy(imp).tolist()))
    return results, classify(results, lab.classes(runs), rule=probe.rule)


# -- the instability map (replication/instability_map.py: its cells and rule) ----------------
def survey_map(lab, cells, train: bool = True) -> list:
    """The map's cells, measured: every cell's runs asked for at once (the executor sees every family, in the
    map's order). train=False: only the cells whose runs are all stored (a sitting still running, or cut
    short), without training anything."""
    from .instability_map import CellResult

    probes = {cell: cell.probe() for cell in cells}
    if not train:
        store = lab.session.store
        probes = {c: p for c, p in probes.items() if all(store.is_complete(s) for a in p.arms().values() for s in a)}
    arms = {(cell, name): specs for cell, p in probes.items() for name, specs in p.arms().items()}
    runs = lab.arms(arms) if arms else {}
    results = []
    for cell in probes:
        imp, copies = runs[(cell, Arm("imp", cell.batch))], runs[(cell, Arm("copies", cell.batch))]
        lii = lab.instability(imp, copies)
        accuracy = {r: mean_over_rounds(imp, [r]).tolist() for r in sorted(lii)}
        results.append(CellResult(cell, {r: v.tolist() for r, v in sorted(lii.items())}, accuracy))
    return results
