#!/bin/bash
# usage: bash .sweep/run.sh JOBS... (arm:seed); env DEADLINE, TIMESTEPS, WORKERS
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit 1
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
{ nproc; lscpu | grep -E "Model name|Thread|Core|Socket|NUMA node\(s\)"; python3 -c "import torch;print(torch.__version__, torch.get_num_threads())"; free -g | head -2; } > $OUT/machine.txt 2>&1
PYTHONUNBUFFERED=1 python3 .sweep/sweep.py --deadline ${DEADLINE:-540} --timesteps ${TIMESTEPS:-0} --workers ${WORKERS:-$(nproc)} --out $OUT --jobs "$@"
cat $OUT/machine.txt $OUT/results.txt
