"""What the installed pytest plugin costs a pytest session that has no claim tests, measured in one process.

Runs `python -m pytest -q -p no:cacheprovider [ARGS]` in a temporary folder holding one trivial test, with the
plugin and with `-p no:replication.pytest_plugin`, interleaved, and prints the medians and their difference.

    python benchmarks/plugin_overhead.py            # a one-test session
    python benchmarks/plugin_overhead.py --help     # pytest --help
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 9


def main(args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "test_trivial.py").write_text("def test_trivial():\n    pass\n")
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
        arms = {"with the plugin": [], "-p no:replication.pytest_plugin": ["-p", "no:replication.pytest_plugin"]}
        times: dict[str, list[float]] = {name: [] for name in arms}
        for _ in range(REPEATS):
            for name, extra in arms.items():
                tic = time.perf_counter()
                subprocess.run(base + extra, cwd=folder, capture_output=True, check=False)
                times[name].append(time.perf_counter() - tic)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, m in medians.items():
        print(f"{name}: median {m:.3f} s over {REPEATS}")
    print(f"plugin_overhead_s={medians['with the plugin'] - medians['-p no:replication.pytest_plugin']:+.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
