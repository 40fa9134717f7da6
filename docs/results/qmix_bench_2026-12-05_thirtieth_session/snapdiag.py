"""Thirtieth session's diagnostic (a tidied copy of the script as run; same steps and games), from benchmarks/ with
the repository on PYTHONPATH: train one map and seed with qmix.yml's settings as bench_qmix.py does, copy the online
agent network at fixed env steps, then test every candidate (the copies, the online and target networks, the weight
averages) on 64 validation-like games (envs seeded seed + 3000), the benchmark's 32 test games (seed + 1000) and 256
wide-test games (seed + 5000).

    OMP_NUM_THREADS=2 python snapdiag.py 2s3z 12
"""

import sys
import time

import torch
from bench_qmix import wide_test, yml_model

from sb3_marl.common.callbacks import BaseCallback
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.envs.base import game_env_kwargs
from sb3_marl.envs.make_env import make_env
from sb3_marl.qmix.final_network import cloned_weights

map_name, seed = sys.argv[1], int(sys.argv[2])
steps = [100_000, 125_000, 150_000, 162_500, 175_000, 187_500, 195_000]
torch.set_num_threads(2)
torch._dynamo.reset()
model, entry = yml_model(map_name, seed, True)
snapshots: dict[str, dict[str, torch.Tensor]] = {}


class Snapshot(BaseCallback):
    """Copy the online agent network at the first callback call at or past each of ``steps``."""

    def _on_step(self) -> bool:
        for step in steps:
            if self.num_timesteps >= step and f"snap {step}" not in snapshots:
                snapshots[f"snap {step}"] = cloned_weights(self.model.policy.agent)
        return True


start = time.perf_counter()
model.learn(int(entry["n_timesteps"]), callback=Snapshot())
print(f"trained {time.perf_counter() - start:.0f}s steps={model.num_timesteps} final_selection={model.final_selection}")
candidates = dict(snapshots)
candidates["online"] = model.agent_before_selection or cloned_weights(model.policy.agent)
candidates["target"] = cloned_weights(model.policy.agent_target)
if model.agent_averages is not None:
    candidates.update(model.agent_averages.candidates())
test_kwargs = game_env_kwargs(entry["env_kwargs"])
for name, weights in candidates.items():
    model.policy.agent.load_state_dict(weights)
    validation = evaluate_policy(model, make_env(map_name, n_envs=8, seed=seed + 3000, **test_kwargs), 64)[0]
    test = evaluate_policy(model, make_env(map_name, n_envs=8, seed=seed + 1000, **test_kwargs), 32)[0]
    wide = wide_test(model, map_name, seed, 256, test_kwargs)[0]
    print(f"{map_name} seed={seed} {name:14s} val64={validation:.3f} test32={test:.3f} wide256={wide:.3f}")
