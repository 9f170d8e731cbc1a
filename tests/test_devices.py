"""Device propagation, checked on a CPU-only machine: PyTorch's `meta` device stands in for a GPU. A meta tensor
meeting a CPU tensor in arithmetic raises, as a CUDA one would, so each test here fails on the bug it names
(issue 28) when its fix is reverted. Meta runs no generators and no fused optimizers, so the tests drive the
pieces a round is made of (planning, the repellent loss, the landscape path) rather than a whole training."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from replication import landscape
from replication.engine import imp
from replication import masks as M
from replication.data import TensorData
from replication.engine.losses import RepellentLoss
from replication.spec import SpecError
from replication.store import RoundRecord, RunStore, StoreError
from replication.engine.training import TrainOutcome

from conftest import tiny_model, tiny_spec

META = torch.device("meta")
ROOT = Path(__file__).resolve().parent.parent


def _mask(model, keep: float = 0.6) -> M.Mask:
    g = torch.Generator().manual_seed(0)
    return {n: (torch.rand(p.shape, generator=g) < keep).float() for n, p in model.named_parameters()
            if n.endswith("weight")}


def test_the_repellent_loss_runs_on_the_device_of_its_mask_with_optima_from_the_store():
    """The one-model path moves the mask to the device while the previous optima stay host tensors."""
    model = tiny_model().to(META)
    optima = [tiny_model(seed).state_dict() for seed in (1, 2)]  # host tensors, as the store gives them
    loss = RepellentLoss(optima, _mask(tiny_model()), 2.0, META)(model)
    loss.backward()  # forward and backward on the device, no host operand
    assert loss.device == META and all(p.grad.device == META for p in model.parameters() if p.grad is not None)


def test_the_repellent_loss_keeps_its_values_on_the_host():
    """The index that replaced the boolean mask picks the same weights in the same order (hand-checked case:
    one optimum equal to the network itself has cosine 1, so the loss is the strength)."""
    model = tiny_model()
    mask = _mask(model)
    M.apply_mask(model, mask)
    assert RepellentLoss([model.state_dict()], mask, 2.0)(model).item() == pytest.approx(2.0)


def _rewinding(tmp_path):
    spec = tiny_spec(rounds=2)
    return spec.with_(prune=dataclasses.replace(spec.prune, reset="rewind", rewind_step=3))


def test_a_rewind_point_captured_on_the_device_is_kept_on_the_host(monkeypatch, tmp_path, digits):
    """Claim 5's rewinding arm: the snapshot taken during training is on the device, and the next round's start
    multiplies it by a host mask."""
    spec = _rewinding(tmp_path)
    model = tiny_model()
    on_device = {k: v.to(META) for k, v in model.state_dict().items()}
    monkeypatch.setattr(imp, "train", lambda *a, **k: TrainOutcome(23, False, on_device))
    # meta tensors hold no data to copy out: the stand-in for the device-to-host copy allocates host tensors
    monkeypatch.setattr(imp, "on_host", lambda ts: {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in ts.items()})
    f = imp._InFlight(spec, tmp_path, model.state_dict())
    plan = imp._Round(model.state_dict(), None, 0.0, 0, [])
    imp._train_single(f, model, plan, M.dense_mask(model), 0, digits)
    assert {v.device.type for v in f.rewind.values()} == {"cpu"}
    imp._start_weights(f, 1, _mask(model), digits)  # host mask times the rewind point


def test_the_landscape_interpolates_where_the_model_runs(monkeypatch, digits):
    """The end points come from the store (host); they are copied to the device once, not at every point."""
    seen = []

    def interpolate(w1, w2, alpha):
        seen.append({v.device.type for v in (*w1.values(), *w2.values())})
        return w1

    monkeypatch.setattr(landscape, "interpolate", interpolate)
    monkeypatch.setattr(landscape, "evaluate", lambda model, x, y: (0.0, 0.5))
    on_meta = TensorData(digits.name, digits.x_train.to(META), digits.y_train.to(META), digits.x_test.to(META),
                         digits.y_test.to(META), digits.num_classes)
    w = tiny_model().state_dict()
    landscape.error_path(tiny_model().to(META), w, w, on_meta, points=3)
    assert seen == [{"meta"}] * 3


def test_a_round_records_its_device_and_a_run_is_not_resumed_on_another(tmp_path, digits):
    store = RunStore(tmp_path)
    spec = tiny_spec(rounds=1)
    run = imp.run_experiment(spec, store, data=digits)
    assert {r.metrics["device"] for r in run.rounds} == {"cpu"}
    f = imp._InFlight(spec, tmp_path, run.init, history=list(run.rounds[:1]))
    imp._check_same_device(f, torch.device("cpu"))
    with pytest.raises(StoreError, match="trained on cpu; resuming it on meta would mix devices"):
        imp._check_same_device(f, META)
    old = RoundRecord(0, {}, {}, {}, {"round": 0})  # stored before rounds recorded a device: the CPU's
    imp._check_same_device(imp._InFlight(spec, tmp_path, run.init, history=[old]), torch.device("cpu"))


def test_vmap_with_bf16_is_refused_in_the_spec_not_on_the_gpu():
    with pytest.raises(SpecError, match="vmap stacking trains in fp32"):
        tiny_spec(model="resnet20", stacking="vmap", precision="bf16", init="kaiming_normal")


def test_evaluation_and_the_landscape_switch_tf32_off(monkeypatch, digits):
    """cuDNN allows TF32 by default: an fp32 evaluation on an NVIDIA GPU must switch it off itself."""
    from replication.evaluation import evaluate

    states = []
    model = tiny_model()
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda x: (states.append(torch.backends.cudnn.allow_tf32), original(x))[1])
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        evaluate(model, digits.x_test, digits.y_test)
        assert states and not any(states) and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = before


@pytest.mark.slow
def test_claims_collect_from_a_bare_copy_of_the_tree():
    """On a borrowed GPU machine the tree is copied, not installed: no entry point loads the plugin."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "pytest", "claims", "--scale", "smoke", "--collect-only", "-q",
                          "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tests collected" in out.stdout


def _members(k: int = 2):
    from replication.engine.training import Member

    models = [tiny_model(seed) for seed in range(k)]
    return [Member(m.state_dict(), _mask(m), seed, optima=[tiny_model(9).state_dict()])
            for seed, m in enumerate(models)]


def test_the_stacked_repellence_is_built_on_the_host_and_runs_on_the_device():
    from replication.engine.losses import StackedRepellence

    members = _members()
    names = list(members[0].mask)
    repellence = StackedRepellence(members, names, 2.0, META)
    theta = torch.zeros(len(members), repellence.units.shape[2] - repellence.pad, device=META, requires_grad=True)
    loss = repellence(theta).sum()
    loss.backward()
    assert repellence.units.device == META and theta.grad.device == META


def test_a_stacked_convnet_steps_forward_and_backward_on_the_device():
    """The vmapped population's step: members' starts and masks (host) stacked on the device, a forward and a
    backward there, the masks applied in place. (Its data order and augmentation draw on a device generator,
    which meta lacks: the CUDA-marked tests and benchmarks/gpu_session.sh run the whole training.)"""
    import torch.nn.functional as F

    from replication.engine.stacked_convnet import StackedNet
    from replication.models import build_model
    from replication.engine.training import Member

    nets = [build_model("resnet20", (1, 8, 8), 10, "kaiming_normal", seed, width=2) for seed in range(2)]
    masks = [{n: (torch.rand(p.shape, generator=torch.Generator().manual_seed(0)) < 0.5).float()
              for n, p in net.named_parameters() if n.endswith("weight") and p.dim() > 1} for net in nets]
    members = [Member(net.state_dict(), mask, seed) for seed, (net, mask) in enumerate(zip(nets, masks))]
    stacked = StackedNet(nets[0], members, META)
    x = torch.zeros(2, 4, 1, 8, 8, device=META)
    logits = stacked.forward(stacked.params, stacked.buffers, x)
    F.cross_entropy(logits.flatten(0, 1), torch.zeros(8, dtype=torch.long, device=META)).backward()
    stacked.apply_masks()
    assert logits.shape == (2, 4, 10) and all(p.grad.device == META for p in stacked.params.values())


def test_the_cpu_is_read_from_the_kernels_report(tmp_path):
    from replication.devices import cpu_info

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC 9R14\n"
                       "flags\t\t: fpu avx512f\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: other\n")
    assert cpu_info(cpuinfo) == {"vendor": "AuthenticAMD", "model": "AMD EPYC 9R14"}
    assert cpu_info(tmp_path / "absent") == {"vendor": "unknown", "model": "unknown"}


def test_a_reports_provenance_names_the_cpu_its_bits_came_from():
    from replication.devices import cpu_info, cpu_kernels
    from replication.report import code_line, provenance

    prov = provenance()
    assert prov["cpu"] == f"{cpu_info()['model']} ({cpu_info()['vendor']}), {cpu_kernels()[1]} kernels"
    assert code_line(prov).endswith(f"cores, {prov['cpu']}, device cpu.")
    assert code_line({k: v for k, v in prov.items() if k != "cpu"}).endswith("cores, device cpu.")
