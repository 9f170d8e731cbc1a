"""Claim 8 — weights grow away from zero (paper Figs. 5, 6).

Under stable IMP the surviving weights become bimodal (few near zero) and the
pruning threshold rises above that of random reinitialization; in the semistable
setting it rises and later collapses: the last round's threshold falls further below
the peak it reached than it does at the stable batch.

A magnitude mask keeps the largest initial values, so a reset-to-init network's
surviving weights are large and bimodal before it trains at all. Both growth
parts therefore read what training adds: each round's trained surviving weights
against the masked weights that round started from, IMP against reinitialization.
The collapse part presupposes that the semistable threshold peaks within the
rounds run.
"""

import numpy as np
import pytest

from replication import evidence, preconditions, stats
from replication.accuracy import rounds_at_or_below
from replication.figures import plot_histograms
from replication.magnitudes import bimodality_coefficient, own_thresholds, surviving_weights, threshold_growth
from replication.registry import CLAIMS, Arm
from replication.report import Evidence, Figure, Table, markdown_table

CLAIM = CLAIMS["weights-grow-away-from-zero"]


@pytest.mark.claim(CLAIM.id)
def test_weights_grow_away_from_zero(lab, setup, conclude):
    runs = lab.arms(CLAIM.arms(setup))
    stable, reinit = Arm("imp", setup.stable_batch), Arm("reinit", setup.stable_batch)
    semistable = Arm("imp", setup.semistable_batch) if setup.semistable_batch else None
    tickets = runs[stable]

    thresholds = {arm: np.stack([own_thresholds(r) for r in arm_runs]) for arm, arm_runs in runs.items()}
    late = rounds_at_or_below(tickets[0], setup.low_density)
    growth = {arm: np.stack([threshold_growth(r, t) for r, t in zip(runs[arm], thresholds[arm])])[:, late].mean(axis=1)
              for arm in (stable, reinit)}
    # How far the last round's threshold has fallen from its peak: never negative and positive under
    # mere noise, so it is set against the same measure at the stable batch, paired by seed.
    collapse = {arm: np.log(t.max(axis=1) / t[:, -1]) for arm, t in (("semistable", thresholds.get(semistable)),
                                                                     ("stable", thresholds[stable])) if t is not None}
    h = setup.histogram_round
    bimodality = {arm: np.array([bimodality_coefficient(surviving_weights(r.rounds[h])) for r in runs[arm]])
                  for arm in (stable, reinit)}
    at_start = {arm: np.array([bimodality_coefficient(surviving_weights(r.rounds[h], "start")) for r in runs[arm]])
                for arm in (stable, reinit)}
    collapsed = [preconditions.threshold_collapses(thresholds[semistable], setup.semistable_batch, part=3)
                 ] if semistable else []
    decision = stats.decide(CLAIM, [
        stats.Reading(growth[stable], growth[reinit],
                      test=f"paired, one-sided: log(threshold of the trained weights / of the round's start), mean "
                           f"over densities ≤ {100 * setup.low_density:g}%, IMP > reinit"),
        stats.Reading(bimodality[stable] - at_start[stable], bimodality[reinit] - at_start[reinit],
                      test=f"paired, one-sided: bimodality coefficient of the surviving weights at round {h}, "
                           f"trained minus the round's start, IMP > reinit"),
        *([stats.Reading(collapse["semistable"], collapse["stable"],
                         test=f"paired, one-sided: log(peak threshold / last round's), IMP at the semistable batch "
                              f"{setup.semistable_batch} > at the stable batch {setup.stable_batch}")]
          if setup.semistable_batch else []),  # no semistable batch at this scale: the third part is not run
    ], preconditions=collapsed)

    densities = np.array(tickets[0].metric("density"))
    histograms = lab.figures.path(CLAIM.id, "histograms")
    plot_histograms({f"{arm}, round {h} ({100 * densities[h]:.1f}% remaining), seed 0": surviving_weights(
        runs[arm][0].rounds[h]) for arm in (stable, reinit)}, histograms)
    conclude(CLAIM, decision, evidence.by_density(
        lab.figures, CLAIM, "threshold", thresholds, densities, "pruning threshold",
        table=f"Pruning threshold (largest magnitude the next prune removes) by weights remaining: IMP and its "
              f"reinitialization at the stable batch {setup.stable_batch}"
              + (f", and IMP at the semistable batch {setup.semistable_batch}" if setup.semistable_batch else
                 " (no semistable batch at this scale by its stability probe: the third part is not run)"),
        caption="Pruning threshold against % of weights remaining (paper Fig. 6)", unit="magnitude", digits=4)
        + Evidence([Table(f"Bimodality coefficient of the surviving weights at round {h} (0.555 = uniform), "
                          f"trained and at the round's start; and the threshold's growth during training (log ratio, "
                          f"mean over densities ≤ {100 * setup.low_density:g}%)",
                          markdown_table(["arm", "trained", "start", "threshold growth"],
                                         [[a, f"{bimodality[a].mean():.3f}", f"{at_start[a].mean():.3f}",
                                           f"{growth[a].mean():.3f}"] for a in (stable, reinit)]))],
                   [Figure(f"Surviving weights at round {h} (paper Fig. 5)", lab.figures.link(histograms))])
        + evidence.accuracy(lab.figures, CLAIM, setup, runs),
        reference="ResNet-20, batch 2048: the IMP threshold rises above reinitialization's and the surviving "
                  "weights at round 10 are bimodal; batch 512: the threshold rises, then collapses.")
