"""One-off: test-time symmetrization of a 2m_vs_1z QMIX model: Q_i = mean of Q(o_i, id_i) and the mirror image of Q(M
o_i, id_{1-i}) (g = mirror o swap), acting on a model trained without it. Usage: python sym_eval.py MODEL.zip
[episodes] [mode: plain|sym]"""

import sys

import torch

from sb3_marl.common.augmentation import MirrorFlip
from sb3_marl.envs.make_env import make_env
from sb3_marl.qmix import QMIX

torch.set_num_threads(1)
model = QMIX.load(sys.argv[1], device="cpu")
n_episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 256
mode = sys.argv[3] if len(sys.argv) > 3 else "sym"
env = make_env("2m_vs_1z", n_envs=16, seed=5000)
flip = MirrorFlip.for_env(env)
oi, os_, ai = flip.obs_index[1], flip.obs_sign[1], flip.action_index[1]
policy = model.policy
policy.eval()
obs, state, avail = env.reset()
h = policy.initial_hidden(16)
h2 = policy.initial_hidden(16)
last = torch.zeros(16, 2, policy.n_actions)
wins = 0
done = 0


def g_obs(o):
    return (o[..., oi] * os_).flip(1)


def g_last(last_onehot):
    return last_onehot[..., ai].flip(1)


while done < n_episodes:
    with torch.no_grad():
        q, h = policy.q_values(obs, last, h)
        if mode == "sym":
            q2, h2 = policy.q_values(g_obs(obs), g_last(last), h2)
            q = 0.5 * (q + q2.flip(1)[..., ai])
        actions = policy.select_actions(q, avail, 0.0, None)
    obs, state, avail, reward, terminated, info = env.step(actions)
    last = torch.nn.functional.one_hot(actions, policy.n_actions).float()
    if terminated.any():
        done += int(terminated.sum())
        wins += int(info["battle_won"][terminated].sum())
        keep = (~terminated).view(-1, 1, 1).float()
        h, h2, last = h * keep, h2 * keep, last * keep
        obs, state, avail = env.reset(terminated)
print(sys.argv[1], mode, "win rate", wins / done, done)
