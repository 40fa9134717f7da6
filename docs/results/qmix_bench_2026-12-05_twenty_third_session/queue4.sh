cd /work/wt-sym/benchmarks
for s in 3 4 10 0 1 2 5 6 7 8 9 11 12 13; do
  OMP_NUM_THREADS=2 PYTHONPATH=/work/wt-sym python /tmp/s23/bench_canon.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2m_vs_1z --seeds $s -params mirror_augmentation:false > /tmp/s23/canon_2m_vs_1z_s$s.txt 2>&1
  echo "canon done $s $(date)" >> /tmp/s23/queue.log
done
