"""`replication`: a thin command line over the library.

Every user error (unknown preset, bad value, missing data, unwritable store)
ends as one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .options import OptionError, SessionOptions, add_flags
from .spec import CONTROLS, SpecError, TrainSpec

COMMON = ("store", "device", "data_dir")  # every command that touches runs
EXECUTION = ("executor", "ray_address", "cpus_per_task", "gpus_per_task", "population")  # commands that compute


class UsageError(Exception):
    pass


def usage_errors() -> tuple[type[Exception], ...]:
    """The errors that are the user's to fix: one line and exit 2. Imported on use: they load torch."""
    from .data import DataError
    from .executors import ExecutorError
    from .store import StoreError

    return SpecError, DataError, StoreError, ExecutorError, OptionError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the problem and where help is) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"replication: error: {message}; see `{self.prog} --help`\n")


_SETTING_TYPES = {"int": int, "float": float, "str": str, "bool": lambda v: {"true": True, "false": False}[v.lower()],
                  "tuple[int, ...]": lambda v: tuple(int(x) for x in v.strip("()").split(",") if x.strip())}
# What a value of each kind looks like on the command line (a hint after a bad value).
_SETTING_EXAMPLES = {"int": "3", "float": "0.1", "str": "sgd", "bool": "true", "tuple[int, ...]": "40,60 (or none: ())"}


def parse_setting(text: str) -> tuple[str, Any]:
    """'momentum=0.8' -> ('momentum', 0.8): one training setting of the preset replaced (`--set`)."""
    fields = {f.name: f for f in dataclasses.fields(TrainSpec)}
    key, eq, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not eq or not key or not raw.strip():
        raise argparse.ArgumentTypeError(f"malformed setting {text!r}; use KEY=VALUE, e.g. --set momentum=0.8")
    if key not in fields:
        raise argparse.ArgumentTypeError(f"unknown training setting {key!r}; valid: {', '.join(fields)}")
    kind = fields[key].type  # a string: this module's annotations are postponed
    if kind not in _SETTING_TYPES:
        raise argparse.ArgumentTypeError(f"{key} cannot be set from the command line; build a TrainSpec in Python")
    try:
        return key, _SETTING_TYPES[kind](raw.strip())
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"bad value {raw!r} for {key} (expected {kind}); "
                                         f"e.g. --set {key}={_SETTING_EXAMPLES[kind]}") from None


def parse_seeds(text: str) -> list[int]:
    """'3' -> [3]; '0-7' -> [0..7]; '1,4,9' -> [1, 4, 9]."""
    try:
        seeds: list[int] = []
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            if hi and int(hi) < int(lo):
                raise argparse.ArgumentTypeError(f"bad seeds {text!r}; a range runs from low to high, e.g. {hi}-{lo}")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad seeds {text!r}; use e.g. 3, 0-7 or 1,4,9") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"bad seeds {text!r}; seeds are non-negative integers")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="replication", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"replication {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    imp = sub.add_parser("imp", help="run one IMP experiment (or a control) and print accuracy by density",
                         epilog="example: replication imp --preset lenet-digits --rounds 20 --seed 0-7 --control reinit",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("--preset", required=True, help="a named setting; see `replication presets`")
    imp.add_argument("--rounds", type=int, help="pruning rounds (default: the preset's)")
    imp.add_argument("--seed", type=parse_seeds, default=[0], help="seed(s): 3, 0-7 or 1,4,9 (init and SGD noise)")
    imp.add_argument("--control", choices=[c for c in CONTROLS if c != "imp"],
                     help="also run this control beside IMP")
    imp.add_argument("--batch-size", type=int)
    imp.add_argument("--lr", type=float)
    imp.add_argument("--epochs", type=int)
    imp.add_argument("--warmup-epochs", type=int)
    imp.add_argument("--prune-fraction", type=float, help="share of the surviving weights pruned per round")
    imp.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="replace any training setting of the preset, e.g. --set momentum=0.8 (repeatable)")
    add_flags(imp.add_argument, COMMON + EXECUTION)
    presets = sub.add_parser("presets", help="list the named settings, or every setting of one",
                             epilog="examples: replication presets\n          replication presets --show resnet20-cifar10",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    presets.add_argument("--show", metavar="NAME", help="print every training and pruning setting of one preset")
    sub.add_parser("claims", help="list the paper's claims with their figures and the scales they run at",
                   epilog="example: replication claims")
    run = sub.add_parser("run", help="run claims (the same code path as pytest) and write the report",
                         epilog="examples: replication run random-reinit-fails --scale smoke\n"
                                "          replication run all --scale paper --device cuda --executor ray",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("claim", nargs="+", help="claim ids (see `replication claims`), or 'all'")
    run.add_argument("--dry-run", action="store_true",
                     help="train nothing: print what the claims need and how long it would take (as `status`)")
    add_flags(run.add_argument, ("scale", "seeds", "report_dir") + COMMON + EXECUTION)
    status = sub.add_parser("status", help="what is stored, finished, partial or missing for a scale",
                            epilog="examples: replication status --scale smoke --store runs\n"
                                   "          replication status --scale paper --device cuda --claim random-reinit-fails",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--claim", action="append", default=[], metavar="ID",
                        help="only this claim (repeatable), e.g. the core ones of a GPU budget")
    add_flags(status.add_argument, ("scale",) + COMMON)
    probe = sub.add_parser("probe", help="the stability probe: which batch sizes are unstable, semistable and "
                                         "stable at a scale (dense and early-round LII)",
                           epilog="example: replication probe --scale smoke --store runs")
    add_flags(probe.add_argument, ("scale", "report_dir", "no_train") + COMMON + EXECUTION)
    report = sub.add_parser("report", help="rebuild the report from the run store, without training",
                            epilog="example: replication report --scale smoke --store runs")
    add_flags(report.add_argument, ("scale", "report_dir") + COMMON)
    compare = sub.add_parser("compare", help="every claim's verdict at every scale with a committed report, side by "
                                             "side (from the reports' results.json; nothing trains)",
                             epilog="example: replication compare --reports reports --figure reports/verdicts.png")
    compare.add_argument("--reports", default="reports", help="the folder of <scale>/results.json (default: reports)")
    compare.add_argument("--figure", help="also draw the verdict matrix (claims × scales) to this PNG")
    compare.add_argument("--update-readme", metavar="README",
                         help="put the table and the figure's link between README's compare markers")
    verify = sub.add_parser("verify", help="retrain the first rounds of some stored runs with this code and compare "
                                           "the bits (exit 1 where they differ)",
                            epilog="examples: replication verify --store runs\n"
                                   "          replication verify --store runs --run c7af622ab6ab8e68 --rounds 3",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("--runs", type=int, default=2, help="IMP runs drawn from the store (default 2)")
    verify.add_argument("--run", action="append", default=[], metavar="HASH",
                        help="verify this run instead (repeatable; a control retrains its IMP run's rounds too)")
    verify.add_argument("--rounds", type=int, default=2, help="rounds retrained, the dense one included (default 2)")
    verify.add_argument("--threads", type=int, help="CPU threads to retrain with (default: what the run recorded, "
                                                    "else 1, a Ray worker's)")
    verify.add_argument("--sample-seed", type=int, default=0, help="which runs are drawn (default 0)")
    add_flags(verify.add_argument, COMMON)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        options = SessionOptions.read({**vars(args), "no_train": args.command == "report" or getattr(args, "no_train", False)})
        if args.command in ("imp", "run", "status", "report", "probe", "verify"):
            # status only estimates for --device: it needs the device named right, not present
            estimate = args.command == "status" or getattr(args, "dry_run", False)
            options.check(store=args.command not in ("status", "verify") and not estimate, device_present=not estimate)
        if args.command == "compare":
            return _compare(args)
        if args.command == "presets":
            return _presets(args.show)
        if args.command == "imp":
            return _imp(args, options)
        if args.command == "claims":
            return _claims()
        if args.command == "status":
            return _status(options, args.claim)
        if args.command == "probe":
            return _probe(options)
        if args.command == "verify":
            return _verify(args, options)
        if args.command == "run" and args.dry_run:
            return _status(options, None if args.claim == ["all"] else args.claim)
        if args.command in ("run", "report"):
            return _pytest_claims(args, options)
    except Exception as err:
        if not isinstance(err, usage_errors()):
            raise
        print(f"replication: error: {err}", file=sys.stderr)
        return 2
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Prints the scales side by side; with --figure draws the verdict matrix, with --update-readme puts both in."""
    from . import compare

    by_scale = compare.load(Path(args.reports))
    if not by_scale:
        raise UsageError(f"no <scale>/results.json under {args.reports}; pass --reports to the folder of the "
                         f"committed reports (or where `replication run` wrote them)")
    here = Path(args.update_readme).resolve().parent if args.update_readme else Path.cwd()  # links relative to it
    block = compare.table(by_scale, os.path.relpath(Path(args.reports).resolve(), here))
    if args.figure:
        compare.figure(by_scale, Path(args.figure))
        block = f"![Verdicts by claim and scale]({os.path.relpath(Path(args.figure).resolve(), here)})\n\n{block}"
    if args.update_readme and not compare.update_readme(Path(args.update_readme), block):
        raise UsageError(f"{args.update_readme} has no {compare.START} … {compare.END} markers to put the table "
                         f"between; add them where it belongs")
    print(block)
    return 0


def _presets(show: str | None = None) -> int:
    from .presets import PRESETS, TABLE_1, preset

    if show is not None:
        spec = preset(show)  # an unknown name is a SpecError: one line, exit 2
        for part, fields in (("train", spec.train), ("prune", spec.prune)):
            for f in dataclasses.fields(fields):
                print(f"{part}.{f.name:16s} {getattr(fields, f.name)!r}")
        return 0
    for name, spec in PRESETS.items():
        t = spec.train
        tag = "Table 1" if name in TABLE_1 else "CPU"
        print(f"{name:22s} {tag:8s} {t.model}/{t.dataset} {t.epochs} ep, batch {t.batch_size}, "
              f"{t.optimizer} lr {t.lr}, {spec.prune.rounds} rounds")
    return 0


def _claims() -> int:
    from .registry import CLAIMS, SCALES, SETUPS

    print("The paper's setup, measures and claims in full: docs/paper.md in the repository.\n")
    for claim in CLAIMS.values():
        scales = [s for s in SCALES if claim.id in SETUPS[s] and not SETUPS[s][claim.id].not_run] or ["none yet"]
        print(f"{claim.number:>2}  {claim.id:36s} {claim.figure}")
        print(f"    {claim.statement}")
        print(f"    scales: {', '.join(scales)}")
    return 0


def _status(options: SessionOptions, claims: list[str] | None = None) -> int:
    """Per claim and for the whole scale: finished runs, rounds done, and the remaining cost estimated from the
    stored round times of runs at the same batch size (a small batch's round costs several of a large one's),
    or, where none is stored yet, from the declared cost model (replication/cost.py)."""
    from .cost import sources
    from .registry import CLAIMS, SETUPS

    unknown = [c for c in claims or [] if c not in CLAIMS]
    if unknown:
        raise UsageError(f"unknown claim {unknown[0]!r}; see `replication claims` for the ids")
    from .store import RunStore, StoreError

    store, scale = RunStore(options.store), options.scale or "smoke"
    if store.root.exists() and not store.root.is_dir():
        raise StoreError(f"--store {store.root} is not a folder; pass the run store folder (default ./runs)")
    if store.root.exists() and not os.access(store.root, os.R_OK):
        raise StoreError(f"run store {store.root} is not readable; pass --store DIR")
    print(f"store {store.root}, scale {scale} (runs: every arm of the claim, second trainings included)")
    every = []
    for claim_id, setup in SETUPS[scale].items():
        if claims and claim_id not in claims:
            continue
        if setup.not_run:
            print(f"{CLAIMS[claim_id].number:>2} {claim_id:36s} not run at this scale: {setup.not_run}")
            continue
        specs = CLAIMS[claim_id].specs(setup)
        every += specs
        print(f"{CLAIMS[claim_id].number:>2} {claim_id:36s} {_progress(store, specs, options.device)}")
    if every:
        every = list(dict.fromkeys(every))
        print(f"   {'all claims (runs they share counted once)':36s} {_progress(store, every, options.device)}; "
              f"the time is one process's: parallel workers (--executor ray) divide it")
        for source in sorted(sources(every, options.device)):
            print(f"   cost model on {options.device}: {source} (replication/cost.py)")
    return 0


def _progress(store, specs: list, device: str = "cpu") -> str:
    """Finished, running and missing runs of `specs`, their rounds, and the time the missing rounds will take."""
    from .cost import round_seconds

    finished = sum(store.is_complete(s) for s in specs)
    running = sum(not store.is_complete(s) and store.is_running(s) for s in specs)
    stored = {s: store.round_seconds(s) for s in specs}
    by_batch: dict[int, list[float]] = {}
    for spec, seconds in stored.items():
        by_batch.setdefault(spec.train.batch_size, []).extend(seconds)
    per_round = {b: sum(t) / len(t) for b, t in by_batch.items() if t}
    done, total = sum(map(len, stored.values())), sum(s.n_rounds for s in specs)
    left, modelled, unknown = 0.0, False, False
    for s in specs:  # a stored round time at the same batch size where there is one, else the cost model's
        seconds = per_round.get(s.train.batch_size)
        if seconds is None and (seconds := round_seconds(s, device)) is not None:
            modelled = True
        if seconds is None:
            unknown = unknown or len(stored[s]) < s.n_rounds
            continue
        left += (s.n_rounds - len(stored[s])) * seconds
    how = " (cost model)" if modelled else ""
    cost = "unknown (no stored rounds, no declared rate)" if unknown else f"~{_duration(left)}{how}"
    return (f"runs {finished}/{len(specs)} finished, {running} running, {len(specs) - finished - running} missing or "
            f"partial; rounds {done}/{total}, remaining {cost}")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _probe(options: SessionOptions) -> int:
    """Runs a scale's stability probe (stored, resumable) and prints each batch size's LII and regime."""
    from . import probe
    from .lab import MissingRuns, Session
    from .progress import RoundPrinter
    from .instability_map import MAPS
    from .registry import PROBES
    from .report import provenance, write_probes
    from .store import RunStore

    scale = options.scale or "smoke"
    if scale in MAPS:
        return _map(options, scale)
    if scale not in PROBES:
        raise UsageError(f"no stability probe is declared at scale {scale!r}; use one of "
                         f"{', '.join([*PROBES, *MAPS])}")
    specs = [s for declared in PROBES[scale] for arm in declared.arms().values() for s in arm]
    store = RunStore(options.store)
    progress = RoundPrinter.over(store, specs)
    session = Session(store, options.device, options.data_dir, progress=progress, train=not options.no_train,
                      executor=options.make_executor(connect=not options.no_train))
    try:
        surveyed = [(declared, *probe.survey(session.lab(scale), declared)) for declared in PROBES[scale]]
    except MissingRuns as err:  # --no-train: the page is rebuilt only from a probe stored whole
        raise UsageError(str(err)) from None
    progress.close()
    path = write_probes(surveyed, scale, Path(options.report_dir), provenance(device=options.device))
    print(path.read_text())
    return 0


def _map(options: SessionOptions, scale: str) -> int:
    """Runs a scale's instability map (stored, resumable), or with --no-train reads the cells already stored, and
    writes <report-dir>/<scale>/PROBE.md."""
    from . import probe
    from .instability_map import MAPS
    from .lab import Session
    from .progress import RoundPrinter
    from .report import provenance, write_map
    from .store import RunStore

    cells = MAPS[scale]
    store = RunStore(options.store)
    specs = [s for cell in cells for arm in cell.probe().arms().values() for s in arm]
    progress = None if options.no_train else RoundPrinter.over(store, specs)
    session = Session(store, options.device, options.data_dir, progress=progress, train=not options.no_train,
                      executor=options.make_executor(connect=not options.no_train))
    lab = session.lab(scale)
    results = probe.survey_map(lab, cells, train=not options.no_train)
    pending = [c for c in cells if c not in {r.cell for r in results}]
    classes = lab.data(specs[0].train.dataset).num_classes
    path = write_map(results, classes, pending, scale, Path(options.report_dir), provenance(device=options.device))
    if progress:
        progress.close()
    print(path.read_text())
    return 0


def _verify(args: argparse.Namespace, options: SessionOptions) -> int:
    """Retrains the first rounds of some stored runs and prints, per round, whether the bits are the stored ones."""
    from . import verify
    from .store import RunStore

    for name, least in (("runs", 1), ("rounds", 1), ("threads", 1)):
        if (value := getattr(args, name)) is not None and value < least:
            raise UsageError(f"--{name} must be at least {least}, got {value}")
    store = RunStore(options.store)
    runs = verify.finished_runs(store)
    chosen = verify.choose(runs, args.runs, args.sample_seed, args.run)
    print(f"retraining rounds 0-{args.rounds - 1} of {len(chosen)} of the {len(runs)} finished runs in {store.root} "
          f"on {options.device}")
    checks = []
    for run in chosen:
        threads, why = verify.threads_for(store, runs[run], args.rounds, args.threads)
        ran = verify.verify_run(store, runs[run], args.rounds, threads, options.device, options.data_dir)
        print(f"{run} ({verify.describe(runs[run])}; {threads} thread{'s' * (threads != 1)}, {why}): "
              + ", ".join(f"round {c.round} {'identical' if c.identical else 'DIFFERS'}" for c in ran), flush=True)
        for check in ran:  # the first few tensors: past the first step a difference spreads to every weight
            for line in check.differs[:3]:
                print(f"    round {check.round}: {line}")
            if len(check.differs) > 3:
                print(f"    round {check.round}: and {len(check.differs) - 3} more tensors differ")
        checks += ran
    bad = sum(not c.identical for c in checks)
    print(f"{bad} of {len(checks)} rounds differ" if bad else f"all {len(checks)} rounds bit-identical")
    return 1 if bad else 0


def _pytest_claims(args: argparse.Namespace, options: SessionOptions) -> int:
    """`run` and `report` drive the same pytest session that `pytest claims` runs, with the same options."""
    import pytest

    from .registry import CLAIMS

    claims_dir = _claims_dir()
    from .registry import RECORDS

    if options.scale and RECORDS[options.scale].needs_cuda and args.command == "run" and \
            not options.device.startswith("cuda"):
        raise UsageError(f"the {options.scale} scale runs on the GPU: pass --device cuda "
                         f"(a CPU dry run is `pytest claims --scale {options.scale} --allow-cpu`)")
    chosen = args.claim if args.command == "run" and args.claim != ["all"] else None  # None: every claim
    unknown = [c for c in chosen or [] if c not in CLAIMS]
    if unknown:
        raise UsageError(f"unknown claim {unknown[0]!r}; see `replication claims` for the ids")
    selected = dataclasses.replace(options, scale=options.scale or "smoke")
    # -p: the plugin by its module, for a tree that is only on PYTHONPATH (no entry point); installed, a no-op
    argv = [str(claims_dir), "-p", "replication.pytest_plugin", *selected.pytest_args(), "-p", "no:cacheprovider",
            "-q", "-rs"]
    if chosen:
        argv += ["-k", " or ".join(c.replace("-", "_") for c in chosen)]
    code = int(pytest.main(argv))
    if args.command == "run":
        _print_verdicts(Path(options.report_dir) / selected.scale / "results.json", set(chosen or CLAIMS))
    return 0 if code == 5 else code  # 5: nothing selected is not a failure of the harness


def _claims_dir() -> Path:
    """Where the claim tests are: the installed `replication.claims`, which in a checkout is claims/."""
    import importlib.util

    spec = importlib.util.find_spec("replication.claims")
    checkout = Path(__file__).resolve().parent.parent / "claims"  # a bare copy of the tree, on PYTHONPATH
    if (spec is None or not spec.submodule_search_locations) and (checkout / "__init__.py").is_file():
        return checkout
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the claim tests (replication.claims) are not installed; reinstall the package "
                         "(pip install replication, or pip install -e . in a checkout)")
    return Path(list(spec.submodule_search_locations)[0])


def _print_verdicts(results: Path, claims: set[str]) -> None:
    """The verdicts of the claims just run, as the report's summary table, on stdout."""
    from .report import read_results, summary_table

    ran = [r for r in read_results(results) if r.claim.id in claims]
    if ran:
        print(summary_table(ran))


def _imp(args: argparse.Namespace, options: SessionOptions) -> int:
    from .accuracy import accuracy_by_density
    from .data import load_dataset
    from .engine.imp import check_fits
    from .presets import preset
    from .progress import RoundPrinter
    from .store import RunStore

    overrides = {k: v for k, v in {"batch_size": args.batch_size, "lr": args.lr, "epochs": args.epochs,
                                   "warmup_epochs": args.warmup_epochs}.items() if v is not None}
    base = preset(args.preset, **{**dict(args.set), **overrides})
    prune = {k: v for k, v in {"rounds": args.rounds, "fraction": args.prune_fraction}.items() if v is not None}
    if prune:
        base = base.with_(prune=dataclasses.replace(base.prune, **prune))
    data = load_dataset(base.train.dataset, options.data_dir).to(options.device)
    arms = ["imp"] + ([args.control] if args.control else [])
    specs = {arm: [base.with_(control=arm, init_seed=s, noise_seed=s) for s in args.seed] for arm in arms}
    store = RunStore(options.store)
    check_fits(base, data)
    store.check_writable()
    executor = options.make_executor(connect=True)
    flat = [s for ss in specs.values() for s in ss]  # all seeds and arms at once: they train stacked
    progress = RoundPrinter.over(store, flat)
    computed = dict(zip(flat, executor.runs(flat, store, options.device, options.data_dir, data, progress=progress)))
    runs = {arm: [computed[s] for s in ss] for arm, ss in specs.items()}
    progress.close()
    print(accuracy_by_density(runs))
    for arm in arms:
        for run in runs[arm]:
            if arm != arms[-1] or run is not runs[arm][-1]:
                print(f"run folder ({arm}, seed {run.spec.init_seed}): {run.path}")
    print(Path(runs[arms[-1]][-1].path))
    return 0


def entry() -> None:
    """The console script: `replication ... | head` ends quietly, as Unix tools do, not with a traceback."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())


if __name__ == "__main__":
    entry()
