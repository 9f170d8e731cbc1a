"""The run store: one folder per experiment hash, written so that a crash loses nothing.

Layout of `<store>/<hash>/`:

    spec.json                 the experiment, as written by ExperimentSpec.to_dict()
    init.pt, init.json        the full initial state dict, and its sha256
    round_000/                one folder per round
        mask.pt start.pt trained.pt metrics.json
        COMPLETE.json         written last: the sha256 of every file above
    COMPLETE.json             written last of all: the run is finished

and `<store>/measures/<key digest>.json`: the analyses' landscape measures (LII,
error barriers), each with the key of what it measured, so that a report rebuilt
from the same runs reads them back instead of measuring again.

Every file is written to a temporary name and renamed into place, so a reader
sees either nothing or a whole file. A round whose marker is missing, or whose
files do not match the checksums in its marker, is treated as not done.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from .atomic import atomic_write_bytes, atomic_write_json
from .spec import ExperimentSpec

MARKER = "COMPLETE.json"
MEASURES = "measures"  # beside the run folders; never a 16-hex-digit hash
ROUND_FILES = ("mask.pt", "start.pt", "trained.pt", "metrics.json")


class StoreError(RuntimeError):
    """The store cannot be used; the message says how to fix it."""


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in tensors.items()}, buffer)
    return buffer.getvalue()


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


@dataclass
class RoundRecord:
    """What one round of IMP (or a control) leaves behind."""

    index: int
    mask: dict[str, torch.Tensor]
    start: dict[str, torch.Tensor]  # weights the round's training began from
    trained: dict[str, torch.Tensor]  # weights at the end of training
    metrics: dict[str, Any]


@dataclass
class Run:
    spec: ExperimentSpec
    path: Path
    init: dict[str, torch.Tensor]
    rounds: list[RoundRecord] = field(default_factory=list)
    complete: bool = False

    def metric(self, key: str) -> list[Any]:
        return [r.metrics[key] for r in self.rounds]

    def at(self, index: int) -> RoundRecord | None:
        """Its round `index` of the schedule, or None where it has none (not trained, or not yet): a control
        with `trained_rounds` stores only some."""
        return next((r for r in self.rounds if r.index == index), None)


class RunStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe.")
            probe.close()
        except OSError as err:
            raise StoreError(f"run store {self.root} is not writable ({err.strerror}); "
                             f"pass --store DIR with a writable folder") from err

    def check_can_write(self) -> None:
        """Like check_writable, but creates nothing: the store, or the nearest existing folder it
        would be created in, must be a folder that accepts files (checked before a session starts)."""
        place = self.root.absolute()
        while not place.exists():
            place = place.parent
        if not place.is_dir() or not os.access(place, os.W_OK | os.X_OK):
            raise StoreError(f"run store {self.root} is not writable ({place} is not a writable folder); "
                             f"pass --store DIR with a writable folder")

    def path(self, spec: ExperimentSpec) -> Path:
        return self.root / spec.hash()

    def is_complete(self, spec: ExperimentSpec) -> bool:
        return (self.path(spec) / MARKER).is_file()

    def finished(self) -> dict[str, ExperimentSpec]:
        """Every finished run in the store, by the folder it is stored under (which may not be what this code
        hashes its spec to: `replication verify` reports such a run)."""
        if not self.root.is_dir():
            raise StoreError(f"no run store at {self.root}; pass --store DIR (the folder the runs were written to)")
        return {folder.name: ExperimentSpec.from_dict(json.loads((folder / "spec.json").read_text()))
                for folder in sorted(self.root.iterdir())
                if (folder / MARKER).is_file() and (folder / "spec.json").is_file()}

    def is_running(self, spec: ExperimentSpec) -> bool:
        """Whether some process holds the run's lock now, i.e. is computing it."""
        lock = self.path(spec) / ".lock"
        if not lock.is_file():
            return False
        with open(lock, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    @contextlib.contextmanager
    def lock(self, spec: ExperimentSpec) -> Iterator[None]:
        """Exclusive while computing: a second process asking for the same run waits, then reuses."""
        folder = self.path(spec)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- writing -------------------------------------------------------------
    def begin(self, spec: ExperimentSpec, init: dict[str, torch.Tensor]) -> None:
        """Write the spec and the initial weights (again, if they are missing or corrupt)."""
        folder = self.path(spec)
        if not (folder / "spec.json").is_file():
            atomic_write_json(folder / "spec.json", spec.to_dict())
        payload = tensor_bytes(init)
        if _read_init(folder) is None:
            atomic_write_bytes(folder / "init.pt", payload)
            atomic_write_json(folder / "init.json", {"init.pt": sha256(payload)})

    def save_round(self, spec: ExperimentSpec, record: RoundRecord) -> None:
        folder = self.path(spec) / f"round_{record.index:03d}"
        payloads = {
            "mask.pt": tensor_bytes(record.mask),
            "start.pt": tensor_bytes(record.start),
            "trained.pt": tensor_bytes(record.trained),
            "metrics.json": (json.dumps(record.metrics, indent=1, sort_keys=True) + "\n").encode(),
        }
        for name, payload in payloads.items():
            atomic_write_bytes(folder / name, payload)
        atomic_write_json(folder / MARKER, {name: sha256(p) for name, p in payloads.items()})

    def finish(self, spec: ExperimentSpec, n_rounds: int) -> None:
        atomic_write_json(self.path(spec) / MARKER, {"rounds": n_rounds, "hash": spec.hash()})

    def save_extra(self, spec: ExperimentSpec, name: str, tensors: dict[str, torch.Tensor]) -> None:
        atomic_write_bytes(self.path(spec) / name, tensor_bytes(tensors))

    def save_measure(self, key: tuple, values: list[float]) -> None:
        """Keep an analysis's numbers (a landscape measure) beside the runs it read, under what it measured."""
        with contextlib.suppress(OSError):  # a store this process cannot write to: measured again next time
            atomic_write_json(self._measure_path(key), {"key": list(key), "values": values})

    # -- reading -------------------------------------------------------------
    def load_measure(self, key: tuple) -> list[float] | None:
        try:
            record = json.loads(self._measure_path(key).read_text())
        except (OSError, ValueError):
            return None
        return record["values"] if isinstance(record, dict) and record.get("key") == list(key) else None

    def _measure_path(self, key: tuple) -> Path:
        return self.root / MEASURES / f"{sha256(json.dumps(list(key)).encode())[:16]}.json"

    def load_extra(self, spec: ExperimentSpec, name: str) -> dict[str, torch.Tensor] | None:
        path = self.path(spec) / name
        return torch.load(path, weights_only=True) if path.is_file() else None

    def round_metrics(self, spec: ExperimentSpec) -> list[dict[str, Any]]:
        """The metrics of each round written so far, in order (no tensors read); an unreadable file is skipped."""
        out = []
        for metrics in sorted(self.path(spec).glob("round_*/metrics.json")):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(metrics.read_text()))
        return out

    def round_seconds(self, spec: ExperimentSpec) -> list[float]:
        """The training time of each round written so far (a round whose time does not read is skipped)."""
        out = []
        for metrics in self.round_metrics(spec):
            with contextlib.suppress(ValueError):
                out.append(float(metrics.get("seconds", 0.0)))
        return out

    def load_round(self, spec: ExperimentSpec, index: int) -> RoundRecord | None:
        return _read_round(self.path(spec) / f"round_{index:03d}", index)

    def load(self, spec: ExperimentSpec) -> Run:
        return load_run(self.path(spec))

    def load_complete(self, spec: ExperimentSpec) -> Run | None:
        """The finished run, verified: every round its marker counts is intact, or None.

        A finished run with a damaged file loses its completion marker, so the
        damaged rounds are recomputed instead of being returned short.
        """
        folder = self.path(spec)
        if not (folder / MARKER).is_file():
            return None
        try:
            expected = json.loads((folder / MARKER).read_text())["rounds"]
            run = load_run(folder)
        except (OSError, ValueError, KeyError, StoreError) as err:
            warnings.warn(f"{folder}: finished run unreadable ({err}); it will be recomputed")
            expected, run = -1, None
        if run is None or len(run.rounds) != expected:
            with contextlib.suppress(FileNotFoundError):
                (folder / MARKER).unlink()
            return None
        return run


def _read_round(folder: Path, index: int) -> RoundRecord | None:
    """A round whose files match its marker, or None (with a warning if something is corrupt)."""
    marker = folder / MARKER
    if not marker.is_file():
        return None
    try:
        sums = json.loads(marker.read_text())
        payloads = {name: (folder / name).read_bytes() for name in ROUND_FILES}
    except (OSError, ValueError) as err:
        warnings.warn(f"{folder}: unreadable ({err}); the round will be recomputed")
        return None
    bad = [name for name, p in payloads.items() if sums.get(name) != sha256(p)]
    if bad:
        warnings.warn(f"{folder}: {', '.join(bad)} do not match their checksums; the round will be recomputed")
        return None
    load = lambda name: torch.load(io.BytesIO(payloads[name]), weights_only=True)  # noqa: E731
    return RoundRecord(index, load("mask.pt"), load("start.pt"), load("trained.pt"),
                       json.loads(payloads["metrics.json"]))


def _read_init(folder: Path) -> dict[str, torch.Tensor] | None:
    try:
        payload = (folder / "init.pt").read_bytes()
        if json.loads((folder / "init.json").read_text()).get("init.pt") != sha256(payload):
            return None
    except (OSError, ValueError):
        return None
    return torch.load(io.BytesIO(payload), weights_only=True)


def load_run(path: str | os.PathLike) -> Run:
    """Read a stored run: its spec, initial weights, and every valid round in order.

    Each round gives `mask`, `start` and `trained` (name -> tensor) and `metrics`
    (a dict with density, accuracies, losses, pruning threshold, ...).
    """
    folder = Path(path)
    if not (folder / "spec.json").is_file():
        raise StoreError(f"{folder} is not a run folder (no spec.json); pass the folder printed by `replication imp`")
    spec = ExperimentSpec.from_dict(json.loads((folder / "spec.json").read_text()))
    init = _read_init(folder)
    if init is None:
        raise StoreError(f"{folder}/init.pt is missing or does not match its checksum; "
                         f"rerun the experiment to restore it")
    run = Run(spec, folder, init, complete=(folder / MARKER).is_file())
    for index in spec.stored_rounds:  # in order, up to the first one missing
        if (record := _read_round(folder / f"round_{index:03d}", index)) is None:
            break
        run.rounds.append(record)
    return run
