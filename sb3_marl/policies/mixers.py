"""Value-decomposition mixers: combine per-agent chosen-action Q-values into a team value ``Q_tot``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class VDNMixer(nn.Module):
    """VDN (Sunehag et al. 2018): ``Q_tot = sum_i Q_i``; the state is ignored."""

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """:param agent_qs: float[B, T, N]; :param states: float[B, T, S] (unused). :return: float[B, T]."""
        return agent_qs.sum(dim=-1)


class QMixer(nn.Module):
    """QMIX monotonic mixer (Rashid et al. 2018), as PyMARL's ``QMixer`` with two-layer hypernetworks.

    ``Q_tot = w2^T ELU(W1^T q + b1) + V(s)`` with ``W1 = |hyper_w1(s)|``, ``w2 = |hyper_w2(s)|``, so
    ``dQ_tot / dQ_i >= 0`` for every agent.

    :param n_agents: number of agents ``N``.
    :param state_dim: size ``S`` of the global state the hypernetworks read.
    :param embed_dim: width of the mixing layer.
    :param hypernet_embed: hidden width of the weight hypernetworks.
    """

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32, hypernet_embed: int = 64) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.state_dim = state_dim
        self.embed_dim = embed_dim
        self.hyper_w1 = nn.Sequential(
            nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, embed_dim * n_agents)
        )
        self.hyper_w2 = nn.Sequential(
            nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, embed_dim)
        )
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_v = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """:param agent_qs: float[B, T, N]; :param states: float[B, T, S]. :return: ``Q_tot`` float[B, T]."""
        lead = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, self.n_agents, 1)
        s = states.reshape(-1, self.state_dim)
        w1 = self.hyper_w1(s).abs().view(-1, self.n_agents, self.embed_dim)
        # the tiny per-step products (1 x N by N x E, then 1 x E by E x 1) as broadcast sums: on one CPU thread
        # torch.bmm's batch of tiny products made a 2s3z update 1.3x slower (benchmarks/README.md, fifteenth session)
        hidden = F.elu((qs * w1).sum(dim=1) + self.hyper_b1(s))
        w2 = self.hyper_w2(s).abs()
        return ((hidden * w2).sum(dim=1) + self.hyper_v(s).squeeze(-1)).view(lead)
