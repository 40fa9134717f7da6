#!/usr/bin/env bash
# Install sb3-marl on a fresh machine.  Usage: bash scripts/setup.sh [EXTRA ...]   (extras of setup.py: dev, smac,
# postgres, cluster; e.g. "bash scripts/setup.sh dev", "bash scripts/setup.sh smac")
# Keeps a present torch >= 2.3; where none is installed (or an older one), installs the pinned CPU wheel first so
# that pip never resolves a bare "torch" requirement to a multi-GB CUDA build, and then holds torch at the version
# present while it installs the rest (a dependency asking for a newer torch fails loudly instead of pulling CUDA).
# The interpreter is $PYTHON (default: python, else python3); everything is installed with "$PYTHON -m pip".
set -euo pipefail
cd "$(dirname "$0")/.."
for extra in "$@"; do
    case "$extra" in
        dev | smac | postgres | cluster) ;;
        *) echo "setup.sh: unknown extra '$extra'; allowed: dev, smac, postgres, cluster" >&2; exit 2 ;;
    esac
done
PYTHON="${PYTHON:-$(command -v python || command -v python3 || true)}"
[ -n "$PYTHON" ] || { echo "setup.sh: no python or python3 on PATH (set PYTHON=/path/to/python)" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || echo "setup.sh: $PYTHON is Python $("$PYTHON" -c 'import platform; print(platform.python_version())'); sb3-marl is developed and tested on 3.11 (the pinned CPU torch wheel may be missing for this version)" >&2
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
        "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" 2>/dev/null || {
            echo "setup.sh: torch 2.13.0+cpu is not in pip's configured sources; trying PyTorch's CPU index" >&2
            "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
        }
    else
        "$PYTHON" -m pip install --quiet "torch==2.13.0"  # macOS and Windows wheels on PyPI are CPU builds
    fi
fi
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==$(torch_version)" >"$constraints"
extras=""
if [ "$#" -gt 0 ]; then extras="[$(IFS=,; echo "$*")]"; fi
"$PYTHON" -m pip install --quiet -e ".${extras}" -c "$constraints"
echo "setup.sh: sb3-marl installed for $PYTHON"
