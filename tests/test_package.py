"""The package as a researcher installs it: the wheel, in a fresh environment, run from outside the checkout.

The fresh venv gets only the wheel; torch and the rest come from this environment's site-packages through a
path file (lines of a .pth are added to sys.path as they are, so this checkout's editable install, itself a
.pth there, is not loaded). One cheap smoke claim at two seeds runs through `pytest --pyargs` and then
`replication run`, which reads back the same store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIM = "same-basin-only-at-medium-density"  # the smoke claim with the fewest rounds (2 runs of 13 at 2 seeds)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "replication", "claims")

pytestmark = pytest.mark.slow


def _checkout_state() -> str:
    """Every changed, untracked or ignored file of the checkout, but for the environment the tests run in (its
    bytecode caches grow as the fresh venv imports torch through it)."""
    skip = [f":!{Path(sys.prefix).relative_to(ROOT)}"] if Path(sys.prefix).is_relative_to(ROOT) else []
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", ".", *skip],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _build_wheel(tmp: Path) -> Path:
    """From a copy of the sources: a build writes build/ and egg-info beside them, not in the checkout."""
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(source)], check=True, capture_output=True)
    return next((tmp / "dist").glob("replication-*.whl"))


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_runs_a_claim_from_outside_the_checkout(tmp_path):
    before = _checkout_state()
    wheel = _build_wheel(tmp_path)
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert {"replication/py.typed", "replication/engine/masked_step.c", "replication/claims/__init__.py"} <= shipped
    assert {f"replication/claims/{p.name}" for p in (ROOT / "claims").glob("test_*.py")} <= shipped
    venv = _fresh_venv(tmp_path, wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "REPLICATION_"))},
           "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=900)

    where = run(str(venv / "bin" / "python"), "-c", "import replication.claims as c; print(c.__file__)")
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the wheel's, not the checkout's

    tested = run(str(venv / "bin" / "python"), "-m", "pytest", "--pyargs", "replication.claims", "--scale", "smoke",
                 "--seeds", "2", "-k", CLAIM.replace("-", "_"), "-p", "no:cacheprovider", "-rs")
    # 0 or 1: a verdict, whichever it is at two seeds (a failed claim test is a verdict, not a broken install)
    assert tested.returncode in (0, 1), tested.stdout[-3000:] + tested.stderr[-3000:]
    assert "replication report: runs/reports/smoke/REPORT.md" in tested.stdout, tested.stdout[-3000:]
    results = json.loads((work / "runs" / "reports" / "smoke" / "results.json").read_text())
    assert [(r["claim"], r["verdict"] != "ERROR") for r in results] == [(CLAIM, True)], results

    ran = run(str(venv / "bin" / "replication"), "run", CLAIM, "--scale", "smoke", "--seeds", "2",
              "--report-dir", "again")
    assert ran.returncode == tested.returncode, ran.stdout[-3000:] + ran.stderr[-3000:]
    row = next(line for line in ran.stdout.splitlines() if f"`{CLAIM}`" in line)
    assert any(f"**{verdict}**" in row for verdict in ("SUPPORTED", "REFUTED", "INCONCLUSIVE", "NOT TESTABLE")), row
    assert (work / "again" / "smoke" / "results.json").is_file()

    # the newcomer's first command, from the empty folder's point of view (at 2 seeds, to stay quick)
    first = run(str(venv / "bin" / "replication"), "run", "random-reinit-fails", "--scale", "smoke", "--seeds", "2",
                "--report-dir", "first")
    assert first.returncode in (0, 1), first.stdout[-3000:] + first.stderr[-3000:]
    row = next(line for line in first.stdout.splitlines() if "`random-reinit-fails`" in line)
    assert any(f"**{verdict}**" in row for verdict in ("SUPPORTED", "REFUTED", "INCONCLUSIVE", "NOT TESTABLE")), row
    assert _checkout_state() == before


def test_every_module_the_package_imports_is_a_dependency_of_it():
    """The installed package imports nothing it does not depend on: a module missing from `dependencies` (as
    pytest once was, in the `test` extra only) breaks a fresh install, while the wheel test above borrows this
    environment's packages and cannot see it. Ray is the one optional import (the `ray` extra): the executor
    names the extra when it is missing."""
    import ast
    import importlib.metadata as md
    import re

    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in declared["dependencies"]}
    optional = {"ray"}
    imported = set()
    for path in [*(ROOT / "replication").glob("*.py"), *(ROOT / "claims").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ("replication", "__future__")}
    owners = md.packages_distributions()
    missing = {m: owners.get(m) for m in third_party - optional
               if not {d.lower() for d in owners.get(m, [m])} & runtime}
    assert not missing, f"imported but not in pyproject's dependencies: {missing}"
