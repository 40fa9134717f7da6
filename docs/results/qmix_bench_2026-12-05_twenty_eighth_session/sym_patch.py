"""bench_sym.py's patches of QMIXPolicy, without running the benchmark."""

import sys

import torch

from sb3_marl.common.augmentation import MirrorFlip
from sb3_marl.envs.make_env import make_env
from sb3_marl.policies.qmix_policy import QMIXPolicy

_env = make_env("2m_vs_1z", n_envs=1, seed=0)
_flip = MirrorFlip.for_env(_env)
OI, OS, AI = _flip.obs_index[1], _flip.obs_sign[1], _flip.action_index[1]
_env.close() if hasattr(_env, "close") else None

_orig_q = QMIXPolicy.q_values
_orig_seq = QMIXPolicy.q_values_sequence


def g_obs(o):
    return (o[..., OI] * OS).flip(-2)


def g_act(x):
    return x[..., AI].flip(-2)


def q_values(self, obs, last, hidden, target=False):
    h = self.agent.hidden_dim
    b = obs.shape[0]
    both_obs = torch.cat([obs, g_obs(obs)], 0)
    both_last = torch.cat([last, g_act(last)], 0)
    both_hidden = torch.cat([hidden[..., :h], hidden[..., h:]], 0)
    q, hn = _orig_q(self, both_obs, both_last, both_hidden, target)
    q = 0.5 * (q[:b] + g_act(q[b:]))
    return q, torch.cat([hn[:b], hn[b:]], -1)


def q_values_sequence(self, obs, last, hidden0=None, target=False):
    b = obs.shape[0]
    h = self.agent.hidden_dim
    assert hidden0 is None
    both_obs = torch.cat([obs, g_obs(obs)], 0)
    both_last = torch.cat([last, g_act(last)], 0)
    zeros = torch.zeros(2 * b, self.n_agents, h, device=obs.device)
    q = _orig_seq(self, both_obs, both_last, zeros, target)
    return 0.5 * (q[:b] + g_act(q[b:]))


def initial_hidden(self, batch_size):
    return torch.zeros(batch_size, self.n_agents, 2 * self.agent.hidden_dim, device=self.device)


QMIXPolicy.q_values = q_values
QMIXPolicy.q_values_sequence = q_values_sequence
QMIXPolicy.initial_hidden = initial_hidden
QMIXPolicy.hidden_dim = property(lambda self: 2 * self.agent.hidden_dim)

sys.argv = ["bench_qmix.py"] + sys.argv[1:]
