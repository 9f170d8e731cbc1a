"""Specs: a content hash that is stable and sensitive, a lossless dict round-trip, validation at construction."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings, strategies as st

import replication
from replication.presets import PRESETS, preset
from replication.spec import (CONTROLS, INITS, OPTIMIZERS, SCHEDULES, ExperimentSpec, PruneSpec, SpecError,
                              TrainSpec, derive_seed)

FAST = settings(max_examples=40, deadline=None)
BASE = preset("lenet-digits")


# -- hash stability -------------------------------------------------------------------

def test_hash_is_stable_across_processes_and_hash_seeds():
    # The hash needs only spec.py and presets.py: load them as a bare namespace package so each
    # subprocess skips the package __init__ (and its torch import, seconds per process).
    package_dir = os.path.dirname(replication.__file__)
    code = ("import sys, types; pkg = types.ModuleType('replication'); pkg.__path__ = [%r]; "
            "sys.modules['replication'] = pkg; "
            "from replication.presets import preset; print(preset('lenet-digits').hash())" % package_dir)
    procs = []
    for seed in ("1", "2023", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outputs.append(out.strip())
    assert outputs == [BASE.hash()] * 3


def test_hash_shape_and_determinism():
    h = BASE.hash()
    assert len(h) == 16 and all(c in "0123456789abcdef" for c in h)
    rebuilt = ExperimentSpec.from_dict(json.loads(json.dumps(BASE.to_dict())))
    assert rebuilt.hash() == h
    assert len({spec.hash() for spec in PRESETS.values()}) == len(PRESETS)


def test_derive_seed_is_deterministic_and_separates_parts():
    assert derive_seed(0, "round", 1) == derive_seed(0, "round", 1)
    assert derive_seed(0, "round", 1) != derive_seed(0, "round", 2)
    assert derive_seed(0, "reinit", 1) != derive_seed(0, "round", 1)
    assert 0 <= derive_seed("x") < 2**63


# -- hash sensitivity ------------------------------------------------------------------

def _train(**changes):
    return lambda spec: spec.with_(train=dataclasses.replace(spec.train, **changes))


def _prune(**changes):
    return lambda spec: spec.with_(prune=dataclasses.replace(spec.prune, **changes))


FIELD_CHANGES = st.one_of(
    st.floats(1e-6, 10.0).map(lambda v: ("lr", v, _train(lr=v))),
    st.integers(1, 4096).map(lambda v: ("batch_size", v, _train(batch_size=v))),
    st.integers(1, 500).map(lambda v: ("epochs", v, _train(epochs=v))),
    st.integers(0, 2**40).map(lambda v: ("init_seed", v, lambda s: s.with_(init_seed=v))),
    st.integers(0, 2**40).map(lambda v: ("noise_seed", v, lambda s: s.with_(noise_seed=v))),
    st.sampled_from(CONTROLS).map(lambda v: ("control", v, lambda s: s.with_(control=v))),
    st.floats(0.001, 0.999).map(lambda v: ("fraction", v, _prune(fraction=v))),
    st.integers(0, 200).map(lambda v: ("rounds", v, _prune(rounds=v))),
    st.floats(0.0, 0.99).map(lambda v: ("momentum", v, _train(momentum=v))),
    st.floats(0.0, 1.0).map(lambda v: ("weight_decay", v, _train(weight_decay=v))),
    st.booleans().map(lambda v: ("augment", v, _train(augment=v))),
    st.tuples(st.integers(1, 512), st.integers(1, 512)).map(
        lambda v: ("model_args", v, _train(model_args=(("widths", v),)))),
    st.floats(-3.0, 3.0).map(lambda v: v + 0.0).map(  # + 0.0 turns -0.0 into 0.0; see the test below
        lambda v: ("repel_lambda", v, lambda s: s.with_(repel_lambda=v))),
)


def _current(spec, field):
    for part in (spec, spec.train, spec.prune):
        if hasattr(part, field):
            return getattr(part, field)
    return dict(spec.train.model_args).get("widths")


@FAST
@given(change=FIELD_CHANGES)
def test_any_field_change_changes_the_hash(change):
    field, value, apply = change
    assume(_current(BASE, field) != value)
    changed = apply(BASE)
    assert changed != BASE
    assert changed.hash() != BASE.hash(), f"changing {field} to {value!r} kept the hash"


@FAST
@given(changes=st.lists(FIELD_CHANGES, min_size=1, max_size=4), more=st.lists(FIELD_CHANGES, min_size=1, max_size=4))
def test_equal_hash_iff_equal_spec(changes, more):
    a, b = BASE, BASE
    for _, _, apply in changes:
        a = apply(a)
    for _, _, apply in more:
        b = apply(b)
    assert (a == b) == (a.hash() == b.hash())


def test_equal_specs_have_equal_hashes():
    """Specs that compare equal name the same experiment, so they must share a run folder.
    Python's == treats 1 == 1.0 and -0.0 == 0.0, but the JSON behind the hash spells them apart."""
    int_lr = BASE.with_(train=dataclasses.replace(BASE.train, lr=1))
    float_lr = BASE.with_(train=dataclasses.replace(BASE.train, lr=1.0))
    assert int_lr == float_lr
    assert int_lr.hash() == float_lr.hash()
    negative_zero = BASE.with_(repel_lambda=-0.0)
    assert negative_zero == BASE
    assert negative_zero.hash() == BASE.hash()


# -- round trip --------------------------------------------------------------------------

@st.composite
def specs(draw):
    epochs = draw(st.integers(2, 100))
    schedule = draw(st.sampled_from(SCHEDULES))
    milestones = tuple(sorted(draw(st.sets(st.integers(1, epochs - 1), max_size=3)))) if schedule == "step" else ()
    widths = tuple(draw(st.lists(st.integers(1, 300), min_size=1, max_size=3)))
    model_args = draw(st.sampled_from([(), (("widths", widths),), (("widths", widths), ("depth", 20)),
                                       (("nested", ((1, 2), (3,))),), (("name", "x"), ("flag", True))]))
    train = TrainSpec(dataset=draw(st.sampled_from(["digits", "mnist", "cifar10"])),
                      model=draw(st.sampled_from(["lenet", "conv4", "resnet20"])),
                      epochs=epochs, batch_size=draw(st.integers(1, 2048)),
                      optimizer=draw(st.sampled_from(OPTIMIZERS)), lr=draw(st.floats(1e-6, 1.0)),
                      init=draw(st.sampled_from(INITS)), momentum=draw(st.floats(0.0, 0.99)),
                      schedule=schedule, milestones=milestones, gamma=draw(st.floats(0.01, 1.0)),
                      warmup_epochs=draw(st.integers(0, epochs)), weight_decay=draw(st.floats(0.0, 0.1)),
                      augment=draw(st.booleans()), model_args=model_args)
    strategy = draw(st.sampled_from(["iterative", "oneshot"]))
    prune = PruneSpec(fraction=draw(st.floats(0.01, 0.99)), rounds=draw(st.integers(0, 30)), strategy=strategy)
    return ExperimentSpec(train=train, prune=prune, control=draw(st.sampled_from(CONTROLS)),
                          init_seed=draw(st.integers(0, 2**40)), noise_seed=draw(st.integers(0, 2**40)),
                          repel_lambda=draw(st.sampled_from([0.0, 2.0, -1.0])),
                          repel_previous_only=draw(st.booleans()))


@FAST
@given(spec=specs())
def test_dict_round_trip_through_json_is_lossless(spec):
    text = json.dumps(spec.to_dict())
    back = ExperimentSpec.from_dict(json.loads(text))
    assert back == spec
    assert back.hash() == spec.hash()
    assert isinstance(back.train.model_args, tuple)
    assert all(isinstance(item, tuple) for item in back.train.model_args)
    assert isinstance(back.train.milestones, tuple)
    # and without passing through JSON
    assert ExperimentSpec.from_dict(spec.to_dict()) == spec


def test_round_trip_keeps_model_args_tuples():
    spec = BASE.with_(train=dataclasses.replace(BASE.train, model_args=(("widths", (16, 8)),)))
    back = ExperimentSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back.train.model_args == (("widths", (16, 8)),)
    assert back.train.model_kwargs == {"widths": (16, 8)}
    assert back.hash() == spec.hash()
    assert spec.to_dict()["version"] >= 1


# -- validation --------------------------------------------------------------------------

def _train_kwargs(**changes):
    base = dict(dataset="digits", model="lenet", epochs=10, batch_size=32, optimizer="sgd", lr=0.1,
                init="kaiming_uniform")
    base.update(changes)
    return base


@pytest.mark.parametrize("changes, message", [
    (dict(lr=0.0), "learning rate"),
    (dict(lr=-0.1), "learning rate"),
    (dict(lr=math.nan), "learning rate"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(schedule="linear"), "schedule"),
    (dict(init="xavier"), "init"),
    (dict(warmup_epochs=11), "warm-up"),
    (dict(warmup_epochs=-1), "warm-up"),
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch size"),
    (dict(momentum=1.0), "momentum"),
    (dict(weight_decay=-1e-5), "weight decay"),
    (dict(schedule="step", milestones=(10,)), "milestones"),
    (dict(schedule="step", milestones=(0,)), "milestones"),
])
def test_invalid_train_settings_raise(changes, message):
    with pytest.raises(SpecError, match=message):
        TrainSpec(**_train_kwargs(**changes))


@pytest.mark.parametrize("changes, message", [
    (dict(fraction=0.0), "fraction"),
    (dict(fraction=1.0), "fraction"),
    (dict(fraction=1.5), "fraction"),
    (dict(fraction=-0.2), "fraction"),
    (dict(fraction=math.nan), "fraction"),
    (dict(rounds=-1), "rounds"),
    (dict(strategy="greedy"), "strategy"),
    (dict(reset="zero"), "reset"),
    (dict(rewind_step=3), "rewind"),
])
def test_invalid_prune_settings_raise(changes, message):
    with pytest.raises(SpecError, match=message):
        PruneSpec(**changes)


def test_invalid_experiment_settings_raise():
    with pytest.raises(SpecError, match="control"):
        BASE.with_(control="lottery")
    with pytest.raises(SpecError, match="seeds"):
        BASE.with_(init_seed=-1)
    with pytest.raises(SpecError, match="seeds"):
        BASE.with_(noise_seed=-3)
    assert issubclass(SpecError, ValueError)


@FAST
@given(lr=st.one_of(st.floats(max_value=0.0), st.just(math.nan)))
def test_any_nonpositive_lr_raises(lr):
    with pytest.raises(SpecError):
        TrainSpec(**_train_kwargs(lr=lr))


@FAST
@given(fraction=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), st.just(math.nan)))
def test_any_fraction_outside_unit_interval_raises(fraction):
    with pytest.raises(SpecError):
        PruneSpec(fraction=fraction)


@FAST
@given(epochs=st.integers(1, 50), extra=st.integers(1, 50))
def test_warmup_longer_than_training_raises(epochs, extra):
    with pytest.raises(SpecError, match="warm-up"):
        TrainSpec(**_train_kwargs(epochs=epochs, warmup_epochs=epochs + extra))
    TrainSpec(**_train_kwargs(epochs=epochs, warmup_epochs=epochs))  # the boundary is allowed


def test_precision_at_its_default_leaves_the_hash_and_old_run_names_unchanged():
    """`precision` was added after runs were stored: fp32 (the default) is left out of the hash."""
    assert "precision" not in BASE.to_dict()["train"]
    bf16 = BASE.with_(train=dataclasses.replace(BASE.train, precision="bf16"))
    assert bf16.hash() != BASE.hash() and bf16.to_dict()["train"]["precision"] == "bf16"
    for spec in (BASE, bf16):
        assert ExperimentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(SpecError, match="unknown precision 'fp8'"):
        dataclasses.replace(BASE.train, precision="fp8")


def test_bf16_runs_carry_their_own_version_and_fp32_runs_do_not():
    """The direct bf16 step changed bf16 runs' bits: their hashes moved, fp32 runs' names stayed."""
    from replication.spec import BF16_VERSION

    bf16 = BASE.with_(train=dataclasses.replace(BASE.train, precision="bf16"))
    assert bf16.to_dict()["bf16_version"] == BF16_VERSION >= 2
    assert "bf16_version" not in BASE.to_dict()
    assert ExperimentSpec.from_dict(json.loads(json.dumps(bf16.to_dict()))) == bf16
