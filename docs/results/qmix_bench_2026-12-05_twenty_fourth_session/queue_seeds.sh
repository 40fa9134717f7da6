cd /work/wt-s24/benchmarks
for s in 14 15 16 17 18 19 20 21 22 23 24 25 26 27; do
  OMP_NUM_THREADS=2 PYTHONPATH=/work/wt-s24 python bench_qmix.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2m_vs_1z --seeds $s > /tmp/s24/yml_2m_vs_1z_s$s.txt 2>&1
  echo "yml done $s $(date)" >> /tmp/s24/queue.log
done
