"""On-policy storage of ``n_steps`` batched env steps for MAPPO, with generalised advantage estimation.

Shapes: ``T = n_steps``, ``B`` envs, ``N`` agents, ``O`` observation size, ``D`` action size, ``S`` state size.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from sb3_marl.common.returns import backward_recurrence


class MultiAgentRolloutBuffer:
    """Preallocated tensors ``[T, B, ...]`` on one device; :meth:`compute_returns_and_advantage` then minibatches.

    The critic's value of the state *after* each step is stored with it (``next_values``), computed before the
    env is reset, so that GAE bootstraps correctly through time-limit endings (``timeouts``) while true
    terminations bootstrap from zero.

    :param n_steps: env steps per env in one rollout.
    :param n_envs: envs stepped together.
    :param n_agents: agents per env.
    :param obs_dim: observation size ``O``.
    :param action_dim: action size ``D`` (the pre-squash Gaussian sample is stored).
    :param state_dim: global state size ``S``.
    :param device: where the tensors live.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        n_agents: int,
        obs_dim: int,
        action_dim: int,
        state_dim: int,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = (n_steps, n_envs)
        device = torch.device(device)
        self.n_steps, self.n_envs = n_steps, n_envs
        self.obs = torch.zeros(*shape, n_agents, obs_dim, device=device)
        self.states = torch.zeros(*shape, state_dim, device=device)
        self.pre_tanh = torch.zeros(*shape, n_agents, action_dim, device=device)
        self.log_probs = torch.zeros(*shape, n_agents, device=device)
        self.agent_mask = torch.zeros(*shape, n_agents, dtype=torch.bool, device=device)
        self.rewards = torch.zeros(shape, device=device)
        self.values = torch.zeros(shape, device=device)
        self.next_values = torch.zeros(shape, device=device)
        self.dones = torch.zeros(shape, dtype=torch.bool, device=device)
        self.timeouts = torch.zeros(shape, dtype=torch.bool, device=device)
        self.advantages = torch.zeros(shape, device=device)
        self.returns = torch.zeros(shape, device=device)
        self.pos = 0

    @property
    def full(self) -> bool:
        """True once ``n_steps`` steps are stored."""
        return self.pos == self.n_steps

    def reset(self) -> None:
        """Start a new rollout (the tensors are overwritten in place)."""
        self.pos = 0

    def add(
        self,
        obs: torch.Tensor,
        state: torch.Tensor,
        pre_tanh: torch.Tensor,
        log_prob: torch.Tensor,
        agent_mask: torch.Tensor,
        reward: torch.Tensor,
        value: torch.Tensor,
        next_value: torch.Tensor,
        done: torch.Tensor,
        timeout: torch.Tensor,
    ) -> None:
        """Store one batched step.

        :param obs: float[B, N, O] observations the actor saw; :param state: float[B, S] critic input.
        :param pre_tanh: float[B, N, D] pre-squash actions; :param log_prob: float[B, N] their log-probabilities.
        :param agent_mask: bool[B, N] agents whose action had an effect (perturbed, so alive and attacked); the others
            are left out of the loss.
        :param reward: float[B]; :param value: float[B] ``V(s_t)``; :param next_value: float[B] ``V(s_{t+1})``.
        :param done: bool[B] the episode ended at this step; :param timeout: bool[B] it ended by the time limit.
        """
        if self.full:
            raise RuntimeError(f"the rollout buffer already holds n_steps={self.n_steps} steps; call reset()")
        t = self.pos
        for name, value_t in (
            ("obs", obs),
            ("states", state),
            ("pre_tanh", pre_tanh),
            ("log_probs", log_prob),
            ("agent_mask", agent_mask),
            ("rewards", reward),
            ("values", value),
            ("next_values", next_value),
            ("dones", done),
            ("timeouts", timeout),
        ):
            getattr(self, name)[t] = value_t
        self.pos += 1

    def compute_returns_and_advantage(self, gamma: float, gae_lambda: float) -> None:
        """GAE(λ): ``δ_t = r_t + γ V(s_{t+1}) [not terminal] - V(s_t)``, ``A_t = δ_t + γλ [not done] A_{t+1}``.

        A timeout is done (the trace stops) but not terminal (``V(s_{t+1})`` of the final state is used).
        """
        terminal = self.dones & ~self.timeouts
        deltas = self.rewards + gamma * self.next_values * (~terminal) - self.values
        trace = gamma * gae_lambda * (~self.dones)
        with torch.no_grad():  # backward_recurrence takes time as dim 1: [B, T]
            advantages = backward_recurrence(deltas.T, trace.T, torch.zeros_like(deltas[0]))
        self.advantages.copy_(advantages.T)
        self.returns = self.advantages + self.values

    def minibatches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled minibatches of ``batch_size`` env steps (the last one may be smaller), flattened over T and B."""
        fields = {
            "obs": self.obs,
            "states": self.states,
            "pre_tanh": self.pre_tanh,
            "log_probs": self.log_probs,
            "agent_mask": self.agent_mask,
            "advantages": self.advantages,
            "returns": self.returns,
            "values": self.values,
        }
        flat = {name: tensor.flatten(0, 1) for name, tensor in fields.items()}
        total = self.n_steps * self.n_envs
        order = torch.randperm(total, generator=generator, device=generator.device if generator else "cpu")
        order = order.to(self.obs.device)
        for start in range(0, total, batch_size):
            index = order[start : start + batch_size]
            yield {name: tensor[index] for name, tensor in flat.items()}
