#!/bin/bash
# 2m_vs_1z seeds 1-13 from main (66623f5), one training at a time, AMD EPYC VM
cd /tmp/s22/wt/benchmarks
export PYTHONPATH=/tmp/s22/wt OMP_NUM_THREADS=2
for s in 1 2 3 4 5 6 7 8 9 10 11 12 13; do
  echo "$(date -u +%H:%M:%S) start 2m_vs_1z s$s" >> /tmp/s22/queue.log
  python bench_qmix.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2m_vs_1z --seeds $s \
    > /tmp/s22/yml_2m_vs_1z_s$s.txt 2>&1
  echo "$(date -u +%H:%M:%S) end 2m_vs_1z s$s rc=$?" >> /tmp/s22/queue.log
done
