while ! grep -q "done 3" /tmp/s23/queue.log; do sleep 5; done
pkill -f queue1.sh; sleep 1; pkill -f "bench_sym.py.*--seeds 4"; sleep 5
cd /work/main/benchmarks
for s in 10 3 4 0 1 2 5 6 7 8 9 11 12 13; do
  OMP_NUM_THREADS=2 python /tmp/s23/bench_sym.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2m_vs_1z --seeds $s -params gradient_steps:16 > /tmp/s23/sym16_2m_vs_1z_s$s.txt 2>&1
  echo "gs16 done $s $(date)" >> /tmp/s23/queue.log
done
