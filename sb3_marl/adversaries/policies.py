"""Networks of the MAPPO perturbation adversary: a shared tanh-squashed Gaussian actor and a centralised critic.

Shapes: ``B`` envs, ``N`` agents, ``O`` observation size (also the action size: one perturbation direction per
observation feature), ``S`` state size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from sb3_marl.common.validation import checked_optimizer, finite_float, whole_number
from sb3_marl.policies.qmix_policy import optimizer_setup

#: clamp of the actor's log standard deviation (keeps the Gaussian from collapsing or exploding)
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def _mlp(input_dim: int, net_arch: Sequence[int], output_dim: int, output_gain: float) -> nn.Sequential:
    """``Linear -> Tanh`` layers of widths ``net_arch`` then a linear output; orthogonal init as in SB3's PPO."""
    layers: list[nn.Module] = []
    last = input_dim
    for width in net_arch:
        layers += [nn.Linear(last, width), nn.Tanh()]
        last = width
    layers.append(nn.Linear(last, output_dim))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            is_output = layer is layers[-1]
            nn.init.orthogonal_(layer.weight, gain=output_gain if is_output else math.sqrt(2))
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


#: Gauss-Hermite rule of :func:`squashed_entropy`: nodes ``x_k`` and weights ``w_k`` with
#: ``E[f(ξ)] ≈ Σ_k w_k f(√2 x_k) / √π`` for ``ξ ~ N(0, 1)``. 64 nodes: the expectation of ``log(1 - tanh(u)^2)`` is
#: within 1e-4 nats of a fine numerical integral up to ``log_std`` 1 and within 0.03 (0.2 %) at ``LOG_STD_MAX``
#: (20 nodes: 0.16 there).
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite.hermgauss(64)


def _log_tanh_derivative(pre_tanh: torch.Tensor) -> torch.Tensor:
    """``log(1 - tanh(u)^2)`` elementwise, as ``2 (log 2 - u - softplus(-2u))`` (stable for large ``|u|``)."""
    return 2.0 * (math.log(2.0) - pre_tanh - nn.functional.softplus(-2.0 * pre_tanh))


def squashed_log_prob(distribution: torch.distributions.Normal, pre_tanh: torch.Tensor) -> torch.Tensor:
    """Log-density of ``tanh(u)`` for ``u ~ distribution``, summed over the last axis (change of variables)."""
    return (distribution.log_prob(pre_tanh) - _log_tanh_derivative(pre_tanh)).sum(dim=-1)


def squashed_entropy(distribution: torch.distributions.Normal) -> torch.Tensor:
    """Entropy (nats) of ``tanh(u)`` for ``u ~ distribution``, summed over the last axis: per dimension the
    Gaussian's entropy plus ``E[log(1 - tanh(u)^2)]`` (change of variables), the expectation by a 64-node
    Gauss-Hermite rule (no sampling: deterministic, and differentiable in the mean and the standard deviation).
    """
    nodes = torch.as_tensor(
        math.sqrt(2.0) * _HERMITE_NODES, dtype=distribution.mean.dtype, device=distribution.mean.device
    )
    weights = torch.as_tensor(_HERMITE_WEIGHTS / math.sqrt(math.pi), dtype=nodes.dtype, device=nodes.device)
    pre_tanh = distribution.mean.unsqueeze(-1) + distribution.stddev.unsqueeze(-1) * nodes
    expected_log_det = (_log_tanh_derivative(pre_tanh) * weights).sum(dim=-1)
    return (distribution.entropy() + expected_log_det).sum(dim=-1)


class MAPPOPolicy(nn.Module):
    """Shared actor ``π(δ | o_i, i)`` for every agent and a centralised critic ``V(s)``.

    The actor outputs the mean of a diagonal Gaussian over ``u`` in R^O (state-independent log std); the action
    is ``tanh(u)`` in ``(-1, 1)^O``, which the adversary env scales by ε into the l∞ ball. The critic reads the
    global state: the adversary team shares one reward (minus the victim's team reward), so one value per env.

    :param n_agents: number of agents ``N`` (the actor's input gets the agent-id one-hot).
    :param obs_dim: observation size ``O``.
    :param action_dim: action size (``O`` for observation perturbations).
    :param state_dim: global state size ``S``.
    :param learning_rate: initial learning rate of the optimizer (actor and critic share it).
    :param net_arch: hidden layer widths of the actor and of the critic.
    :param log_std_init: initial log standard deviation of ``u`` (0: ``tanh(u)`` spreads over most of (-1, 1)),
        in ``[LOG_STD_MIN, LOG_STD_MAX]``.
    :param optimizer_class: optimizer over all parameters: a ``torch.optim.Optimizer`` subclass or one of QMIX's names
        (``"adam"``, ``"rmsprop"``: :data:`~sb3_marl.policies.qmix_policy.OPTIMIZERS`, whose defaults
        ``optimizer_kwargs`` override), as a saved ``policy_kwargs`` holds it.
    :param optimizer_kwargs: extra keyword arguments of the optimizer (default ``eps=1e-5`` as SB3's PPO).
    """

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        action_dim: int,
        state_dim: int,
        learning_rate: float = 3e-4,
        net_arch: Sequence[int] = (64, 64),
        log_std_init: float = 0.0,
        optimizer_class: type[torch.optim.Optimizer] | str = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        n_agents, obs_dim, action_dim, state_dim = (
            whole_number(name, value, 1)
            for name, value in (
                ("n_agents", n_agents),
                ("obs_dim", obs_dim),
                ("action_dim", action_dim),
                ("state_dim", state_dim),
            )
        )
        if isinstance(net_arch, str | bytes) or not isinstance(net_arch, Sequence):
            raise ValueError(f"net_arch={net_arch!r} must be a list of hidden layer widths, e.g. [64, 64]")
        net_arch = [whole_number("net_arch width", width, 1) for width in net_arch]
        self.n_agents = n_agents
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.state_dim = state_dim
        self.actor = _mlp(obs_dim + n_agents, net_arch, action_dim, output_gain=0.01)
        log_std_init = finite_float("log_std_init", log_std_init, LOG_STD_MIN, LOG_STD_MAX)
        self.log_std = nn.Parameter(torch.full((action_dim,), log_std_init))
        self.critic = _mlp(state_dim, net_arch, 1, output_gain=1.0)
        self.register_buffer("agent_ids", torch.eye(n_agents), persistent=False)
        optimizer_class, kwargs = optimizer_setup(optimizer_class, optimizer_kwargs or {"eps": 1e-5})
        self.optimizer = checked_optimizer(optimizer_class, self.parameters(), learning_rate, kwargs)

    def set_training_mode(self, mode: bool) -> None:
        """Put the networks in training (True) or evaluation (False) mode (Stable-Baselines3's policy method)."""
        self.train(mode)

    def project_log_std_(self) -> None:
        """Clamp ``log_std`` into ``[LOG_STD_MIN, LOG_STD_MAX]`` in place (after each optimizer step): a value left
        outside would get no gradient from the clamp in :meth:`distribution` and stay there for good."""
        with torch.no_grad():
            self.log_std.clamp_(LOG_STD_MIN, LOG_STD_MAX)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.log_std.device

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        """The Gaussian over pre-squash actions ``u`` for observations float[..., N, O]."""
        if obs.shape[-2:] != (self.n_agents, self.obs_dim):
            raise ValueError(
                f"obs has shape {tuple(obs.shape)}; expected [..., n_agents={self.n_agents}, obs_dim={self.obs_dim}]"
            )
        inputs = torch.cat([obs, self.agent_ids.expand(*obs.shape[:-1], self.n_agents)], dim=-1)
        std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        return torch.distributions.Normal(self.actor(inputs), std.expand(*obs.shape[:-1], self.action_dim))

    def act(
        self, obs: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions for every agent.

        :param obs: clean observations float[B, N, O].
        :param deterministic: take ``tanh(mean)`` instead of sampling.
        :param generator: random generator on the policy's device (None: torch's global one).
        :return: actions ``tanh(u)`` float[B, N, O] in (-1, 1), the pre-squash ``u`` and its log-probability
            float[B, N] (of the squashed action).
        """
        distribution = self.distribution(obs)
        pre_tanh = distribution.mean
        if not deterministic:
            noise = torch.randn(pre_tanh.shape, generator=generator, device=pre_tanh.device, dtype=pre_tanh.dtype)
            pre_tanh = pre_tanh + distribution.stddev * noise
        return torch.tanh(pre_tanh), pre_tanh, squashed_log_prob(distribution, pre_tanh)

    def evaluate_actions(
        self, obs: torch.Tensor, pre_tanh: torch.Tensor, entropy_gradient: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability float[..., N] of stored pre-squash actions (of the squashed actions) and the squashed
        action's entropy float[..., N] (:func:`squashed_entropy`; without a gradient when ``entropy_gradient`` is
        False, e.g. with no entropy bonus: the quadrature's graph is the larger part of the memory).

        The Gaussian's entropy of ``u`` is no stand-in for the entropy of ``tanh(u)``: it grows with ``log_std``
        while the squashed one falls once ``log_std`` passes about 0 (the actions saturate at +-1), so a bonus on it
        would push the perturbations to the ball's corners. Nor is minus the stored action's log-probability
        (Stable-Baselines3's estimate): its expected gradient is zero at the rollout's policy, and the squashing's
        term has no gradient at all.
        """
        distribution = self.distribution(obs)
        with torch.set_grad_enabled(entropy_gradient and torch.is_grad_enabled()):
            entropy = squashed_entropy(distribution)
        return squashed_log_prob(distribution, pre_tanh), entropy

    def value(self, state: torch.Tensor) -> torch.Tensor:
        """Critic value float[...] of global states float[..., S]."""
        return self.critic(state).squeeze(-1)
