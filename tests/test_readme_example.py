"""The README's "your own experiment" script runs as it stands and ends with a verdict."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from replication.spec import SpecError, TrainSpec, is_import_path, load_object

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    text = README.read_text()
    block = text.split("<!-- example:start -->", 1)[1].split("<!-- example:end -->", 1)[0]
    return block.strip().removeprefix("```python").removesuffix("```")


@pytest.mark.slow
def test_the_readme_example_runs_and_decides(tmp_path):
    (tmp_path / "example.py").write_text(example())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.fullmatch(r"(SUPPORTED|REFUTED|INCONCLUSIVE): ticket − reinit = -?\d+\.\d\d points \[.*\], p = .*, "
                        r"6 seeds\n", done.stdout), done.stdout
    assert len(list((tmp_path / "runs").iterdir())) == 12  # 6 seeds × (IMP, reinit), stored


@pytest.mark.parametrize("name, ok", [("mypkg.models:net", True), ("__main__:small_convnet", True),
                                      ("mypkg.models", False), ("my-pkg:net", False), ("a:b:c", False),
                                      (":net", False), ("lenet", False)])
def test_own_models_and_datasets_are_named_by_import_path(name, ok):
    assert is_import_path(name) == ok


def test_an_own_model_that_cannot_be_imported_is_one_line_naming_it():
    with pytest.raises(SpecError, match=r"cannot load 'no_such_module:net' .*'package.module:function'"):
        load_object("no_such_module:net")
    with pytest.raises(SpecError, match="unknown model 'my-net'.*'module:function' for your own"):
        TrainSpec(dataset="digits", model="my-net", epochs=1, batch_size=8, optimizer="sgd", lr=0.1,
                  init="kaiming_normal")
