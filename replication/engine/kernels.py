"""The compiled masked optimizer step (masked_step.c), called through ctypes.

A plain C file compiled by the system's C compiler in about a second, not a torch
extension (those take a minute to build against torch's headers). It is built once
per source, flags and target CPU into $XDG_CACHE_HOME/replication/kernels (default
~/.cache), written atomically, and shared by every later process. Where no compiler
works, `load()` returns None, and a spec that asks for the direct bf16 step
(TrainSpec.bf16_step) stops with an error that says how to get a compiler or switch.

OpenMP: the library links libgomp.so.1, which the dynamic loader resolves to the copy
torch has already loaded (pip's torch ships libgomp), so both share one thread pool. A
torch built on another OpenMP runtime would give two pools waiting on each other.
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
        self._adam, self._sgd, self._xent = library.adam_step, library.sgd_step, library.softmax_xent
        f, i64, ptr = ctypes.c_float, ctypes.c_int64, ctypes.c_void_p
        self._adam.argtypes = [_Step, f, f, f, f, f, f, f]
        self._sgd.argtypes = [_Step, f, f, f]
        self._xent.argtypes = [i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ctypes.c_int]
        self._adam.restype = self._sgd.restype = self._xent.restype = None

    def adam(self, p, exp_avg, exp_avg_sq, grad, mask, copy, *, lr: float, betas: tuple[float, float],
             eps: float, weight_decay: float, step: int) -> None:
        beta1, beta2 = betas
        self._adam(self._args(p, exp_avg, exp_avg_sq, grad, mask, copy), lr / (1 - beta1 ** step), 1 - beta1,
                   beta2, 1 - beta2, eps, weight_decay, (1 - beta2 ** step) ** 0.5)

    def sgd(self, p, momentum_buffer, grad, mask, copy, *, lr: float, momentum: float, weight_decay: float) -> None:
        self._sgd(self._args(p, momentum_buffer, None, grad, mask, copy), lr, momentum, weight_decay)

    def softmax_xent(self, logits: torch.Tensor, labels: torch.Tensor,
                     row_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """logits: K×classes×rows bf16, labels: K·rows int64, row_weight: rows float32. Returns each member's
        weighted cross-entropy (K), d(Σ losses)/d(logits) rounded to bf16 (K×classes×rows), and its sum over
        rows (K×classes, the bias gradient)."""
        k, classes, rows = logits.shape
        if (logits.dtype != torch.bfloat16 or labels.dtype != torch.int64 or row_weight.dtype != torch.float32
                or labels.numel() != k * rows or row_weight.numel() != rows
                or any(t.device.type != "cpu" for t in (logits, labels, row_weight))):
            raise ValueError("softmax_xent takes K×classes×rows bf16 logits, K·rows int64 labels and rows float32 "
                             "weights, on the CPU")
        logits, labels, row_weight = logits.contiguous(), labels.contiguous(), row_weight.contiguous()
        losses, grad = torch.empty(k), torch.empty_like(logits)
        bias_grad = torch.empty(k, classes)
        self._xent(k, classes, rows, *map(_address, (logits, labels, row_weight, losses, grad, bias_grad)),
                   torch.get_num_threads())
        return losses, grad, bias_grad

    @staticmethod
    def _args(p, s1, s2, grad, mask, copy) -> _Step:
        k, n = grad.shape[0], grad[0].numel()
        operands = [t for t in (p, s1, s2, grad, mask, copy) if t is not None]
        if any(t.device.type != "cpu" for t in operands):
            raise ValueError("the compiled step runs on CPU tensors only")
        for t in (p, s1, s2):
            if t is not None and (t.dtype != torch.float32 or not t.is_contiguous() or t.shape != p.shape):
                raise ValueError("parameters and their state must be contiguous float32 of one shape")
        if (p.shape[0] != k or p[0].numel() < n or not grad.is_contiguous()
                or grad.dtype not in (torch.float32, torch.bfloat16)):
            raise ValueError(f"gradient {tuple(grad.shape)} {grad.dtype} does not fit parameters {tuple(p.shape)}")
        if copy is None or copy.dtype != torch.bfloat16 or not copy.is_contiguous() or copy.numel() != k * n:
            raise ValueError(f"the bf16 copy must be a contiguous {k}×{n} bfloat16 tensor")
        if mask is not None and (mask.dtype != torch.uint8 or not mask.is_contiguous() or mask.numel() != k * n):
            raise ValueError(f"the mask must be a contiguous {k}×{n} uint8 tensor")
        return _Step(k, n, p[0].numel(), _address(p), _address(s1), _address(s2), _address(grad),
                     int(grad.dtype == torch.bfloat16), _address(mask), _address(copy), torch.get_num_threads())


def _address(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


@functools.cache
def load() -> MaskedStep | None:
    """The compiled step, or None (with one warning) where it cannot be built here."""
    try:
        return MaskedStep(ctypes.CDLL(str(_built())))
    except (OSError, subprocess.SubprocessError, RuntimeError) as error:
        warnings.warn(f"the compiled optimizer step is unavailable ({error}); bf16 population training needs "
                      f"bf16_step='autograd' here", stacklevel=2)
        return None


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "replication" / "kernels"


def _built() -> Path:
    compiler = os.environ.get("CC", "cc").split()
    if shutil.which(compiler[0]) is None:
        if shutil.which("gcc") is None:
            raise RuntimeError(f"no C compiler: {compiler[0]!r} is not on PATH, nor gcc (set CC)")
        compiler = ["gcc"]
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), " ".join(compiler + list(FLAGS)).encode(),
                                     _target(compiler).encode()])).hexdigest()[:16]
    target = cache_dir() / f"masked_step-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:  # same filesystem: the rename is atomic
        built = Path(scratch) / target.name
        result = subprocess.run([*compiler, *FLAGS, str(SOURCE), "-o", str(built), "-lm"],
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(compiler)} failed: {' | '.join(result.stderr.strip().splitlines()[-3:])}")
        os.replace(built, target)
    return target


def _target(compiler: list[str]) -> str:
    """What -march=native means here, as the compiler resolves it (its cc1 command line): a library built
    for one CPU may not run on another that shares the cache, and an illegal instruction cannot be caught."""
    probe = subprocess.run([*compiler, "-march=native", "-E", "-v", "-"], input="", capture_output=True, text=True,
                           timeout=60)
    lines = [line for line in probe.stderr.splitlines() if "cc1" in line and "-march=" in line]
    return "\n".join(lines) or platform.machine() + probe.stderr
