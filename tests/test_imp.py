"""IMP and its controls through the run store: reset, reinit, random pruning, reuse, resume, corruption."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch

import replication.engine.imp as imp_module
from replication import masks as M
from replication.engine.imp import n_rounds, run_experiment, run_experiments
from replication.spec import PruneSpec, derive_seed
from replication.store import MARKER, ROUND_FILES, RunStore, StoreError, load_run

from conftest import tiny_model, tiny_spec

ROUNDS = 3


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


CONTROLS = ("imp", "reinit", "random-prune")


@pytest.fixture(scope="module", params=["one-by-one", "together"])
def arms(request, digits, tmp_path_factory):
    """One IMP run and its two controls, computed once into a shared store: IMP first and then each
    control on its own, or all three in one call (where they advance round by round as a group)."""
    store = RunStore(tmp_path_factory.mktemp("store"))
    spec = tiny_spec(rounds=ROUNDS, init_seed=7, noise_seed=11)
    specs = [spec.with_(control=c) for c in CONTROLS]
    if request.param == "one-by-one":
        return {s.control: run_experiment(s, store, data=digits) for s in specs}
    return dict(zip(CONTROLS, run_experiments(specs, store, data=digits)))


# -- IMP itself ---------------------------------------------------------------------

def test_imp_run_has_every_round_and_metric(arms):
    run = arms["imp"]
    assert run.complete and len(run.rounds) == n_rounds(run.spec) == ROUNDS + 1
    for r in run.rounds:
        for key in ("density", "threshold", "train_acc", "test_acc", "train_loss", "test_loss", "alive",
                    "layer_density", "steps", "diverged", "noise_seed"):
            assert key in r.metrics, key
        assert r.metrics["round"] == r.index and r.metrics["diverged"] is False
        assert 0.0 <= r.metrics["train_acc"] <= 1.0 and 0.0 <= r.metrics["test_acc"] <= 1.0
    assert run.rounds[0].metrics["test_acc"] > 0.5  # one epoch of the tiny LeNet learns digits


def test_imp_density_follows_integer_rule(arms):
    run = arms["imp"]
    total = M.size(run.rounds[0].mask)
    for r in run.rounds:
        assert r.metrics["alive"] == M.alive(r.mask) == M.expected_alive(total, 0.2, r.index)
        assert r.metrics["density"] == pytest.approx(M.alive(r.mask) / total)


def test_imp_reset_restores_init_under_mask(arms):
    run = arms["imp"]
    assert same(run.rounds[0].start, run.init)
    assert M.density(run.rounds[0].mask) == 1.0
    for r in run.rounds[1:]:
        for name, w in run.init.items():
            want = w * r.mask[name] if name in r.mask else w
            assert torch.equal(r.start[name], want), (r.index, name)


def test_imp_masks_nest_and_prune_last_trained_weights(arms):
    run = arms["imp"]
    assert run.rounds[0].metrics["threshold"] == 0.0
    for prev, cur in zip(run.rounds, run.rounds[1:]):
        want = M.prune_global({n: prev.trained[n] for n in prev.mask}, prev.mask, 0.2)
        assert same(cur.mask, want.mask)
        assert cur.metrics["threshold"] == want.threshold > 0
        for n, m in cur.mask.items():
            assert bool((m <= prev.mask[n]).all())
            survivors = prev.trained[n].abs()[m > 0]
            assert bool((survivors >= cur.metrics["threshold"]).all())
        for n, m in cur.mask.items():  # trained weights keep the mask
            assert bool((cur.trained[n][m == 0] == 0).all())


# -- controls -------------------------------------------------------------------------

def test_reinit_uses_parent_masks_with_a_fresh_start(arms):
    imp, reinit = arms["imp"], arms["reinit"]
    assert reinit.spec.imp_parent() == imp.spec
    assert len(reinit.rounds) == len(imp.rounds)
    starts = []
    for a, b in zip(imp.rounds, reinit.rounds):
        assert same(a.mask, b.mask)
        assert b.metrics["threshold"] == a.metrics["threshold"]
        assert b.metrics["noise_seed"] == a.metrics["noise_seed"]  # arms stay paired on SGD noise
        for n, m in b.mask.items():
            assert not torch.equal(b.start[n], a.start[n])
            assert bool((b.start[n][m == 0] == 0).all())
        fresh = tiny_model(seed=derive_seed(reinit.spec.init_seed, "reinit", b.index)).state_dict()
        assert same(b.start, M.masked(fresh, b.mask))
        starts.append(b.start)
    assert not same(starts[1], starts[2])  # a new initialization every round


def test_random_prune_keeps_layer_densities_of_imp_mask(arms):
    imp, rnd = arms["imp"], arms["random-prune"]
    assert same(imp.init, rnd.init)
    for a, b in zip(imp.rounds, rnd.rounds):
        for n in a.mask:
            assert int(b.mask[n].sum()) == int(a.mask[n].sum())
        assert b.metrics["layer_density"] == pytest.approx(a.metrics["layer_density"])
        assert same(b.start, M.masked(rnd.init, b.mask))
        if b.index > 0:
            assert not same(a.mask, b.mask)  # random places, not the magnitude mask
    assert rnd.rounds[-1].metrics["density"] == pytest.approx(imp.rounds[-1].metrics["density"])


def test_oneshot_prunes_from_dense_to_target(digits, tmp_path):
    spec = tiny_spec().with_(prune=PruneSpec(fraction=0.7, rounds=1, strategy="oneshot"))
    run = run_experiment(spec, RunStore(tmp_path), data=digits)
    total = M.size(run.rounds[0].mask)
    assert M.alive(run.rounds[1].mask) == round(0.3 * total)
    dense = run.rounds[0]
    want = M.prune_to_density({n: dense.trained[n] for n in dense.mask}, 0.3)
    assert same(run.rounds[1].mask, want.mask)


# -- the run store ------------------------------------------------------------------------

def test_finished_spec_is_loaded_not_retrained(digits, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=1, control="reinit")
    first = run_experiment(spec, store, data=digits)

    calls = _counting_train(monkeypatch)
    again = run_experiment(spec, store, data=digits)
    assert calls == [], "a finished run was trained again"
    assert again.path == first.path and again.complete
    for a, b in zip(first.rounds, again.rounds):
        assert same(a.trained, b.trained) and same(a.mask, b.mask)
    # loading also needs no data: a finished run never touches the dataset
    assert len(run_experiment(spec, store, data=None).rounds) == 2


def _snapshot(run):
    return [(same_copy(r.mask), same_copy(r.start), same_copy(r.trained),
             {k: v for k, v in r.metrics.items() if k != "seconds"}) for r in run.rounds]


def same_copy(tensors):
    return {k: v.clone() for k, v in tensors.items()}


def _assert_same_rounds(snapshot, run):
    assert len(run.rounds) == len(snapshot)
    for (mask, start, trained, metrics), r in zip(snapshot, run.rounds):
        assert same(mask, r.mask) and same(start, r.start) and same(trained, r.trained)
        assert metrics == {k: v for k, v in r.metrics.items() if k != "seconds"}


def _counting_train(monkeypatch):
    """Record every network the IMP driver trains, one at a time or stacked as a population."""
    calls = []
    real_single = imp_module.train

    def single(*args, **kwargs):
        calls.append("single")
        return real_single(*args, **kwargs)

    monkeypatch.setattr(imp_module, "train", single)
    if hasattr(imp_module, "train_population"):
        real_population = imp_module.train_population

        def population(members, *args, **kwargs):
            calls.extend(["stacked"] * len(members))
            return real_population(members, *args, **kwargs)

        monkeypatch.setattr(imp_module, "train_population", population)
    return calls


def test_interrupted_run_resumes_bit_for_bit(digits, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=ROUNDS, init_seed=2, noise_seed=5)
    original = _snapshot(run_experiment(spec, store, data=digits))
    folder = store.path(spec)
    shutil.rmtree(folder / f"round_{ROUNDS:03d}")
    (folder / MARKER).unlink()
    partial = load_run(folder)
    assert not partial.complete and len(partial.rounds) == ROUNDS
    calls = _counting_train(monkeypatch)
    resumed = run_experiment(spec, store, data=digits)
    assert len(calls) == 1  # only the missing round was trained
    assert resumed.complete
    _assert_same_rounds(original, resumed)


def test_round_without_marker_is_not_done(digits, tmp_path, monkeypatch):
    """A crash between writing a round's files and its marker leaves a round that is redone."""
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=2)
    original = _snapshot(run_experiment(spec, store, data=digits))
    folder = store.path(spec)
    (folder / "round_001" / MARKER).unlink()
    (folder / MARKER).unlink()
    assert len(load_run(folder).rounds) == 1  # reading stops at the first unfinished round
    calls = _counting_train(monkeypatch)
    resumed = run_experiment(spec, store, data=digits)
    assert len(calls) == 1  # round 1 redone; round 2 was intact and is reused
    _assert_same_rounds(original, resumed)


def _flip_byte(path):
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    path.write_bytes(bytes(payload))


def test_corrupted_round_of_unfinished_run_is_detected_and_recomputed(digits, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=2, init_seed=4)
    original = _snapshot(run_experiment(spec, store, data=digits))
    folder = store.path(spec)
    _flip_byte(folder / "round_001" / "trained.pt")
    (folder / MARKER).unlink()
    calls = _counting_train(monkeypatch)
    with pytest.warns(UserWarning, match="checksum"):
        again = run_experiment(spec, store, data=digits)
    assert len(calls) == 1
    _assert_same_rounds(original, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the repaired store reads back cleanly
        _assert_same_rounds(original, load_run(folder))


def test_corrupted_round_of_finished_run_is_detected_and_recomputed(digits, tmp_path, monkeypatch):
    """A finished run whose round file was damaged on disk must not come back silently shortened."""
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=2, init_seed=4)
    original = _snapshot(run_experiment(spec, store, data=digits))
    _flip_byte(store.path(spec) / "round_001" / "trained.pt")
    with pytest.warns(UserWarning, match="checksum"):
        again = run_experiment(spec, store, data=digits)
    assert len(again.rounds) == len(original), (
        "run_experiment returned a finished run shortened at the corrupted round instead of recomputing it")
    _assert_same_rounds(original, again)


def test_corrupted_init_is_not_returned_silently(digits, tmp_path):
    """init.pt feeds the analyses (distance to initialization); damage to it must be noticed like
    damage to a round file: an error or a warning, never different weights passed off as the init."""
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=0, init_seed=9)
    init = same_copy(run_experiment(spec, store, data=digits).init)
    _flip_byte(store.path(spec) / "init.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run = load_run(store.path(spec))
        except StoreError:
            return
    assert caught or same(run.init, init), "a corrupted init.pt was loaded without any warning"


def test_load_run_returns_every_round(arms):
    run = load_run(arms["imp"].path)
    assert run.spec == arms["imp"].spec and run.complete
    assert len(run.rounds) == ROUNDS + 1
    keys = set(run.init)
    prunable = M.prunable_names(tiny_model())
    for r in run.rounds:
        assert list(r.mask) == prunable
        assert set(r.start) == set(r.trained) == keys
        assert {"density", "threshold", "train_acc", "test_acc"} <= set(r.metrics)
    assert run.metric("density") == [r.metrics["density"] for r in run.rounds]
    marker = json.loads((run.path / MARKER).read_text())
    assert marker == {"rounds": ROUNDS + 1, "hash": run.spec.hash()}
    sums = json.loads((run.path / "round_000" / MARKER).read_text())
    assert set(sums) == set(ROUND_FILES)
    assert json.loads((run.path / "spec.json").read_text()) == json.loads(json.dumps(run.spec.to_dict()))


def test_load_run_on_a_non_run_folder_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="spec.json"):
        load_run(tmp_path)


# -- results must not depend on what else was computed in the same call --------------------

def test_result_does_not_depend_on_what_is_computed_alongside(digits, tmp_path):
    """The store names a result by its spec alone, so computing IMP together with its control
    must give the same bits as computing it on its own."""
    spec = tiny_spec(rounds=1, init_seed=6)
    alone = run_experiment(spec, RunStore(tmp_path / "alone"), data=digits)
    together = run_experiments([spec, spec.with_(control="reinit")], RunStore(tmp_path / "together"), data=digits)
    _assert_same_rounds(_snapshot(alone), together[0])


def test_group_interrupted_between_members_resumes_bit_for_bit(digits, tmp_path):
    """A crash after IMP's last round was saved but before its control's: the control resumes alone."""
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=1, init_seed=8)
    specs = [spec, spec.with_(control="reinit")]
    original = [_snapshot(run) for run in run_experiments(specs, store, data=digits)]
    folder = store.path(specs[1])
    shutil.rmtree(folder / "round_001")
    (folder / MARKER).unlink()
    resumed = run_experiments(specs, store, data=digits)
    _assert_same_rounds(original[0], resumed[0])
    _assert_same_rounds(original[1], resumed[1])


def _truncate(path):
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


@pytest.mark.parametrize("damage", [_flip_byte, _truncate], ids=["altered", "truncated"])
@pytest.mark.parametrize("name", ["trained.pt", "start.pt", "mask.pt", "metrics.json", MARKER])
def test_any_damaged_round_file_is_recomputed_never_loaded(digits, tmp_path, monkeypatch, name, damage):
    """Every file of a finished round (weights, mask, metrics, its marker), altered or truncated on disk:
    the round is recomputed with a warning, and the run reads back identical."""
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=2, init_seed=6)
    original = _snapshot(run_experiment(spec, store, data=digits))
    damage(store.path(spec) / "round_001" / name)
    calls = _counting_train(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = run_experiment(spec, store, data=digits)
    assert calls, "the damaged round was loaded instead of recomputed"
    assert any("recomputed" in str(w.message) for w in caught), "the damage went unreported"
    _assert_same_rounds(original, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the repaired store reads back cleanly
        _assert_same_rounds(original, load_run(store.path(spec)))


# -- a control trained only at the rounds its claims read ------------------------------------------------

def test_a_control_trained_at_some_rounds_has_the_full_controls_bits_there(arms, digits, tmp_path, monkeypatch):
    """Each round of a reinitialization is a fresh draw from its own seeds: trained alone, round ROUNDS (and
    round 1) come out bit for bit as in the full chain, and nothing else is trained."""
    full = arms["reinit"]
    calls = _counting_train(monkeypatch)
    sparse = run_experiment(full.spec.with_(trained_rounds=(1, ROUNDS)), RunStore(tmp_path), data=digits)
    assert [r.index for r in sparse.rounds] == [1, ROUNDS] and sparse.complete
    assert len(calls) == ROUNDS + 1 + 2  # its IMP run's rounds, and its own two
    for index in (1, ROUNDS):
        mine, theirs = sparse.at(index), full.at(index)
        assert same(mine.mask, theirs.mask) and same(mine.start, theirs.start) and same(mine.trained, theirs.trained)
        assert {k: v for k, v in mine.metrics.items() if k != "seconds"} == \
            {k: v for k, v in theirs.metrics.items() if k != "seconds"}
    assert sparse.at(0) is None and full.at(0) is full.rounds[0]


def test_a_control_trained_at_some_rounds_is_stored_and_resumed_by_its_rounds(digits, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=ROUNDS, init_seed=4, noise_seed=3).with_(control="reinit", trained_rounds=(2, ROUNDS))
    original = _snapshot(run_experiment(spec, store, data=digits))
    folder = store.path(spec)
    assert sorted(p.name for p in folder.glob("round_*")) == ["round_002", f"round_{ROUNDS:03d}"]
    shutil.rmtree(folder / f"round_{ROUNDS:03d}")
    (folder / MARKER).unlink()
    partial = load_run(folder)
    assert not partial.complete and [r.index for r in partial.rounds] == [2]
    calls = _counting_train(monkeypatch)
    resumed = run_experiment(spec, store, data=digits)
    assert len(calls) == 1 and resumed.complete  # its IMP run is stored: only the missing round trains
    _assert_same_rounds(original, resumed)
    assert store.load_complete(spec) is not None


@pytest.mark.parametrize("changes, why", [
    (dict(control="imp"), "for a control"),
    (dict(control="reinit", repel_lambda=2.0), "for a control"),
    (dict(control="reinit", copy_round=1), "for a control"),
    (dict(control="reinit", trained_rounds=()), "increasing round indices"),
    (dict(control="reinit", trained_rounds=(2, 1)), "increasing round indices"),
    (dict(control="reinit", trained_rounds=(ROUNDS + 1,)), "increasing round indices"),
])
def test_trained_rounds_is_refused_where_it_would_not_be_the_full_runs_rounds(changes, why):
    from replication.spec import SpecError

    changes = {"trained_rounds": (1,), **changes}
    with pytest.raises(SpecError, match=why):
        tiny_spec(rounds=ROUNDS).with_(**changes)


def test_trained_rounds_leaves_every_other_runs_hash_alone():
    spec = tiny_spec(rounds=ROUNDS).with_(control="reinit")
    assert "trained_rounds" not in spec.to_dict()
    sparse = spec.with_(trained_rounds=(ROUNDS,))
    assert sparse.hash() != spec.hash() and sparse.source() == spec.imp_parent()
    assert type(sparse).from_dict(json.loads(json.dumps(sparse.to_dict()))) == sparse
    assert sparse.stored_rounds == (ROUNDS,) and sparse.n_rounds == 1
