#!/bin/bash
# 2s3z: 96-unit GRU trial interleaved with the yml's 128 units, one training at a time, AMD EPYC VM
cd /tmp/s21/wt/benchmarks
export PYTHONPATH=/tmp/s21/wt OMP_NUM_THREADS=2
run() {  # tag seed [params]
  local tag=$1 seed=$2; shift 2
  echo "$(date -u +%H:%M:%S) start $tag s$seed" >> /tmp/s21/queue.log
  python bench_qmix.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2s3z --seeds $seed "$@" \
    > /tmp/s21/${tag}_2s3z_s$seed.txt 2>&1
  echo "$(date -u +%H:%M:%S) end $tag s$seed rc=$?" >> /tmp/s21/queue.log
}
H96='policy_kwargs:{rnn_hidden_dim: 96, mixing_embed_dim: 32, hypernet_embed: 64}'
run h96 0 -params "$H96"
for s in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
  run h128 $s
  run h96 $s -params "$H96"
done
