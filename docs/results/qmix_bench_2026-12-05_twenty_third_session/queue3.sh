while pgrep -f queue2.sh > /dev/null; do sleep 5; done
cd /work/main/benchmarks
OMP_NUM_THREADS=2 python /tmp/s23/bench_sym.py --skip-update-timing --compile --threads 2 --eval-freq 12500 --maps 2m_vs_1z --seeds 7 -params gradient_steps:16 > /tmp/s23/sym16eval_2m_vs_1z_s7.txt 2>&1
echo "sym16eval done 7 $(date)" >> /tmp/s23/queue.log
for s in 3 4 10; do
  OMP_NUM_THREADS=2 python bench_qmix.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2m_vs_1z --seeds $s -params gradient_steps:16 > /tmp/s23/plain16_2m_vs_1z_s$s.txt 2>&1
  echo "plain16 done $s $(date)" >> /tmp/s23/queue.log
done
