"""Where tensors live and torch's process-wide precision switches, in one place.

Stored rounds (masks, weights, optima) live on the host; a round's training and the
landscape measures run on the data's device. Every crossing goes through here, so
that a CPU tensor never meets a device tensor (which works on the CPU alone and
fails at the first GPU run).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

Tensors = dict[str, torch.Tensor]


def to_device(tensors: Tensors, device: torch.device | str) -> Tensors:
    return {k: v.to(device) for k, v in tensors.items()}


def on_host(tensors: Tensors) -> Tensors:
    """Detached host copies (what the store keeps and the next round plans from)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}


@contextlib.contextmanager
def tf32(enabled: bool):
    """torch's TF32 switches for matmuls and cuDNN convolutions set for the duration, then restored. cuDNN's own
    default is on, so without this an "fp32" evaluation on an NVIDIA GPU would round its inputs to TF32."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The CPU's vendor and model name as the kernel reports them ('unknown' where it does not)."""
    found = {"vendor_id": "unknown", "model name": "unknown"}
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in found and found[key.strip()] == "unknown":
            found[key.strip()] = value.strip()
    return {"vendor": found["vendor_id"], "model": found["model name"]}


def cpu_kernels() -> tuple[str, str, str]:
    """What a CPU training's bits depend on besides the code and the thread count: the torch version, the ATen
    capability it dispatches to, and the CPU vendor (MKL picks its code path by vendor as well as by instruction
    set: a Xeon and an AMD EPYC at AVX512 train different bits from the same code)."""
    return torch.__version__.split("+")[0], torch.backends.cpu.get_cpu_capability(), cpu_info()["vendor"]
