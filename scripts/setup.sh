#!/usr/bin/env bash
# Install sb3-marl on a fresh machine.  Usage: bash scripts/setup.sh [dev]
# Keeps a present torch >= 2.3; where none is installed (or an older one), installs the pinned CPU wheel first so
# that pip never resolves a bare "torch" requirement to a multi-GB CUDA build, and then holds torch at the version
# present while it installs the rest (a dependency asking for a newer torch fails loudly instead of pulling CUDA).
# The interpreter is $PYTHON (default: python, else python3); everything is installed with "$PYTHON -m pip".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3 || true)}"
[ -n "$PYTHON" ] || { echo "setup.sh: no python or python3 on PATH (set PYTHON=/path/to/python)" >&2; exit 1; }
torch_version() {  # the installed torch's version, or nothing
    "$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null || true
}
present="$(torch_version)"
if ! "$PYTHON" - "$present" <<'PY'
import sys
version = sys.argv[1]
if not version:
    sys.exit(1)
major, minor = (int(p) for p in version.split("+")[0].split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 3) else 1)
PY
then
    [ -z "$present" ] || echo "setup.sh: torch $present is older than 2.3; installing the CPU build torch 2.13.0" >&2
    if [ "$(uname -s)" = "Linux" ]; then
        # PyPI's torch wheels for Linux are the CUDA builds: take the CPU build ("+cpu") from the sources pip is
        # configured with (a local wheel folder, a mirror), else from PyTorch's CPU index
        "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" 2>/dev/null \
            || "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
    else
        "$PYTHON" -m pip install --quiet "torch==2.13.0"  # macOS and Windows wheels on PyPI are CPU builds
    fi
fi
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==$(torch_version)" >"$constraints"
extras=""
if [ "${1:-}" = "dev" ]; then extras="[dev]"; fi
"$PYTHON" -m pip install --quiet -e ".${extras}" -c "$constraints"
