"""Networks of the MAPPO perturbation adversary: a shared tanh-squashed Gaussian actor and a centralised critic.

Shapes: ``B`` envs, ``N`` agents, ``O`` observation size (also the action size: one perturbation direction per
observation feature), ``S`` state size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sb3_marl.common.validation import checked_optimizer, finite_float, whole_number

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


def squashed_log_prob(distribution: torch.distributions.Normal, pre_tanh: torch.Tensor) -> torch.Tensor:
    """Log-density of ``tanh(u)`` for ``u ~ distribution``, summed over the last axis (change of variables)."""
    # log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), numerically stable for large |u|
    log_det = 2.0 * (math.log(2.0) - pre_tanh - nn.functional.softplus(-2.0 * pre_tanh))
    return (distribution.log_prob(pre_tanh) - log_det).sum(dim=-1)


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
    :param optimizer_class: optimizer over all parameters.
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
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
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
        kwargs = optimizer_kwargs or {"eps": 1e-5}
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

    def evaluate_actions(self, obs: torch.Tensor, pre_tanh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability float[..., N] of stored pre-squash actions (of the squashed actions) and a one-sample
        estimate float[..., N] of the squashed action's entropy: minus that log-probability.

        The squashed Gaussian's entropy has no closed form, and the Gaussian's entropy of ``u`` is no stand-in: it
        grows with ``log_std`` while the entropy of ``tanh(u)`` falls once ``log_std`` passes about 0 (the actions
        saturate at +-1), so a bonus on it would push the perturbations to the ball's corners. Stable-Baselines3's
        PPO uses the same estimate for its squashed Gaussian.
        """
        log_prob = squashed_log_prob(self.distribution(obs), pre_tanh)
        return log_prob, -log_prob

    def value(self, state: torch.Tensor) -> torch.Tensor:
        """Critic value float[...] of global states float[..., S]."""
        return self.critic(state).squeeze(-1)
