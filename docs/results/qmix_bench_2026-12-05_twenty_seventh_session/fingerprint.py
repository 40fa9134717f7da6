"""Train QMIX on 3m (qmix.yml's entry, seed 0) for 20k steps, one thread, and print a hash of the weights."""

import hashlib
import sys

import torch

torch.set_num_threads(1)
from sb3_marl.envs import make_env  # noqa: E402
from sb3_marl.qmix import QMIX  # noqa: E402
from zoo.utils import hyperparams_entry  # noqa: E402

map_name = sys.argv[1] if len(sys.argv) > 1 else "3m"
entry = dict(hyperparams_entry("qmix", map_name))
entry.pop("n_timesteps")
n_envs = entry.pop("n_envs", 8)
model = QMIX(make_env(map_name, n_envs=n_envs, seed=0), seed=0, **entry)
model.learn(20_000)
digest = hashlib.sha256()
for name, tensor in model.policy.state_dict().items():
    digest.update(name.encode() + tensor.numpy().tobytes())
print(map_name, model.num_timesteps, model._n_updates, digest.hexdigest())
