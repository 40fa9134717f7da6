#!/bin/bash
# 2m_vs_1z without the agent-id input (obs_agent_id false), seeds 3, 4, then the rest of 0-13 (10 done in queue5)
cd /tmp/s22/wt/benchmarks
export PYTHONPATH=/tmp/s22/wt:/tmp/s22/wt/benchmarks OMP_NUM_THREADS=2
for s in 3 4 0 1 2 5 6 7 8 9 11 12 13; do
  echo "$(date -u +%H:%M:%S) start noid s$s" >> /tmp/s22/queue.log
  python /tmp/s22/bench_qmix_save.py --skip-update-timing --compile --threads 2 --wide-test-episodes 256 --maps 2m_vs_1z \
    --seeds $s --save-folder /tmp/s22/models_noid \
    -params 'policy_kwargs:{rnn_hidden_dim: 64, mixing_embed_dim: 32, hypernet_embed: 64, obs_agent_id: false}' \
    > /tmp/s22/noid_2m_vs_1z_s$s.txt 2>&1
  echo "$(date -u +%H:%M:%S) end noid s$s rc=$?" >> /tmp/s22/queue.log
done
