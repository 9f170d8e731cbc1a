#!/usr/bin/env bash
# Fifteen minutes on a borrowed GPU in one call (benchmarks/gpu_session.py): about 5 minutes of measurements,
# then a short real run and the stacked-against-alone check, within 9 minutes; every line also goes to $OUT as
# it is printed. Needs only a python3 with torch (no network, nothing installed: the tree is put on
# PYTHONPATH). `--dry-run` runs it on the CPU with tiny shapes (CI does).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 540 python3 benchmarks/gpu_session.py "$@"
code=$?
[ "$code" -eq 124 ] && echo "gpu_session: stopped at 9 minutes (timeout); \$OUT has every line printed before"
exit "$code"
