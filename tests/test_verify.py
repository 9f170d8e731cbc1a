"""`replication verify`: stored rounds retrained with this code come out bit-identical; a changed stored tensor is
found and named (exit 1); bad input is one line and exit 2."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from replication import verify
from replication.cli import main
from replication.engine.imp import round_noise_seed, run_experiments
from replication.store import RunStore

from conftest import tiny_spec


@pytest.fixture
def stored(tmp_path, digits):
    """A store with two finished tiny IMP runs (3 rounds each) and one reinitialization control."""
    store = RunStore(tmp_path / "store")
    imp = [tiny_spec(rounds=2, init_seed=s, noise_seed=s) for s in (0, 1)]
    run_experiments([*imp, imp[0].with_(control="reinit")], store, data=digits)
    return store, imp


def test_truncated_runs_keep_each_rounds_seeds():
    spec = tiny_spec(rounds=5, noise_seed=3)
    short = verify.truncated(spec, 2)
    assert short.prune.rounds == 1 and short.hash() != spec.hash()
    assert [round_noise_seed(short, i) for i in range(2)] == [round_noise_seed(spec, i) for i in range(2)]
    assert verify.truncated(spec, 10) == spec


def test_compare_names_each_difference():
    a = {"w": torch.zeros(2, 2), "b": torch.ones(3), "n": torch.tensor(4)}
    assert verify.compare(a, {k: v.clone() for k, v in a.items()}, "trained") == []
    changed = {**a, "w": torch.tensor([[0.0, 0.25], [0.0, -0.5]]), "b": torch.ones(4)}
    del changed["n"]
    assert verify.compare(a, changed, "trained") == ["trained: n missing", "trained: b is (3,) torch.float32 stored, "
                                                     "(4,) torch.float32 now", "trained: w max |Δ| 0.5"]


def test_bits_are_compared_not_values():
    nan = torch.tensor([float("nan"), 1.0])
    assert verify.compare({"w": nan}, {"w": nan.clone()}, "trained") == []  # a diverged run's NaNs reproduce
    assert verify.compare({"w": torch.tensor(0.0)}, {"w": torch.tensor(-0.0)}, "trained") == ["trained: w max |Δ| 0"]
    assert verify.same_bits(torch.tensor(True), torch.tensor(True))


def test_stored_rounds_record_their_threads(stored):
    store, imp = stored
    assert store.load_round(imp[0], 1).metrics["threads"] == torch.get_num_threads()


def test_verify_finds_the_stored_bits_again(stored, capsys):
    store, imp = stored
    assert main(["verify", "--store", str(store.root), "--runs", "5", "--rounds", "3"]) == 0
    out = capsys.readouterr().out
    assert "of 2 of the 3 finished runs" in out  # the control is not drawn: it would retrain its IMP run too
    assert imp[0].hash() in out and imp[1].hash() in out
    assert out.rstrip().endswith("all 6 rounds bit-identical")


def test_verify_retrains_a_named_control_with_its_imp_run(stored, capsys):
    store, imp = stored
    control = imp[0].with_(control="reinit").hash()
    assert main(["verify", "--store", str(store.root), "--run", control]) == 0
    assert f"{control} (lenet on digits, batch 64, reinit, seed 0" in capsys.readouterr().out


def test_a_changed_stored_tensor_is_found_and_named(stored, capsys):
    store, imp = stored
    record = store.load_round(imp[1], 1)
    name = next(iter(record.trained))
    trained = {**record.trained, name: record.trained[name] + 0.125}
    store.save_round(imp[1], dataclasses.replace(record, trained=trained))  # checksums rewritten: a valid round
    assert main(["verify", "--store", str(store.root), "--run", imp[1].hash()]) == 1
    out = capsys.readouterr().out
    assert "round 0 identical, round 1 DIFFERS" in out
    assert f"round 1: trained: {name} max |Δ| 0.125" in out
    assert out.rstrip().endswith("1 of 2 rounds differ")


def test_a_run_this_code_hashes_elsewhere_is_reported(stored, capsys):
    store, imp = stored
    moved = store.root / "0123456789abcdef"
    store.path(imp[0]).rename(moved)
    assert main(["verify", "--store", str(store.root), "--run", moved.name]) == 1
    assert f"its spec hashes to {imp[0].hash()} under this code" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["--run", "0123456789abcdef"], "no finished run 0123456789abcdef in the store"),
    (["--rounds", "0"], "--rounds must be at least 1, got 0"),
    (["--runs", "0"], "--runs must be at least 1, got 0"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
])
def test_bad_input_is_one_line_and_exit_2(stored, capsys, args, fragment):
    store, _ = stored
    assert main(["verify", "--store", str(store.root), *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and fragment in err


def test_a_missing_or_unfinished_store_says_so(tmp_path, capsys):
    assert main(["verify", "--store", str(tmp_path / "nowhere")]) == 2
    assert "no run store at" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["verify", "--store", str(tmp_path / "empty")]) == 2
    assert "no finished IMP run" in capsys.readouterr().err


def test_a_run_is_described_by_what_sets_its_arm_apart():
    spec = tiny_spec(rounds=2, init_seed=3, warmup_epochs=1, weight_decay=1e-4).with_(repel_lambda=2.0,
                                                                                      repel_previous_only=True)
    assert verify.describe(spec) == ("lenet on digits, batch 64, imp, λ 2 (previous optimum only), 1-epoch warm-up, "
                                     "weight decay 0.0001, seed 3")
    assert verify.describe(tiny_spec(rounds=2)) == "lenet on digits, batch 64, imp, seed 0"
