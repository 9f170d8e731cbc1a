"""The claim registry: every claim of docs/paper.md is declared once, at every scale, and the
paper-scale experiments are the paper's own (Table 1 presets, Fig. 1 batch sizes, 25 rounds)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from replication.presets import TABLE_1, preset
from replication.registry import CLAIMS, PROBES, SCALES, SETUPS, Arm, Part, Setup, setup_for
from replication.stability import FAILS, SEMISTABLE, STABLE, UNSTABLE

PAPER_IDS = ["stable-training-finds-tickets", "warmup-helps-semistable", "instability-predicts-tickets",
             "repellence-removes-tickets", "attraction-rescues-unstable", "repel-previous-only-biphasic",
             "tickets-retrain-to-similar-regions", "weights-grow-away-from-zero", "weight-decay-hurts-semistable",
             "same-basin-only-at-medium-density", "random-reinit-fails"]
FIG_1_BATCHES = {64, 128, 256, 512, 1024, 2048}


def test_the_eleven_claims_in_the_papers_order_then_ours():
    assert [c.id for c in sorted(CLAIMS.values(), key=lambda c: c.number) if not c.beyond_paper] == PAPER_IDS
    assert [(c.number, c.id) for c in CLAIMS.values() if c.beyond_paper] == [(12, "stability-is-batch-not-steps")]
    assert {c.id for c in CLAIMS.values() if c.core} == {
        "stable-training-finds-tickets", "tickets-retrain-to-similar-regions", "random-reinit-fails"}


@pytest.mark.parametrize("scale", SCALES)
def test_every_claim_has_an_experiment(scale):
    assert set(SETUPS[scale]) == set(CLAIMS)


@pytest.mark.parametrize("claim_id", PAPER_IDS)
def test_paper_scale_is_the_papers_experiment(claim_id):
    setup = setup_for(claim_id, "paper")
    assert setup.preset in TABLE_1 and setup.rounds == 25 and setup.seeds >= 3
    batches = {b for b in (setup.unstable_batch, setup.semistable_batch, setup.stable_batch, *setup.batch_sizes) if b}
    assert batches <= FIG_1_BATCHES
    table = TABLE_1[setup.preset]
    for spec in specs_of(claim_id, setup):  # every arm is Table 1's row, but for what the claim itself varies
        # what the claim varies, and the engine (registry._PAPER_ENGINE: how, not what, it computes)
        varied = {"batch_size", "warmup_epochs", "stacking"} | ({"weight_decay"} if setup.weight_decay else set())
        same = {f: getattr(spec.train, f) for f in spec.train.__dataclass_fields__ if f not in varied}
        assert same == {f: getattr(table.train, f) for f in same}, claim_id
        assert spec.prune == dataclasses.replace(table.prune, rounds=25)


def test_paper_scale_roles_of_the_batch_sizes():
    """Stable means 2048 (or 1024), unstable 128, semistable 512 (docs/paper.md, "The claims")."""
    paper = SETUPS["paper"]
    assert paper["stable-training-finds-tickets"].unstable_batch == 128
    assert paper["stable-training-finds-tickets"].stable_batch == 2048
    assert paper["instability-predicts-tickets"].batch_sizes == (64, 128, 256, 512, 1024, 2048)
    assert paper["instability-predicts-tickets"].instability_rounds == (5, 10, 15)
    for claim_id in ("warmup-helps-semistable", "weight-decay-hurts-semistable"):
        assert paper[claim_id].semistable_batch == 512
    assert paper["warmup-helps-semistable"].warmup_epochs == 10  # docs/paper.md: warm-up over the first 10 epochs
    assert paper["repellence-removes-tickets"].repel == 2.0 and paper["repellence-removes-tickets"].stable_batch == 2048
    assert paper["attraction-rescues-unstable"].repel == -1.0 and paper["attraction-rescues-unstable"].unstable_batch == 128


def test_weight_decay_claim_compares_table_1_decay_against_none():
    setup = setup_for("weight-decay-hurts-semistable", "paper")
    plain = setup.specs("imp", batch_size=512)[0]
    decayed = setup.specs("imp", batch_size=512, weight_decay=setup.weight_decay)[0]
    assert plain.train.weight_decay == 0.0
    assert decayed.train.weight_decay == preset("resnet20-cifar10").train.weight_decay == 1e-5
    assert plain.train.warmup_epochs == 0  # "batch 512, no warm-up"


def specs_of(claim_id, setup):
    return [s for arm in CLAIMS[claim_id].arms(setup).values() for s in arm]


@pytest.mark.parametrize("scale", SCALES)
def test_a_claims_arms_hold_every_experiment_it_varies(scale):
    for claim_id, setup in SETUPS[scale].items():
        if setup.not_run:
            continue
        specs = specs_of(claim_id, setup)
        assert len(specs) == len(set(specs)), claim_id
        if any(arm.role == "copies" for arm in CLAIMS[claim_id].compares(setup)):
            # the subnetworks' rounds, and the dense round as context
            assert {s.copy_round for s in specs if s.copy_round is not None} == {0, *setup.instability_rounds}
        if setup.warmup_epochs:
            assert any(s.train.warmup_epochs == setup.warmup_epochs for s in specs)
        if setup.weight_decay:
            assert any(s.train.weight_decay == setup.weight_decay for s in specs)
        if setup.previous_only:
            assert any(s.repel_previous_only and s.repel_lambda == setup.repel for s in specs)


def test_unknown_scale_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        setup_for("random-reinit-fails", "huge")


def test_small_scale_is_one_fashion_mnist_sweep_with_the_papers_roles():
    """Small scale: claims 1–10 share one Fashion-MNIST SGD sweep (lr 0.1, momentum 0.9 as Table 1's
    ResNet-20) where batch 128 is the unstable arm, 256 the semistable and 512 the stable one (its probe)."""
    small = SETUPS["small"]
    sweep = {c: s for c, s in small.items() if c != "random-reinit-fails"}
    assert {s.preset for s in sweep.values()} == {"lenet-fashion-mnist-sgd"}
    train = preset("lenet-fashion-mnist-sgd").train
    assert (train.dataset, train.optimizer, train.lr, train.momentum) == ("fashion-mnist", "sgd", 0.1, 0.9)
    assert all(s.stable_batch == 512 and s.seeds == 5 and s.rounds == 12 for s in sweep.values())
    for claim_id in ("stable-training-finds-tickets", "attraction-rescues-unstable", "tickets-retrain-to-similar-regions"):
        assert small[claim_id].unstable_batch == 128
    for claim_id in ("warmup-helps-semistable", "weight-decay-hurts-semistable", "weights-grow-away-from-zero"):
        assert small[claim_id].semistable_batch == 256
    assert small["instability-predicts-tickets"].batch_sizes == (128, 256, 512)
    assert small["random-reinit-fails"].preset == "lenet-fashion-mnist"


def test_medium_scale_is_one_bn_resnet_sweep_on_reduced_fashion_mnist():
    """Medium scale: every claim on one sweep of Table 1's ResNet-20 (batch norm, SGD at lr 0.1, momentum 0.9) at
    width 8 on 8,192 Fashion-MNIST images at 14×14, 16 rounds, 5 seeds; the batch roles from its probe; claim 5
    with a rewinding arm at the unstable batch."""
    medium = SETUPS["medium"]
    assert set(medium) == set(CLAIMS) and not any(s.known_refuted for s in medium.values())
    assert [c for c, s in medium.items() if s.not_run] == ["stability-is-batch-not-steps"]  # ours: at long
    assert {s.preset for s in medium.values()} == {"resnet20-fashion-mnist-sgd"}
    train = preset("resnet20-fashion-mnist-sgd").train
    assert (train.dataset, train.model, train.model_kwargs, train.optimizer, train.lr, train.momentum,
            train.weight_decay) == ("fashion-mnist-8k-14px", "resnet20", {"width": 8}, "sgd", 0.1, 0.9, 0.0)
    assert all(s.rounds == 16 and s.seeds == 5 and s.low_density == 0.07 and not s.overrides
               for s in medium.values())
    assert medium["stable-training-finds-tickets"].instability_rounds == (5, 10, 15)  # the paper's rounds
    attraction = medium["attraction-rescues-unstable"]
    rewound = CLAIMS["attraction-rescues-unstable"].arms(attraction)[
        Arm("imp", attraction.unstable_batch, rewind_step=attraction.rewind_step)]
    assert attraction.rewind_step > 0 and {(s.prune.reset, s.prune.rewind_step, s.train.batch_size) for s in rewound} \
        == {("rewind", attraction.rewind_step, attraction.unstable_batch)}


def test_a_scale_without_a_rewinding_arm_asks_for_none():
    for scale in ("smoke", "small", "paper"):
        setup = SETUPS[scale]["attraction-rescues-unstable"]
        assert setup.rewind_step == 0
        assert all(s.prune.reset == "init" for arm in CLAIMS["attraction-rescues-unstable"].arms(setup).values()
                   for s in arm)


def test_every_part_of_a_claim_has_a_rule_a_positive_margin_and_a_unit():
    for claim in CLAIMS.values():
        assert claim.parts and all(p.margin > 0 and p.unit for p in claim.parts), claim.id
    with pytest.raises(ValueError, match="positive margin"):
        Part("superiority", 0.0, "points")
    with pytest.raises(ValueError, match="rule"):
        Part("bigger", 1.0, "points")


@pytest.mark.parametrize("scale", SCALES)
def test_known_refuted_records_state_mechanisms_not_numbers(scale):
    """Numbers come from the report; a record that quotes them goes stale silently when a run changes."""
    for claim_id, setup in SETUPS[scale].items():
        assert not re.search(r"\d\.\d|%|\[", setup.known_refuted), (claim_id, setup.known_refuted)


@pytest.mark.parametrize("scale", sorted(PROBES))
def test_every_stand_in_is_what_its_scales_probe_found(scale):
    """A setup on a probed training uses, for each regime-named batch field, a batch size its probe classified so;
    every batch of a sweep trains. A setup no probe covers is not held to one (it says so in `differs`)."""
    for claim_id, setup in SETUPS[scale].items():
        probes = [p for p in PROBES[scale] if p.covers(setup.preset, setup.overrides)]
        if setup.not_run or not probes:
            continue
        found = dict(probes[0].found)
        for batch, regime in ((setup.unstable_batch, UNSTABLE), (setup.semistable_batch, SEMISTABLE),
                              (setup.stable_batch, STABLE)):
            if batch:
                assert found[batch] == regime, (claim_id, batch, regime)
        assert all(found[b] != FAILS for b in setup.batch_sizes), (claim_id, setup.batch_sizes)


def test_an_arms_label_is_derived_from_its_key():
    assert Arm("imp", 16).label == "IMP batch 16" and str(Arm("reinit")) == "reinit"
    assert Arm("copies", 256).label == "second trainings of IMP batch 256"
    assert Arm("imp", 256, repel=2.0).label == "IMP batch 256, repelled (λ=2)"
    assert Arm("imp", 16, repel=-1.0).label == "IMP batch 16, attracted (λ=-1)"
    assert Arm("imp", 256, repel=2.0, previous_only=True).label == "IMP batch 256, repelling the previous optimum (λ=2)"
    assert Arm("imp", 32, warmup_epochs=1, weight_decay=5e-4, rewind_step=52).label == \
        "IMP batch 32, 1-epoch warm-up, weight decay 0.0005, rewound to step 52"
    with pytest.raises(ValueError, match="an arm's role is imp, reinit or copies"):
        Arm("ticket", 16)


@pytest.mark.parametrize("scale", SCALES)
def test_every_claims_arms_are_distinct_keys_with_distinct_labels(scale):
    for claim_id, setup in SETUPS[scale].items():
        if setup.not_run:
            continue
        arms = CLAIMS[claim_id].arms(setup)
        labels = [a.label for a in arms]
        assert len(set(labels)) == len(labels) == len(arms), (scale, claim_id, labels)


def test_a_scale_is_found_by_its_module_alone(tmp_path, monkeypatch):
    """Adding a scale is adding its module to replication/registry/: the package lists it, ordered by its record."""
    import importlib
    import shutil
    import sys

    import replication.registry as original

    package = tmp_path / "replication_copy" / "registry"
    shutil.copytree(Path(original.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "tiny.py").write_text(
        "from .claims import CLAIMS\nfrom .experiments import Scale, Setup\n"
        "SETUPS = {c: Setup('lenet-digits', seeds=2, rounds=1, not_run='a test scale') for c in CLAIMS}\n"
        "SCALE = Scale('tiny', 'tiny scale: a test', SETUPS, order=35)\n")
    (package.parent / "__init__.py").write_text("")
    for name in ("presets", "spec", "cost"):  # what the registry imports from its parent package
        shutil.copy(Path(original.__file__).parents[1] / f"{name}.py", package.parent / f"{name}.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    copy = importlib.import_module("replication_copy.registry")
    try:
        assert copy.SCALES == ("smoke", "smoke-resnet", "small", "tiny", "medium", "long", "long-gpu", "paper")
        assert set(copy.SETUPS["tiny"]) == set(copy.CLAIMS)
    finally:
        for name in [m for m in sys.modules if m.startswith("replication_copy")]:
            del sys.modules[name]


def test_the_long_scale_builds_its_setups_from_the_pick_within_its_budget():
    from replication.instability_map import MAP
    from replication.registry import long

    assert SETUPS["long"] == long.within_budget(long.setups_on(**long.PICK))
    ran = [c for c in long.PRIORITY if not SETUPS["long"][c].not_run]
    runs = list(dict.fromkeys(s for c in ran for s in CLAIMS[c].specs(SETUPS["long"][c])))
    assert ran and long.estimate_seconds(runs) <= long.BUDGET_SECONDS
    cell = next(c for c in MAP if (c.batch, c.epochs, c.schedule, c.augment) == (16, 16, "step", False))
    setups = long.setups_on(cell.overrides(), unstable_batch=16, stable_batch=256, seeds=3)
    ran = {c for c, s in setups.items() if not s.not_run}
    assert ran == {"stable-training-finds-tickets", "instability-predicts-tickets", "tickets-retrain-to-similar-regions",
                   "random-reinit-fails", "stability-is-batch-not-steps"}
    assert set(setups) == set(CLAIMS)
    ours = setups["stability-is-batch-not-steps"]
    assert ours.equal_steps_epochs() == 64  # batch 64 for batch 16's 16 epochs of steps
    specs = CLAIMS["stability-is-batch-not-steps"].specs(ours)
    # the equal-steps arm decays its learning rate at the same optimizer steps as batch 16 (4 × its epochs)
    assert {(s.train.batch_size, s.train.epochs, s.train.milestones) for s in specs} == {
        (16, 16, (11, 13)), (64, 64, (44, 52))}


def test_the_long_scale_spends_its_budget_on_the_claims_in_priority_order():
    from replication.instability_map import Cell
    from replication.registry import long

    setups = long.setups_on(Cell(16, 8).overrides(), unstable_batch=16, stable_batch=256, seeds=3)
    estimate = {c: long.estimate_seconds(CLAIMS[c].specs(setups[c])) for c in long.PRIORITY}
    assert all(v > 0 for v in estimate.values())
    # a budget for claim 1 alone: claim 7 needs the full chain of batch 256's reinitializations, which claim 1
    # trains only at its low densities, so it does not join; claim 11 reads that chain too
    fitted = long.within_budget(setups, budget=estimate["stable-training-finds-tickets"] * 1.01)
    assert [c for c in long.PRIORITY if not fitted[c].not_run] == ["stable-training-finds-tickets"]
    # a budget for claims 1 and 7 together: claim 11 reads runs they share, so it joins at no cost; 3 and 12 do not
    first = [s for c in long.PRIORITY[:2] for s in CLAIMS[c].specs(setups[c])]
    fitted = long.within_budget(setups, budget=long.estimate_seconds(list(dict.fromkeys(first))) * 1.01)
    ran = [c for c in long.PRIORITY if not fitted[c].not_run]
    assert ran == ["stable-training-finds-tickets", "tickets-retrain-to-similar-regions", "random-reinit-fails"]
    assert "over its" in fitted["instability-predicts-tickets"].not_run
    # too small for claim 1: it is left out, and a later claim that fits alone still joins
    fitted = long.within_budget(setups, budget=estimate["random-reinit-fails"] * 1.01)
    assert fitted["stable-training-finds-tickets"].not_run and not fitted["random-reinit-fails"].not_run
    # the not-run claims keep what they were not run for
    assert fitted["warmup-helps-semistable"].not_run == setups["warmup-helps-semistable"].not_run


def test_the_long_scales_gpu_variant_runs_what_the_cpu_budget_leaves_out(monkeypatch):
    from replication.instability_map import Cell
    from replication.registry import RECORDS, long

    assert RECORDS["long-gpu"].needs_cuda and not RECORDS["long"].needs_cuda
    assert RECORDS["long-gpu"].pytest_marker == "long"
    pick = dict(overrides=Cell(16, 32).overrides(), unstable_batch=16, stable_batch=256, seeds=3)
    monkeypatch.setattr(long, "PICK", pick)
    gpu, cpu = long.map_setups(), long.within_budget(long.map_setups())
    assert not gpu["instability-predicts-tickets"].not_run and cpu["instability-predicts-tickets"].not_run
    assert {c for c, s in gpu.items() if not s.not_run} == set(long.PRIORITY)


def test_reinitializations_at_low_density_train_only_the_rounds_the_claims_read():
    """0.8^9 = 13.4% and 0.8^10 = 10.7% remaining: at or below 11% only round 10 of 10; at or below 5% of 25
    rounds, 0.8^13 = 5.5% is above and 0.8^14 = 4.4% below, so rounds 14–25. IMP, its second trainings and a
    repelled reinitialization still train every round; the setting is off by default."""
    setup = Setup("resnet20-fashion-mnist-sgd", seeds=2, rounds=10, low_density=0.11, reinit_at_low_density=True)
    assert setup.low_density_rounds() == (10,)
    assert dataclasses.replace(setup, rounds=25, low_density=0.05).low_density_rounds() == tuple(range(14, 26))
    reinit, imp = setup.runs_of(Arm("reinit", 16)), setup.runs_of(Arm("imp", 16))
    assert [s.trained_rounds for s in reinit] == [(10,), (10,)] and [s.source() for s in reinit] == imp
    assert all(s.trained_rounds is None for s in imp + setup.runs_of(Arm("copies", 16))
               + setup.runs_of(Arm("reinit", 16, repel=2.0)))
    off = dataclasses.replace(setup, reinit_at_low_density=False)
    assert all(s.trained_rounds is None for s in off.runs_of(Arm("reinit", 16)))
    with pytest.raises(ValueError, match="within 0.1%"):
        dataclasses.replace(setup, low_density=0.8 ** 10).low_density_rounds()
    with pytest.raises(ValueError, match="add rounds"):
        dataclasses.replace(setup, low_density=0.01).low_density_rounds()
