"""Fifteen minutes on a borrowed GPU, prepared: what the CUDA defaults depend on, then a short real run.

Part 1, the measurements (an internal budget of about 5 minutes): the CUDA-marked unit tests, then ResNet-20
training rates in examples per
second per model, each the median of at least 3 timed epochs after a warm-up epoch, with the models built
outside the timed region, on synthetic data resident on the device:

- the medium scale's shape (width 8, 1×14×14) at batch 16, 32 and 256, and the paper's (width 16, 3×32×32) at
  batch 128: the one-model loop in fp32 with TF32 off and on, bf16 with channels-last, torch.compile; the
  vmapped population at K = 1, 4, 16 and the largest K that fits (fp32);
- evaluation of 10,000 images and batch-norm recomputation over 2,048 (the landscape measures' two parts).

CUDA graphs are not built in the engine, so they are reported as such rather than measured. Every
configuration is guarded: one that raises prints its error on its own line and the rest go on; past the
budget the rest are skipped, said so. Each line is appended to $OUT/gpu_session.log and $OUT/gpu_session.jsonl
as it is printed, so a session cut short keeps what it measured.

Part 2, a real run: claims of the medium scale at 2 seeds (`--dry-run`: the smoke scale), in-process, through
`replication run`, so that a device path that crashes shows here; then a stacked member against the same
member trained alone (vmap K = 4 against K = 1, the same start, mask and noise): their weights must agree
within STACKED_TOLERANCE.

The last line is always `gpu_session: N measured, M failed, real run <status>, stacked <status>`.

    bash benchmarks/gpu_session.sh               # on the GPU machine (needs Fashion-MNIST under --data-dir)
    bash benchmarks/gpu_session.sh --dry-run     # tiny shapes on the CPU: the script itself (CI runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replication import masks as M  # noqa: E402
from replication.engine.stacked_convnet import train_conv_population  # noqa: E402
from replication.data import TensorData  # noqa: E402
from replication.evaluation import evaluate  # noqa: E402
from replication.landscape import recompute_batchnorm  # noqa: E402
from replication.models import build_model  # noqa: E402
from replication.engine.stacked_mlp import Member  # noqa: E402
from replication.spec import TrainSpec  # noqa: E402
from replication.engine.training import train  # noqa: E402

MEASURE_BUDGET_S, DRY_BUDGET_S = 300, 120
# A stacked member and the same member alone: on a GPU their kernels differ (batched against single
# convolutions), so bits need not agree; after one epoch their weights must within this, relative to the
# weights' scale.
STACKED_TOLERANCE = 1e-3
REAL_CLAIMS = ("random-reinit-fails", "tickets-retrain-to-similar-regions")


class Session:
    """Prints a line, appends it to $OUT's log and its record to $OUT's jsonl, at once."""

    def __init__(self, out: Path | None, budget_s: float):
        self.out, self.deadline = out, time.perf_counter() + budget_s
        self.measured = self.failed = 0
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

    def say(self, text: str, **record) -> None:
        print(text, flush=True)
        if self.out is not None:
            with open(self.out / "gpu_session.log", "a") as log:
                log.write(text + "\n")
            if record:
                with open(self.out / "gpu_session.jsonl", "a") as jsonl:
                    jsonl.write(json.dumps(record) + "\n")

    def guarded(self, label: str, measure) -> float | None:
        """Runs one measurement; a failure or an exhausted budget is a line, never the end of the session."""
        if time.perf_counter() > self.deadline:
            self.say(f"  {label}: skipped (budget spent)", label=label, skipped=True)
            return None
        try:
            value = measure()
        except Exception as err:  # noqa: BLE001 - every configuration is guarded, whatever it raises
            self.failed += 1
            self.say(f"  {label}: FAILED {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}",
                     label=label, error=f"{type(err).__name__}: {err}"[:500])
            return None
        self.measured += 1
        return value


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(epoch, device: torch.device, repeats: int = 3) -> float:
    """Median seconds of `repeats` timed calls after one warm-up call."""
    epoch()
    _sync(device)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        epoch()
        _sync(device)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def synthetic(n: int, image: tuple[int, int, int], device: torch.device) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, *image, generator=g), torch.randint(0, 10, (n,), generator=g)
    return TensorData("synthetic", x, y, x, y, 10).to(device)


def _members(k: int, image, width: int) -> tuple[torch.nn.Module, list[Member]]:
    models = [build_model("resnet20", image, 10, "kaiming_normal", s, width=width) for s in range(k)]
    members = [Member({n: v.clone() for n, v in m.state_dict().items()},
                      M.prune_to_density({n: m.state_dict()[n] for n in M.prunable_names(m)}, 0.5).mask, s)
               for s, m in enumerate(models)]
    return models[0], members


def _spec(batch: int, width: int, **settings) -> TrainSpec:
    return TrainSpec(dataset="cifar10", model="resnet20", epochs=1, batch_size=batch, optimizer="sgd", lr=0.1,
                     init="kaiming_normal", model_args=(("width", width),), **settings)


def loop_rate(data: TensorData, batch: int, width: int, **settings) -> float:
    """The one-model loop: examples per second."""
    device, spec = data.x_train.device, _spec(batch, width, **settings)
    model = build_model("resnet20", data.image_shape, 10, "kaiming_normal", 0, width=width).to(device)
    mask = {n: m.to(device) for n, m in M.dense_mask(model).items()}
    return data.n_train / timed(lambda: train(model, mask, data, spec, 0), device)


def vmap_rate(data: TensorData, batch: int, width: int, k: int) -> float:
    """The vmapped population of k members: examples per second per model."""
    device, spec = data.x_train.device, _spec(batch, width, stacking="vmap")
    template, members = _members(k, data.image_shape, width)
    return k * data.n_train / timed(lambda: train_conv_population(template, members, data, spec), device)


def largest_population(data: TensorData, batch: int, width: int, cap: int) -> int:
    """The most vmapped members the device holds at this batch: two members' peak memory, scaled, 70% of it."""
    if data.x_train.device.type != "cuda":
        return min(cap, 4)
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    template, members = _members(2, data.image_shape, width)
    train_conv_population(template, members, data, _spec(batch, width, stacking="vmap"))
    per_member = max(1, (torch.cuda.max_memory_allocated() - before) // 2)
    total = torch.cuda.get_device_properties(0).total_memory
    return max(1, min(cap, int(0.7 * (total - before) // per_member)))


def measure(s: Session, device: torch.device, dry: bool) -> None:
    shapes = [("medium", 8, (1, 14, 14), (16, 32, 256), 8192), ("paper", 16, (3, 32, 32), (128,), 8192)]
    if dry:
        shapes = [("medium", 2, (1, 8, 8), (16, 32), 64)]
    for name, width, image, batches, n in shapes:
        data = synthetic(n, image, device)
        for batch in batches:
            big = s.guarded(f"{name} batch {batch}: largest population",
                            lambda: largest_population(data, batch, width, cap=4 if dry else 256)) or 1
            s.say(f"{name} shape (width {width}, {'×'.join(map(str, image))}), batch {batch}; largest vmapped "
                  f"population {big}")
            configs = [("loop fp32", lambda: loop_rate(data, batch, width)),
                       ("loop fp32 tf32", lambda: loop_rate(data, batch, width, tf32=True)),
                       ("loop bf16 channels-last", lambda: loop_rate(data, batch, width, precision="bf16",
                                                                     channels_last=True))]
            if not dry:  # compiling on the CPU takes minutes: the dry run checks the script, not the compiler
                configs.append(("loop fp32 compiled", lambda: loop_rate(data, batch, width, compile=True)))
            configs += [(f"vmap K={k} fp32", lambda k=k: vmap_rate(data, batch, width, k))
                        for k in dict.fromkeys((1, 4, 16, big)) if not (dry and k > 4)]
            for label, run in configs:
                rate = s.guarded(f"{name} batch {batch} {label}", run)
                if rate is not None:
                    s.say(f"  {label:26s} {rate:10.0f} ex/s per model", shape=name, batch=batch, engine=label,
                          rate=rate)
        model = build_model("resnet20", image, 10, "kaiming_normal", 0, width=width).to(device)
        seconds = s.guarded(f"{name} evaluation", lambda: timed(lambda: evaluate(model, data.x_test, data.y_test),
                                                                device))
        if seconds is not None:
            s.say(f"  evaluation of {len(data.y_test)} images: {seconds * 1e3:.1f} ms", shape=name, measure="evaluate",
                  seconds=seconds, images=len(data.y_test))
        seconds = s.guarded(f"{name} batch-norm recomputation",
                            lambda: timed(lambda: recompute_batchnorm(model, data.x_train[:2048]), device))
        if seconds is not None:
            s.say(f"  batch-norm recomputation over {min(2048, n)} images: {seconds * 1e3:.1f} ms", shape=name,
                  measure="recompute_batchnorm", seconds=seconds)
    s.say("CUDA graphs: not built in the engine (nothing to measure)")


def cuda_tests(s: Session) -> None:
    """The CUDA-marked unit tests (each takes the `device` fixture, TF32 off inside it)."""
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests"), "-m", "cuda", "-q", "-p",
                               "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
        s.say(f"cuda-marked tests: exit {done.returncode}; {last}", cuda_tests=done.returncode, summary=last)
    except subprocess.TimeoutExpired:
        s.say("cuda-marked tests: timed out at 120 s", cuda_tests="timeout")


def stacked_equals_alone(device: torch.device, dry: bool) -> float:
    """Relative max difference between member 0 trained in a vmapped population of 4 and trained alone."""
    width, image, n = (2, (1, 8, 8), 64) if dry else (8, (1, 14, 14), 2048)
    data = synthetic(n, image, device)
    template, members = _members(4, image, width)
    spec = _spec(16, width, stacking="vmap")
    together, _ = train_conv_population(template, members, data, spec)
    alone, _ = train_conv_population(template, members[:1], data, spec)
    diff = max(float((together[0][k] - alone[0][k]).abs().max()) for k in alone[0] if alone[0][k].is_floating_point())
    scale = max(float(v.abs().max()) for v in alone[0].values() if v.is_floating_point())
    return diff / scale


def real_run(s: Session, device: torch.device, dry: bool, data_dir: str | None, store: Path, reports: Path) -> str:
    scale = "smoke" if dry else "medium"
    claims = ("same-basin-only-at-medium-density",) if dry else REAL_CLAIMS
    argv = [sys.executable, "-m", "replication.cli", "run", *claims, "--scale", scale, "--seeds", "2",
            "--device", str(device), "--store", str(store), "--report-dir", str(reports / "reports")]
    if data_dir:
        argv += ["--data-dir", data_dir]
    s.say(f"real run: {' '.join(argv[3:])}")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 if dry else 210)
    except subprocess.TimeoutExpired:
        s.say("real run: timed out (its store keeps the rounds it finished)", real_run="timeout")
        return "timed out"
    tail = (done.stdout + done.stderr).strip().splitlines()[-12:]
    for line in tail:
        s.say(f"  | {line}")
    # 0 or 1: a verdict either way (a REFUTED claim fails its test); anything else is a crash of the harness
    status = "ok" if done.returncode in (0, 1) else f"exit {done.returncode}"
    s.say(f"real run: {status}", real_run=status, returncode=done.returncode)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU, to check the script")
    parser.add_argument("--data-dir", help="where the real run finds Fashion-MNIST (default: the usual places)")
    args = parser.parse_args()
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_session: no CUDA device here; use --dry-run to check the script on the CPU", file=sys.stderr)
        return 2
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    s = Session(out, DRY_BUDGET_S if args.dry_run else MEASURE_BUDGET_S)
    real, stacked = "not reached", "not reached"
    try:
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu (dry run)"
        s.say(f"device: {name}; torch {torch.__version__}", device=name, torch=torch.__version__)
        if not args.dry_run:
            cuda_tests(s)
        measure(s, device, args.dry_run)
        # the runs stay on the machine (a medium store is too big to bring back); the report comes back in $OUT
        real = real_run(s, device, args.dry_run, args.data_dir, ROOT / "runs" / "gpu_session", out or ROOT / "runs")
        difference = s.guarded("stacked member against alone", lambda: stacked_equals_alone(device, args.dry_run))
        if difference is not None:
            stacked = "ok" if difference <= STACKED_TOLERANCE else f"DIFFERS ({difference:.2e})"
            s.say(f"stacked member against the same member alone: relative difference {difference:.2e} "
                  f"(tolerance {STACKED_TOLERANCE:g})", stacked=difference)
        else:
            stacked = "failed"
    finally:
        s.say(f"gpu_session: {s.measured} measured, {s.failed} failed, real run {real}, stacked {stacked}")
    return 0 if real == "ok" and stacked == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
