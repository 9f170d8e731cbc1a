"""The GPU check, in one call: the CUDA-marked tests, then ResNet-20 throughput at the paper's settings.

CIFAR-shaped synthetic data on the device, batch 128 and 2048, fp32 and bf16, the one-model loop and the
vmapped population at K = 1 and the largest K the device's memory holds, against a plain one-model
PyTorch loop. Every rate is examples per second per model, timed over whole epochs after a warm-up epoch.
The last line is `resnet20_trainings_per_gpu_hour=N`: full trainings (85 epochs of 50,000 images, Table 1)
per GPU-hour at the best setting for batch 128, the paper's conventional batch and the slowest to train.

    bash benchmarks/gpu_check.sh              # on the GPU machine; a copy of the output goes to $OUT
    bash benchmarks/gpu_check.sh --dry-run    # tiny shapes on the CPU: the script itself, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replication import masks as M  # noqa: E402
from replication.conv_population import train_conv_population  # noqa: E402
from replication.data import TensorData  # noqa: E402
from replication.models import build_model  # noqa: E402
from replication.population import Member  # noqa: E402
from replication.spec import TrainSpec  # noqa: E402
from replication.training import train  # noqa: E402

EPOCHS, IMAGES = 85, 50_000  # one Table 1 ResNet-20 training


def synthetic(n: int, side: int, device: torch.device) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 3, side, side, generator=g), torch.randint(0, 10, (n,), generator=g)
    return TensorData("synthetic", x, y, x[:256], y[:256], 10).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _members(k: int, side: int) -> tuple[torch.nn.Module, list[Member]]:
    models = [build_model("resnet20", (3, side, side), 10, "kaiming_normal", s) for s in range(k)]
    members = [Member({n: v.clone() for n, v in m.state_dict().items()},
                      M.prune_to_density({n: m.state_dict()[n] for n in M.prunable_names(m)}, 0.5).mask, s)
               for s, m in enumerate(models)]
    return models[0], members


def plain_rate(data: TensorData, batch: int) -> float:
    """The ordinary loop: one model, a shuffled index per epoch, fp32, no harness."""
    device = data.x_train.device
    model = build_model("resnet20", data.image_shape, 10, "kaiming_normal", 0).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-5)

    def epoch() -> None:
        for idx in torch.randperm(data.n_train, device=device).split(batch):
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    epoch()
    _sync(device)
    tic = time.perf_counter()
    epoch()
    _sync(device)
    return data.n_train / (time.perf_counter() - tic)


def engine_rate(data: TensorData, batch: int, k: int, **settings) -> float:
    """The harness: one warm-up epoch, then one timed epoch of k members (looped or vmapped)."""
    spec = TrainSpec(dataset="cifar10", model="resnet20", epochs=1, batch_size=batch, optimizer="sgd", lr=0.1,
                     init="kaiming_normal", augment=True, weight_decay=1e-5, **settings)
    side, device = data.image_shape[1], data.x_train.device
    template, members = _members(k, side)

    def epoch() -> None:
        if spec.stacking == "vmap":
            train_conv_population(template, members, data, spec)
            return
        for member in members:
            model = build_model("resnet20", (3, side, side), 10, "kaiming_normal", 0).to(device)
            model.load_state_dict(member.start)
            train(model, {n: m.to(device) for n, m in member.mask.items()}, data, spec, member.noise_seed)

    epoch()
    _sync(device)
    tic = time.perf_counter()
    epoch()
    _sync(device)
    return k * data.n_train / (time.perf_counter() - tic)


def largest_population(data: TensorData, batch: int, cap: int) -> int:
    """The most vmapped members the device holds at this batch: two members' peak memory, scaled, 70% of it."""
    if data.x_train.device.type != "cuda":
        return 2
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    engine_rate(data, batch, 2, stacking="vmap")
    per_member = max(1, (torch.cuda.max_memory_allocated() - before) // 2)
    total = torch.cuda.get_device_properties(0).total_memory
    return max(1, min(cap, int(0.7 * (total - before) // per_member)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU, to check the script")
    args = parser.parse_args()
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --dry-run to check the script on the CPU", file=sys.stderr)
        return 2
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu (dry run)"
    say(f"device: {name}; torch {torch.__version__}")
    tests = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests"), "-m", "cuda", "-q",
                            "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    say(f"cuda-marked tests: exit {tests.returncode}; {tests.stdout.strip().splitlines()[-1] if tests.stdout else ''}")
    side, steps = (8, 2) if args.dry_run else (32, 12)
    results = []
    for batch in ((8, 16) if args.dry_run else (128, 2048)):
        data = synthetic(batch * steps, side, device)
        plain = plain_rate(data, batch)
        big = largest_population(data, batch, cap=2 if args.dry_run else 64)
        say(f"batch {batch}: plain loop fp32 {plain:.0f} ex/s; largest vmapped population {big}")
        for precision in ("fp32", "bf16"):
            for label, k, settings in [("loop", 1, {}), ("loop channels-last", 1, {"channels_last": True}),
                                       ("vmap K=1", 1, {"stacking": "vmap"}), (f"vmap K={big}", big, {"stacking": "vmap"})]:
                if precision == "bf16" and settings.get("stacking") == "vmap":
                    continue  # vmap trains in fp32 (TrainSpec refuses bf16 there)
                rate = engine_rate(data, batch, k, precision=precision, **settings)
                results.append({"batch": batch, "precision": precision, "engine": label, "rate": rate,
                                "plain": plain})
                say(f"  {precision} {label:20s} {rate:9.0f} ex/s per model ({rate / plain:.2f}x plain)")
    best = max((r for r in results if r["batch"] == results[0]["batch"]), key=lambda r: r["rate"])
    per_hour = 3600 * best["rate"] / (EPOCHS * IMAGES)
    say(f"best at batch {best['batch']}: {best['precision']} {best['engine']}, {best['rate']:.0f} ex/s per model")
    say(f"resnet20_trainings_per_gpu_hour={per_hour:.0f}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.txt").write_text("\n".join(lines) + "\n")
        (out / "gpu_check.json").write_text(json.dumps({"device": name, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
