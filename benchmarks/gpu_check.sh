#!/usr/bin/env bash
# The GPU check in one call (benchmarks/gpu_check.py): the CUDA-marked tests and ResNet-20 throughput at the
# paper's settings, within 8 minutes; a copy of the output goes to $OUT when it is set. Needs only a python3
# with torch (no network, nothing installed). `--dry-run` runs it on the CPU with tiny shapes.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 480 python3 benchmarks/gpu_check.py "$@"
