#!/usr/bin/env bash
# A throwaway virtual environment with the benchmark anchors (SimpleITK, VTK, scikit-image, and
# itk-elastix where it installs), under target/ so it goes with `cargo clean`. Prints the path of
# its python.
set -euo pipefail
venv="${TWINPLAN_BENCH_VENV:-$(cd "$(dirname "$0")/.." && pwd)/target/bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check SimpleITK vtk scikit-image numpy >&2
fi
# Optional: the registration benchmark leaves elastix out when it does not install.
"$venv/bin/python" -c "import itk" 2>/dev/null ||
  "$venv/bin/pip" install -q --disable-pip-version-check itk-elastix >&2 || true
echo "$venv/bin/python"
