"""The compiled masked optimizer step (masked_step.c), called through ctypes.

A plain C file compiled by the system's C compiler in about a second, not a torch
extension (those take a minute to build against torch's headers). It is built once
per source, flags and CPU into ~/.cache/replication/kernels, written atomically, and
shared by every later process. Where no compiler works, `load()` returns None and
population training keeps its torch-op path; REPLICATION_KERNELS=off forces that.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("masked_step.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-ffp-contract=off", "-fno-math-errno")
CACHE = Path("~/.cache/replication/kernels")


class _Step(ctypes.Structure):
    """masked_step.c's `struct step`."""

    _fields_ = [("members", ctypes.c_int64), ("n", ctypes.c_int64), ("stride", ctypes.c_int64),
                ("p", ctypes.c_void_p), ("s1", ctypes.c_void_p), ("s2", ctypes.c_void_p),
                ("g", ctypes.c_void_p), ("g_bf16", ctypes.c_int), ("mask", ctypes.c_void_p),
                ("copy", ctypes.c_void_p), ("threads", ctypes.c_int)]


class MaskedStep:
    """One fused optimizer step over a K-member stack (see masked_step.c for the arithmetic).

    p, s1, s2: K×stride float32 (the padded leaves and their state); grad: K×n (n ≤ stride),
    bfloat16 or float32; mask: K×n uint8, or None where nothing is pruned; copy: K×n bfloat16
    to receive the new weights in bf16.
    """

    def __init__(self, library: ctypes.CDLL):
        self._adam, self._sgd = library.adam_step, library.sgd_step
        f = ctypes.c_float
        self._adam.argtypes = [_Step, f, f, f, f, f, f, f]
        self._sgd.argtypes = [_Step, f, f, f]
        self._adam.restype = self._sgd.restype = None

    def adam(self, p, exp_avg, exp_avg_sq, grad, mask, copy, *, lr: float, betas: tuple[float, float],
             eps: float, weight_decay: float, step: int) -> None:
        beta1, beta2 = betas
        self._adam(self._args(p, exp_avg, exp_avg_sq, grad, mask, copy), lr / (1 - beta1 ** step), 1 - beta1,
                   beta2, 1 - beta2, eps, weight_decay, (1 - beta2 ** step) ** 0.5)

    def sgd(self, p, momentum_buffer, grad, mask, copy, *, lr: float, momentum: float, weight_decay: float) -> None:
        self._sgd(self._args(p, momentum_buffer, None, grad, mask, copy), lr, momentum, weight_decay)

    @staticmethod
    def _args(p, s1, s2, grad, mask, copy) -> _Step:
        k, n = grad.shape[0], grad[0].numel()
        for t in (p, s1, s2):
            if t is not None and (t.dtype != torch.float32 or not t.is_contiguous() or t.shape != p.shape):
                raise ValueError("parameters and their state must be contiguous float32 of one shape")
        if p.shape[0] != k or p[0].numel() < n or not grad.is_contiguous() or grad.dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"gradient {tuple(grad.shape)} {grad.dtype} does not fit parameters {tuple(p.shape)}")
        if copy is None or copy.dtype != torch.bfloat16 or not copy.is_contiguous() or copy.numel() != k * n:
            raise ValueError(f"the bf16 copy must be a contiguous {k}×{n} bfloat16 tensor")
        if mask is not None and (mask.dtype != torch.uint8 or not mask.is_contiguous() or mask.numel() != k * n):
            raise ValueError(f"the mask must be a contiguous {k}×{n} uint8 tensor")
        ptr = lambda t: None if t is None else t.data_ptr()  # noqa: E731
        return _Step(k, n, p[0].numel(), ptr(p), ptr(s1), ptr(s2), ptr(grad), int(grad.dtype == torch.bfloat16),
                     ptr(mask), ptr(copy), torch.get_num_threads())


@functools.cache
def load() -> MaskedStep | None:
    """The compiled step, or None (with one warning) where it cannot be built here."""
    if os.environ.get("REPLICATION_KERNELS", "on").lower() in ("off", "0", "no"):
        return None
    try:
        return MaskedStep(ctypes.CDLL(str(_built())))
    except (OSError, subprocess.SubprocessError, RuntimeError) as error:
        warnings.warn(f"the compiled optimizer step is unavailable ({error}); bf16 population training falls "
                      f"back to torch ops (slower, same arithmetic up to rounding)", stacklevel=2)
        return None


def _built() -> Path:
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler on PATH (set CC)")
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode(),
                                     _cpu_signature().encode()])).hexdigest()[:16]
    target = CACHE.expanduser() / f"masked_step-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:  # same filesystem: the rename is atomic
        built = Path(scratch) / target.name
        result = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(built), "-lm"],
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {result.stderr.strip().splitlines()[-1:]}")
        os.replace(built, target)
    return target


def _cpu_signature() -> str:
    """-march=native code is only valid on the CPU it was built for: key the cache by its model and flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    wanted = [line for line in lines if line.startswith(("model name", "flags"))]
    return platform.machine() + "\n" + "\n".join(sorted(set(wanted)))
