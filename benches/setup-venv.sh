#!/usr/bin/env bash
# A throwaway virtual environment with the benchmark anchors (SimpleITK, VTK, scikit-image),
# under target/ so it goes with `cargo clean`. Prints the path of its python.
set -euo pipefail
venv="${TWINPLAN_BENCH_VENV:-$(cd "$(dirname "$0")/.." && pwd)/target/bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check SimpleITK vtk scikit-image numpy >&2
fi
echo "$venv/bin/python"
