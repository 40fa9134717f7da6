"""One-off check: win rate of saved 2m_vs_1z models with their online network and with their target network.

    python target_eval.py PATH/2m_vs_1z_seed3.zip PATH/2m_vs_1z_seed10.zip

256 greedy games per network on 8 envs seeded 5000 + the seed in the file name (bench_qmix.py's wide test), two
torch threads."""

import re
import sys

import numpy as np
import torch

from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.envs.make_env import make_env
from sb3_marl.qmix import QMIX

torch.set_num_threads(2)
for path in sys.argv[1:]:
    model = QMIX.load(path, device="cpu")
    seed = int(re.search(r"seed(\d+)", path).group(1))
    rates = []
    for network in ("online", "target"):
        if network == "target":
            model.policy.agent.load_state_dict(model.policy.agent_target.state_dict())
        env = make_env("2m_vs_1z", n_envs=8, seed=5000 + seed)
        _, _, wins = evaluate_policy(model, env, 256, return_episode_rewards=True)
        rates.append(f"{network} {np.mean(wins):.3f}")
    print(path, *rates, flush=True)
