#!/usr/bin/env bash
# Install sb3-marl on a fresh machine.  Usage: bash scripts/setup.sh [dev]
# Keeps a present torch >= 2.3; where none is installed, installs the pinned CPU wheel first so that
# pip never resolves a bare "torch" requirement to a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python - <<'PY'
import sys
try:
    import torch
except ImportError:
    sys.exit(1)
major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 3) else 1)
PY
then
    if [ "$(uname -s)" = "Linux" ]; then
        # PyPI's torch wheels for Linux are the CUDA builds: take the CPU build ("+cpu") from the sources pip is
        # configured with (a local wheel folder, a mirror), else from PyTorch's CPU index
        pip install --quiet "torch==2.13.0+cpu" 2>/dev/null \
            || pip install --quiet "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
    else
        pip install --quiet "torch==2.13.0"  # macOS and Windows wheels on PyPI are CPU builds
    fi
fi
extras=""
if [ "${1:-}" = "dev" ]; then extras="[dev]"; fi
pip install --quiet -e ".${extras}"
