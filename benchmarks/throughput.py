"""Training throughput of the harness against a plain PyTorch loop, measured in one process.

LeNet-300-100 on 28×28 inputs at batch 60 (synthetic data of MNIST's shape; the
arithmetic does not depend on pixel values), Adam at 1.2e-3 as in Table 1:

- plain: one model, DataLoader over a TensorDataset with shuffling, torch.optim.Adam,
  the mask multiplied into the weights after each step — the ordinary way;
- engine: replication.engine.stacked_mlp.train_population with K stacked members
  (each with its own mask, data order and optimizer state), in fp32 and with the
  opt-in bf16 matmuls (TrainSpec.precision; fp32 master weights and optimizer).

The three are interleaved and repeated; medians are reported, with the share of
this machine's fp32 and bf16 matmul peaks (measured here too). The last line is
`speedup_vs_plain_loop=<engine examples/s per model ÷ plain examples/s>` for the
engine's faster precision (the line before it says which; both ratios are printed).

    python benchmarks/throughput.py --quick                   # LeNet, under two minutes
    python benchmarks/throughput.py --model resnet20 --quick  # ResNet-20: loop, vmap, bf16, channels-last
    python benchmarks/throughput.py --model resnet20 --medium --batch 16  # the medium scale's ResNet
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from replication import masks as M
from replication.data import TensorData
from replication.models import build_model
from replication.engine.stacked_mlp import Member, train_population
from replication.spec import TrainSpec

LENET_SPEC = dict(dataset="mnist", model="lenet", epochs=1, batch_size=60, optimizer="adam", lr=1.2e-3,
                  init="kaiming_uniform")


def synthetic(n: int, shape: tuple[int, ...], seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorData("synthetic", x, y, x[:1000], y[:1000], 10)


def matmul_peak(seconds: float = 2.0, size: int = 1024, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of a square matmul, best of several timed bursts."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        tic = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * size ** 3 / (time.perf_counter() - tic) / 1e9)
    return best


def half_pruned_mask(model: torch.nn.Module) -> M.Mask:
    weights = {n: p.detach() for n, p in model.named_parameters()}
    return M.prune_to_density({n: weights[n] for n in M.prunable_names(model)}, 0.5).mask


def plain_loop(model: torch.nn.Module, optimizer, data: TensorData, batch: int, seed: int,
               mask: M.Mask | None = None) -> float:
    """One epoch written the ordinary way (DataLoader, optimizer, mask multiply); returns examples/s."""
    params = dict(model.named_parameters())
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    tic = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for name, m in (mask or {}).items():
                params[name].mul_(m)
    return data.n_train / (time.perf_counter() - tic)


def plain_epoch(data: TensorData, model_seed: int = 0, batch: int = 60) -> float:
    """LeNet-300-100 at half density, Adam, the ordinary way; returns examples per second."""
    model = build_model("lenet", data.image_shape, 10, "kaiming_uniform", model_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.2e-3)
    return plain_loop(model, optimizer, data, batch, model_seed, half_pruned_mask(model))


def engine_epoch(data: TensorData, members: int, precision: str = "fp32") -> float:
    """One epoch of K stacked members; returns examples per second per model trained
    (K models × n examples / time), the figure to set against the plain loop's."""
    starts = []
    for seed in range(members):
        model = build_model("lenet", data.image_shape, 10, "kaiming_uniform", seed)
        starts.append(Member({k: v.clone() for k, v in model.state_dict().items()}, half_pruned_mask(model), seed))
    spec = TrainSpec(**LENET_SPEC, precision=precision)
    tic = time.perf_counter()
    train_population(starts, data, spec)
    return members * data.n_train / (time.perf_counter() - tic)


def lenet_flops_per_example() -> float:
    """The matmul work both arms do, dense (the masks skip none): forward and weight gradients 2 × 2 ×
    weights, input gradients 2 × weights of every layer but the first (the data needs none)."""
    weights, first = 784 * 300 + 300 * 100 + 100 * 10, 784 * 300
    return 4.0 * weights + 2.0 * (weights - first)


RESNET_SPEC = dict(dataset="cifar10", model="resnet20", epochs=1, batch_size=128, optimizer="sgd", lr=0.1,
                   init="kaiming_normal", augment=True, weight_decay=1e-5)


def resnet_plain_epoch(data: TensorData, seed: int, batch: int = 128, width: int = 16) -> float:
    """ResNet-20 the ordinary way (DataLoader, fp32, contiguous); returns examples/s."""
    model = build_model("resnet20", data.image_shape, 10, "kaiming_normal", seed, width=width)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-5)
    return plain_loop(model, optimizer, data, batch, seed, half_pruned_mask(model))


def resnet_engine_epoch(data: TensorData, members: int, seed: int, batch: int = 128, width: int = 16,
                        **settings) -> float:
    """The harness's trainer for `members` ResNet-20s with TrainSpec `settings` (stacking, precision,
    channels_last, compile): one after another, or as one vmapped population; examples/s per model."""
    from replication.engine.stacked_convnet import train_conv_population
    from replication.engine.training import train

    spec = TrainSpec(**{**RESNET_SPEC, "batch_size": batch}, model_args=(("width", width),), **settings)
    models = [build_model("resnet20", data.image_shape, 10, "kaiming_normal", seed + i, width=width)
              for i in range(members)]
    population = [Member({k: v.clone() for k, v in m.state_dict().items()}, half_pruned_mask(m), seed + i)
                  for i, m in enumerate(models)]
    tic = time.perf_counter()
    if spec.stacking == "vmap":
        train_conv_population(models[0], population, data, spec)
    else:
        for model, member in zip(models, population):
            train(model, member.mask, data, spec, member.noise_seed)
    return members * data.n_train / (time.perf_counter() - tic)


RESNET_SETTINGS = {  # name -> (members, TrainSpec settings); the plain loop is the baseline
    "loop fp32": (1, {}),
    "loop fp32 channels-last": (1, {"channels_last": True}),
    "loop bf16 channels-last": (1, {"precision": "bf16", "channels_last": True}),
    "vmap K=4 fp32": (4, {"stacking": "vmap"}),
}


# The medium scale's network and data: width 8 on 14×14 Fashion-MNIST (registry.SETUPS["medium"])
MEDIUM_SHAPE = dict(width=8, image=(1, 14, 14))


def resnet_benchmark(quick: bool, repeats: int, compiled: bool, batch: int = 128, medium: bool = False) -> None:
    """ResNet-20 (CIFAR-shaped, width 16; or the medium scale's width 8 on 14×14): every engine setting against
    the plain loop, interleaved; the last line is the best engine setting's speedup."""
    width, image = (MEDIUM_SHAPE["width"], MEDIUM_SHAPE["image"]) if medium else (16, (3, 32, 32))
    data = synthetic(max(batch, 128) * (4 if quick else 16), image)
    shape = dict(batch=batch, width=width)
    settings = dict(RESNET_SETTINGS)
    if medium:  # a medium family trains 1–3 runs a round together (an IMP run, its control, its copy)
        settings["vmap K=2 fp32"] = (2, {"stacking": "vmap"})
    if compiled:  # compiling takes about a minute here before the first step: worth it for long runs only
        settings["loop bf16 channels-last compiled"] = (1, {"precision": "bf16", "channels_last": True,
                                                            "compile": True})
        settings["loop fp32 compiled"] = (1, {"compile": True})
    resnet_plain_epoch(data, 0, **shape)
    for members, s in settings.values():  # warm-up: allocator, kernels, compilation
        resnet_engine_epoch(data, members, 0, **shape, **s)
    rates: dict[str, list[float]] = {"plain loop fp32": [], **{name: [] for name in settings}}
    for r in range(repeats):
        rates["plain loop fp32"].append(resnet_plain_epoch(data, r, **shape))
        for name, (members, s) in settings.items():
            rates[name].append(resnet_engine_epoch(data, members, r, **shape, **s))
        print(f"  repeat {r}: " + ", ".join(f"{name} {v[-1]:.0f}" for name, v in rates.items()), flush=True)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    plain = medians.pop("plain loop fp32")
    print(f"resnet20 width {width} batch {batch}, {data.n_train} examples of shape {image}, "
          f"{torch.get_num_threads()} threads, "
          f"median of {repeats} (examples/s per model):")
    print(f"  {'plain loop fp32':34s} {plain:7.0f}")
    for name, rate in medians.items():
        print(f"  {name:34s} {rate:7.0f}  ({rate / plain:.2f}x)")
    for precision in ("fp32", "bf16"):
        best = max((r, n) for n, r in medians.items() if precision in n)
        print(f"  best {precision}: {best[1]} ({best[0] / plain:.2f}x)")
    rate, name = max((r, n) for n, r in medians.items())
    print(f"engine setting for the last line: {name}")
    print(f"speedup_vs_plain_loop={rate / plain:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer examples and repeats (under two minutes)")
    parser.add_argument("--members", type=int, default=16, help="stacked models in the engine (default 16)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--model", choices=("lenet", "resnet20"), default="lenet",
                        help="lenet (default): LeNet-300-100 populations; resnet20: the convnet engine settings")
    parser.add_argument("--compile", action="store_true", help="resnet20: also time torch.compile (slow to start)")
    parser.add_argument("--batch", type=int, default=128, help="resnet20: the batch size (default 128)")
    parser.add_argument("--medium", action="store_true",
                        help="resnet20: the medium scale's network and data (width 8, 1×14×14) instead of CIFAR's")
    args = parser.parse_args()
    if args.model == "resnet20":
        return resnet_benchmark(args.quick, args.repeats or (3 if args.quick else 5), args.compile, args.batch,
                                args.medium)
    n = 6_000 if args.quick else 30_000
    repeats = args.repeats or (5 if args.quick else 7)
    data = synthetic(n, (1, 28, 28))
    peak = matmul_peak(1.0 if args.quick else 3.0)
    peak_bf16 = matmul_peak(1.0 if args.quick else 3.0, dtype=torch.bfloat16)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, matmul peak fp32 {peak:.0f} GFLOP/s, "
          f"bf16 {peak_bf16:.0f} GFLOP/s")
    plain_epoch(data), engine_epoch(data, 2), engine_epoch(data, 2, "bf16")  # warm-up: allocator, kernels
    plain, engine, engine_bf16 = [], [], []
    for r in range(repeats):  # interleaved, so drifts in machine load hit all three alike
        plain.append(plain_epoch(data, r))
        engine.append(engine_epoch(data, args.members))
        engine_bf16.append(engine_epoch(data, args.members, "bf16"))
        print(f"  repeat {r}: plain {plain[-1]:8.0f} ex/s   engine fp32 {engine[-1]:8.0f}   "
              f"engine bf16 {engine_bf16[-1]:8.0f} ex/s per model", flush=True)
    p, e, b = statistics.median(plain), statistics.median(engine), statistics.median(engine_bf16)
    flops = lenet_flops_per_example()
    print(f"lenet-300-100 batch 60, {n} examples, median of {repeats}:")
    for name, rate, top, unit in [("plain loop (fp32)", p, peak, "fp32"), (f"engine K={args.members} fp32", e, peak, "fp32"),
                                  (f"engine K={args.members} bf16", b, peak_bf16, "bf16")]:
        print(f"  {name:18s}: {rate:9.0f} examples/s per model ({rate * flops / 1e9 / top:5.1%} of {unit} peak), "
              f"{60_000 / rate:.2f} s per model-epoch of 60k")
    print(f"  speedup over the plain loop: engine fp32 {e / p:.2f}, engine bf16 {b / p:.2f}")
    best, name = max((e, "fp32"), (b, "bf16"))
    print(f"engine precision for the last line: {name}")
    print(f"speedup_vs_plain_loop={best / p:.2f}")


if __name__ == "__main__":
    main()
