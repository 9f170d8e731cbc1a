"""Second trainings are ordinary runs, and the instability measure only reads them."""

from __future__ import annotations

import ast
import inspect
import math
import shutil

import pytest
import torch

import replication.stability as stability
from replication.engine.imp import copy_noise_seed, n_rounds, run_experiments
from replication.engine.stacked_mlp import Member, train_population
from replication.spec import SpecError
from replication.store import RunStore

from conftest import tiny_spec


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def family(digits, tmp_path_factory):
    """An IMP run, its reinitialization, and second trainings of IMP's rounds 0 and 2, asked for at once."""
    store = RunStore(tmp_path_factory.mktemp("store"))
    spec = tiny_spec(rounds=2, init_seed=3, noise_seed=5)
    specs = [spec, spec.with_(control="reinit"), spec.copy_of(0), spec.copy_of(2)]
    return store, dict(zip(("imp", "reinit", "copy0", "copy2"), run_experiments(specs, store, data=digits)))


def test_a_copy_is_its_rounds_start_and_mask_trained_with_noise_of_its_own(family, digits):
    _, runs = family
    imp = runs["imp"]
    for name, index in (("copy0", 0), ("copy2", 2)):
        copy = runs[name]
        assert copy.complete and n_rounds(copy.spec) == len(copy.rounds) == 1
        record, source = copy.rounds[0], imp.rounds[index]
        assert same(record.start, source.start) and same(record.mask, source.mask)
        assert record.metrics["source_round"] == index
        assert record.metrics["noise_seed"] == copy_noise_seed(imp.spec, index) != source.metrics["noise_seed"]
        (alone,), _ = train_population([Member(source.start, source.mask, copy_noise_seed(imp.spec, index))],
                                       digits, imp.spec.train)
        assert same(record.trained, alone)
        assert not same(record.trained, source.trained)


def test_asking_for_a_copy_alone_computes_its_run_first_with_the_same_bits(family, digits, tmp_path):
    _, runs = family
    spec = runs["imp"].spec
    store = RunStore(tmp_path)
    (copy,) = run_experiments([spec.copy_of(2)], store, data=digits)
    assert store.is_complete(spec)
    assert same(copy.rounds[0].trained, runs["copy2"].rounds[0].trained)
    assert all(same(a.trained, b.trained) for a, b in zip(store.load(spec).rounds, runs["imp"].rounds))


def test_a_copy_of_a_stored_run_does_not_retrain_the_run(family, digits, monkeypatch):
    store, runs = family
    spec = runs["imp"].spec
    import replication.engine.imp as imp_module

    trained = []
    real = imp_module._train_round
    monkeypatch.setattr(imp_module, "_train_round",
                        lambda flights, *a, **k: trained.extend(f.spec for f in flights) or real(flights, *a, **k))
    (copy,) = run_experiments([spec.copy_of(1)], store, data=digits)
    assert trained == [spec.copy_of(1)]
    assert same(copy.rounds[0].start, runs["imp"].rounds[1].start)


def test_copies_are_named_apart_and_leave_other_hashes_alone():
    spec = tiny_spec(rounds=2)
    assert spec.copy_of(1).hash() not in (spec.hash(), spec.copy_of(0).hash())
    assert "copy_round" not in spec.to_dict() and spec.copy_of(1).to_dict()["copy_round"] == 1
    assert spec.copy_of(1).source() == spec and spec.copy_of(1).imp_parent() == spec
    with pytest.raises(SpecError, match="copy_round"):
        spec.copy_of(3)


def test_instability_reads_the_copies(family, digits):
    _, runs = family
    lii = stability.round_instability([runs["imp"]], [runs["copy2"]], digits)
    assert len(lii) == 1 and math.isfinite(lii[0]) and lii[0] >= -100
    with pytest.raises(ValueError, match="not a second training"):
        stability.round_instability([runs["reinit"]], [runs["copy2"]], digits)


def test_a_round_the_run_never_reached_has_no_instability(family, digits):
    _, runs = family
    imp = runs["imp"]
    short = type(imp)(imp.spec, imp.path, imp.init, imp.rounds[:2], complete=True)
    assert math.isnan(stability.round_instability([short], [runs["copy2"]], digits)[0])


def test_a_measure_is_taken_once_and_read_back_from_the_store(family, digits, monkeypatch, tmp_path):
    """A report rebuilt from the same runs reads its landscape measures back, bit for bit, instead of measuring
    again; another MEASURES_VERSION or device, or a damaged file, measures again."""
    import replication.lab as lab
    from replication.lab import Session

    shared, runs = family
    store = RunStore(tmp_path / "store")  # the family's runs, in a store of this test's own
    shutil.copytree(shared.root, store.root)
    ask = lambda **kw: Session(store, datasets={"digits": digits}, **kw).lab("smoke")  # noqa: E731  a new session
    first = ask().instability([runs["imp"]], [runs["copy2"]]), ask().barriers([runs["imp"]])
    stored = sorted((store.root / "measures").glob("*.json"))
    assert len(stored) == 2
    calls = []
    monkeypatch.setattr(lab, "round_instability", lambda *a, **k: calls.append("lii") or [1.5])
    monkeypatch.setattr(lab, "successive_barriers", lambda *a, **k: calls.append("barriers") or [2.5, 3.5])
    again = ask().instability([runs["imp"]], [runs["copy2"]]), ask().barriers([runs["imp"]])
    assert not calls and again[0][2].tolist() == first[0][2].tolist() and again[1].tolist() == first[1].tolist()
    assert ask(device="cuda").barriers([runs["imp"]]).tolist() == [[2.5, 3.5]] and calls == ["barriers"]
    monkeypatch.setattr(lab, "MEASURES_VERSION", lab.MEASURES_VERSION + 1)
    assert ask().barriers([runs["imp"]]).tolist() == [[2.5, 3.5]] and calls == ["barriers"] * 2
    monkeypatch.undo()
    for path in stored:
        path.write_text("{not json")
    assert ask().barriers([runs["imp"]]).tolist() == first[1].tolist()  # measured again, the same numbers


def test_stability_imports_nothing_that_trains():
    tree = ast.parse(inspect.getsource(stability))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"training", "population", "imp", "executors", "lab"}, imported
