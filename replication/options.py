"""The session's options, declared once: `pytest claims` and the `replication` CLI both get their flags,
defaults, environment variables and checks from `SessionOptions`.

A flag is added with `add_flags(add, names)`, where `add` is pytest's `group.addoption` or argparse's
`add_argument` (they take the same arguments). `SessionOptions.read(values, environ)` builds the frozen
object from parsed values, reading the environment once; `check()` validates it, once, before anything
is written; `pytest_args()` turns it back into the flags of a pytest session (what `replication run`
starts).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .registry import SCALES

EXECUTORS = ("inprocess", "ray")
DEVICES = "cpu or cuda"


class OptionError(ValueError):
    """A bad option; the message is one line that names the problem and the fix."""


def _flag(help: str, *, kind: Any = str, choices: tuple[str, ...] | None = None, env: str | None = None,
          fallback: Any = None, default: Any = None) -> Any:
    """An option: its help, how its text is parsed (`bool`: a switch), the environment variable read when the
    flag is absent, and the value used when neither is given."""
    return field(default=default, metadata={"help": help, "kind": kind, "choices": choices, "env": env,
                                            "fallback": fallback})


@dataclass(frozen=True)
class SessionOptions:
    scale: str | None = _flag("which scale of every claim to run (default: smoke, unless -m selects)",
                              choices=SCALES)
    store: str | None = _flag("run store folder (default: ./runs, or $REPLICATION_STORE)", env="REPLICATION_STORE",
                              fallback="runs")
    device: str = _flag(f"{DEVICES} (default: cpu)", default="cpu")
    data_dir: str | None = _flag("where datasets live (default: $REPLICATION_DATA, then the usual places)",
                                 env="REPLICATION_DATA")
    seeds: int | None = _flag("override the number of seeds of every claim", kind=int)
    # Not ./reports: in a checkout that is the committed reports, rewritten only when asked (`./run smoke`).
    report_dir: str | None = _flag("where <scale>/REPORT.md goes (default: reports/ inside the run store)")
    no_train: bool = _flag("only read stored runs (rebuild the report)", kind=bool, default=False)
    no_report: bool = _flag("do not write the report", kind=bool, default=False)
    executor: str = _flag("where runs are computed: inprocess (default) or ray (one task per seed and arm family)",
                          choices=EXECUTORS, default="inprocess")
    ray_address: str | None = _flag("join this Ray cluster (default: start a local one)")
    cpus_per_task: float = _flag("CPUs each Ray task asks for (default 1)", kind=float, default=1.0)
    gpus_per_task: float | None = _flag("GPUs each Ray task asks for (default: 1 with --device cuda, else 0)",
                                        kind=float)
    population: int | None = _flag("most convnets trained as one vmapped population (TrainSpec.stacking='vmap'); "
                                   "default: all that train alike. On a GPU, benchmarks/gpu_session.sh prints what fits. With "
                                   "vmap a member's last bits depend on its company, so keep it fixed", kind=int)
    start_ahead: bool = _flag("with --executor ray on a local CPU cluster, start every run the session's claims ask "
                              "for at once, so that no worker idles while one claim's runs finish (the driver's "
                              "analyses then share the cores; always on where the workers have their own: GPU "
                              "tasks, a remote cluster)", kind=bool, default=False)
    allow_cpu: bool = _flag("run gpu-marked (paper-scale) claims on the CPU anyway: slow, for dry runs",
                            kind=bool, default=False)

    # -- building ------------------------------------------------------------------------
    @classmethod
    def read(cls, values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> "SessionOptions":
        """From parsed flags (missing or None: not given), the environment, then each option's fallback."""
        environ = os.environ if environ is None else environ
        out = {}
        for f in dataclasses.fields(cls):
            value = values.get(f.name)
            if value is None and f.metadata["env"]:
                value = environ.get(f.metadata["env"]) or None
            if value is None:
                value = f.metadata["fallback"] if f.metadata["fallback"] is not None else f.default
            out[f.name] = value
        if out["report_dir"] is None:
            out["report_dir"] = str(Path(out["store"]) / "reports")
        return cls(**out)

    def pytest_args(self) -> list[str]:
        """The flags of a pytest session with these options (environment already resolved)."""
        args: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or value is False or (value == f.default and f.metadata["fallback"] is None):
                continue
            args += [flag(f.name)] if value is True else [flag(f.name), str(value)]
        return args

    # -- checking --------------------------------------------------------------------------
    def check(self, store: bool = True, device_present: bool = True) -> None:
        """Every option that can be wrong before work starts, as one OptionError line; creates nothing.
        store=False: the command only reads the store, if there is one (`replication status`); device_present=
        False: the device is only named, not used (an estimate for a GPU made on a laptop)."""
        if self.seeds is not None and self.seeds < 2:
            raise OptionError(f"--seeds must be at least 2 (the seed is the statistical unit), got {self.seeds}")
        check_device(self.device, present=device_present)
        if self.data_dir and not Path(self.data_dir).expanduser().is_dir():
            raise OptionError(f"--data-dir {self.data_dir} does not exist; pass --data-dir (or set "
                              f"$REPLICATION_DATA) to the folder that holds the datasets")
        if store:
            self._check_store()
        self.make_executor(connect=False)

    def _check_store(self) -> None:
        from .store import RunStore, StoreError

        if self.no_train:
            if not Path(self.store).expanduser().is_dir():
                raise OptionError(f"--store {self.store} does not exist; a report is rebuilt only from stored runs: "
                                  f"pass the store that holds them, or compute them with `replication run`")
            return
        try:
            RunStore(self.store).check_can_write()
        except StoreError as err:
            raise OptionError(str(err)) from None

    def make_executor(self, connect: bool = True):
        """The executor these options ask for; connect=True also starts or joins a Ray cluster now."""
        from .executors import ExecutorError, make_executor

        try:
            return make_executor(self.executor, self.ray_address, self.device, self.cpus_per_task,
                                 self.gpus_per_task, connect=connect, population=self.population,
                                 start_ahead=self.start_ahead)
        except ExecutorError as err:
            raise OptionError(str(err)) from None


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_flags(add: Callable[..., Any], names: Iterable[str] | None = None) -> None:
    """Declare the options `names` (default: all) with `add` (argparse's add_argument or pytest's addoption).
    Every default is None (or False): SessionOptions.read fills in the environment and the fallbacks."""
    fields = {f.name: f for f in dataclasses.fields(SessionOptions)}
    for name in names if names is not None else fields:
        meta = fields[name].metadata
        if meta["kind"] is bool:
            add(flag(name), action="store_true", default=False, help=meta["help"])
        else:
            add(flag(name), type=meta["kind"], choices=meta["choices"], default=None, help=meta["help"])


def check_device(device: str, present: bool = True) -> str:
    if device == "cpu":  # the default answers without importing torch (the plugin checks in every pytest session)
        return device
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise OptionError(f"unknown --device {device!r}; use {DEVICES}")
    if kind == "cuda" and present and not torch.cuda.is_available():
        raise OptionError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    return device
