#!/bin/bash
# 3m seeds 2-9 from main (da5c856; training code and yml as 66623f5), one training at a time
cd /tmp/s22/wt3/benchmarks
export PYTHONPATH=/tmp/s22/wt3 OMP_NUM_THREADS=2
for s in 2 3 4 5 6 7 8 9; do
  echo "$(date -u +%H:%M:%S) start 3m s$s" >> /tmp/s22/queue.log
  python bench_qmix.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 3m --seeds $s \
    > /tmp/s22/yml_3m_s$s.txt 2>&1
  echo "$(date -u +%H:%M:%S) end 3m s$s rc=$?" >> /tmp/s22/queue.log
done
