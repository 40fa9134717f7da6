"""One-off check that a production version of the coupled symmetries trains bit for bit as `bench_coupled.py`.

`python coupled_equivalence_check.py trial` trains with the wrapper's patches (worktree at /tmp/s26/wt, the
augmentations of the yml's code, `agent_permutation` and `mirror_augmentation` on); `... prod` trains with the
package on the path (the production MirrorFlip that relabelled the allies onto the mirrored starts, since dropped)
and `agent_permutation` off. Each saves its weights; they were equal after 1,500 steps and 44 updates.
"""

import importlib
import sys

import torch

MODE = sys.argv[1]
if MODE == "trial":
    sys.path[:0] = ["/tmp/s26/wt", "/tmp/s26/wt/benchmarks"]
    importlib.import_module("bench_coupled")  # patches the augmentations
torch.set_num_threads(1)
QMIX = importlib.import_module("sb3_marl.qmix").QMIX
model = QMIX(
    "2m_vs_1z",
    n_envs=4,
    seed=3,
    batch_size=8,
    gradient_steps=4,
    learning_starts=0,
    agent_permutation=MODE == "trial",
    mirror_augmentation=True,
    policy_kwargs={"rnn_hidden_dim": 16},
)
model.learn(1500)
torch.save(model.policy.state_dict(), f"/tmp/s26/eq/{MODE}.pt")
print(model._n_updates)
