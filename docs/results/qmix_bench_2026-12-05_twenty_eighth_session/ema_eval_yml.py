"""One-off: a saved 2m_vs_1z model (qmix.yml's settings) tested with its online agent network, its target network
and each weight average saved by bench_ema_yml.py: 32 greedy games on bench_qmix.py's test envs (8 envs seeded
seed + 1000) and 256 on its wide-test envs (8 envs seeded seed + 5000).
python ema_eval_yml.py MODELS_FOLDER SEED EMA_FOLDER"""

import sys

import numpy as np
import torch

from sb3_marl.common.evaluation import evaluate_policy  # noqa: E402
from sb3_marl.envs.make_env import make_env  # noqa: E402
from sb3_marl.qmix import QMIX  # noqa: E402

torch.set_num_threads(2)
folder, seed, ema_folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = QMIX.load(f"{folder}/2m_vs_1z_seed{seed}.zip", device="cpu")
online = {k: v.clone() for k, v in model.policy.agent.state_dict().items()}
variants = {"online": online, "target": model.policy.agent_target.state_dict()}
variants.update({f"ema{tau:g}": w for tau, w in torch.load(f"{ema_folder}/2m_vs_1z_seed{seed}.pt").items()})
line = [f"seed={seed}"]
for name, weights in variants.items():
    model.policy.agent.load_state_dict(weights)
    rates = []
    for offset, n in ((1000, 32), (5000, 256)):
        _, _, wins = evaluate_policy(
            model, make_env("2m_vs_1z", n_envs=8, seed=seed + offset), n, return_episode_rewards=True
        )
        rates.append(np.mean(wins))
    line.append(f"{name} {rates[0]:.3f} ({rates[1]:.3f})")
print(" | ".join(line), flush=True)
