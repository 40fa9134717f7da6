import sys, torch
mode = sys.argv[1]
if mode == "trial":
    sys.path.insert(0, "/tmp/s26/wt"); sys.path.insert(0, "/tmp/s26/wt/benchmarks")
    import bench_coupled  # noqa: F401  (patches the augmentations)
    perm = True
else:
    perm = False
torch.set_num_threads(1)
from sb3_marl.qmix import QMIX
import sb3_marl; print(sb3_marl.__file__)
m = QMIX("2m_vs_1z", n_envs=4, seed=3, batch_size=8, gradient_steps=4, learning_starts=0,
         agent_permutation=perm, mirror_augmentation=True, policy_kwargs={"rnn_hidden_dim": 16})
m.learn(1500)
torch.save(m.policy.state_dict(), f"/tmp/s26/eq/{mode}.pt"); print(m._n_updates)
