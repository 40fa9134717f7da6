"""Gradient attacks on a recurrent Q-agent: FGSM (Goodfellow et al. 2014) and PGD (Madry et al. 2017).

The victim's policy is taken to be the softmax of its Q-values over the *available* actions. Untargeted, the
attacks ascend ``CE(softmax(Q(õ, h)), a*)`` where ``a*`` is the victim's greedy action on the clean observation
(paper eq. 3): they push each agent off its best action. With ``objective="margin"`` they ascend instead the
margin ``max_{a != a*} Q(õ, a) - Q(õ, a*)`` (the inner maximisation of the policy regulariser, eq. 5).
Targeted (``target_actions`` given, as the PA-AD actor does), they ascend ``-CE(softmax(Q(õ, h)), â)``, i.e.
move toward the target ``â``, plus ``CE(softmax(Q(õ, h)), a*)`` when ``push_off_greedy=True`` (paper eq. 7).
The recurrent state ``h`` is held fixed (detached) for the gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sb3_marl.attacks.base import AttackedAgents, BaseAttack
from sb3_marl.common.validation import finite_float, flag, whole_number
from sb3_marl.policies.qmix_policy import greedy_actions


def masked_log_softmax(q_values: torch.Tensor, avail_actions: torch.Tensor) -> torch.Tensor:
    """Log-softmax of ``q_values`` float[..., A] over the actions where ``avail_actions`` bool[..., A] is True.

    Unavailable actions get a log-probability near the float minimum and pass no gradient to their Q-value.
    """
    logits = q_values.masked_fill(~avail_actions, torch.finfo(q_values.dtype).min)
    return torch.log_softmax(logits, dim=-1)


def action_margin(q_values: torch.Tensor, avail_actions: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``max_{a != actions, a available} Q(a) - Q(actions)``, float[...]; ``-inf`` where no other action is available.

    Positive exactly where some other available action beats ``actions`` (int64[...]).
    """
    chosen = nn.functional.one_hot(actions, q_values.shape[-1]).bool()
    best_other = q_values.masked_fill(~avail_actions | chosen, -math.inf).amax(dim=-1)
    return best_other - q_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


OBJECTIVES = ("cross_entropy", "margin")


class GradientAttack(BaseAttack):
    """Shared machinery of FGSM and PGD: the attack objective and its gradient w.r.t. the observation.

    :param epsilon: l∞ budget (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param attacked_agents: which agents are attacked (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param clip_observations: clip to the observation bounds (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param obs_low: lower bound of each observation feature, float[O], or None.
    :param obs_high: upper bound of each observation feature, float[O], or None.
    :param seed: seed of the attack's random generator.
    :param push_off_greedy: in the targeted form, also push away from the clean greedy action (paper eq. 7);
        ignored when no ``target_actions`` are given (the untargeted form always pushes off it).
    :param objective: untargeted objective: ``"cross_entropy"`` (eq. 3) or ``"margin"`` (best other action's
        Q-value minus the greedy action's; agents with a single available action get no gradient).
    """

    supports_target_actions = True

    def __init__(
        self,
        epsilon: float,
        attacked_agents: AttackedAgents = None,
        clip_observations: bool = True,
        obs_low: torch.Tensor | Sequence[float] | None = None,
        obs_high: torch.Tensor | Sequence[float] | None = None,
        seed: int | None = None,
        push_off_greedy: bool = False,
        objective: str = "cross_entropy",
    ) -> None:
        super().__init__(epsilon, attacked_agents, clip_observations, obs_low, obs_high, seed)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; allowed: {OBJECTIVES}")
        self.push_off_greedy = flag("push_off_greedy", push_off_greedy)
        self.objective = objective

    def objective_gradient(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        greedy: torch.Tensor,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        """Gradient float[B, N, O] of the attack objective (summed over envs and agents) at observations ``obs``.

        Each agent's Q-values depend only on its own observation, so the sum gives every agent its own
        gradient. ``torch.autograd.grad`` is used so that the policy's parameters get no ``.grad``. cuDNN is off
        here: its fused RNN refuses a backward pass in eval mode, the mode evaluations attack the policy in.
        """
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            obs = obs.detach().requires_grad_(True)
            q_values, _ = policy.q_values(obs, last_action_onehot, hidden)
            (gradient,) = torch.autograd.grad(self._objective(q_values, avail_actions, greedy, target_actions), obs)
        return gradient

    def _objective(
        self,
        q_values: torch.Tensor,
        avail_actions: torch.Tensor,
        greedy: torch.Tensor,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        """The scalar the attack ascends, summed over envs and agents (see the module docstring)."""
        if self.objective == "margin":
            margin = action_margin(q_values, avail_actions, greedy)
            return torch.where(margin.isfinite(), margin, torch.zeros_like(margin)).sum()
        log_probs = masked_log_softmax(q_values, avail_actions)
        greedy_log_prob = log_probs.gather(-1, greedy.unsqueeze(-1)).sum()
        if target_actions is None:
            return -greedy_log_prob
        target_log_prob = log_probs.gather(-1, target_actions.unsqueeze(-1)).sum()
        return target_log_prob - greedy_log_prob if self.push_off_greedy else target_log_prob

    def _prepare(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        """Check ``target_actions`` (their values: :meth:`perturb` checked their shape and dtype) and return the clean
        greedy actions int64[B, N]."""
        if target_actions is not None:
            if self.objective != "cross_entropy":
                raise ValueError(f"target_actions need objective='cross_entropy', not {self.objective!r}")
            n_actions = avail_actions.shape[-1]
            if bool(((target_actions < 0) | (target_actions >= n_actions)).any()):
                raise ValueError(f"target_actions must be action indices in [0, {n_actions})")
            # an unavailable target has no probability to raise: the attack would silently turn untargeted
            unavailable = (~avail_actions.gather(-1, target_actions.unsqueeze(-1)).squeeze(-1)).nonzero()
            if len(unavailable):
                env, agent = unavailable[0].tolist()
                raise ValueError(
                    f"target_actions[{env}, {agent}]={int(target_actions[env, agent])} is not available to agent "
                    f"{agent} of env {env} (avail_actions): a targeted attack steers toward an action it can take"
                )
        q_clean, _ = policy.q_values(obs, last_action_onehot, hidden)
        return greedy_actions(q_clean, avail_actions)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "push_off_greedy": self.push_off_greedy, "objective": self.objective}


class FGSM(GradientAttack):
    """Fast gradient sign method: one step ``õ = o + ε·sign(∇_o J)`` (then clipped to the observation bounds).

    Parameters as in :class:`GradientAttack`.
    """

    def _perturb(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        state: torch.Tensor | None,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        greedy = self._prepare(policy, obs, avail_actions, last_action_onehot, hidden, target_actions)
        gradient = self.objective_gradient(
            policy, obs, avail_actions, last_action_onehot, hidden, greedy, target_actions
        )
        return self.project(obs, self.epsilon * gradient.sign())


class PGD(GradientAttack):
    """Projected gradient descent: ``n_steps`` signed steps of ``step_size``, each projected back onto the ε-ball.

    With ``n_steps=1``, ``step_size=epsilon`` and ``random_start=False`` it equals :class:`FGSM` exactly.

    :param epsilon: l∞ budget.
    :param n_steps: number of gradient steps (``>= 1``).
    :param step_size: size of each signed step (observation units); None means ``2.5 * epsilon / n_steps``.
    :param random_start: start from a uniform random point of the ε-ball instead of the clean observation.
    :param kwargs: the other arguments of :class:`GradientAttack` (``attacked_agents``, ``clip_observations``,
        ``obs_low``, ``obs_high``, ``seed``, ``push_off_greedy``, ``objective``).
    """

    def __init__(
        self,
        epsilon: float,
        n_steps: int = 10,
        step_size: float | None = None,
        random_start: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(epsilon, **kwargs)
        self.n_steps = whole_number("n_steps", n_steps, 1)
        self.step_size = None if step_size is None else finite_float("step_size", step_size, 0.0, low_open=True)
        self.random_start = flag("random_start", random_start)

    @property
    def effective_step_size(self) -> float:
        """The step size used: ``step_size`` or ``2.5 * epsilon / n_steps``."""
        return 2.5 * self.epsilon / self.n_steps if self.step_size is None else self.step_size

    def _perturb(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        state: torch.Tensor | None,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        greedy = self._prepare(policy, obs, avail_actions, last_action_onehot, hidden, target_actions)
        perturbed = self.random_point(obs) if self.random_start else obs
        for _ in range(self.n_steps):
            gradient = self.objective_gradient(
                policy, perturbed, avail_actions, last_action_onehot, hidden, greedy, target_actions
            )
            perturbed = self.project(obs, (perturbed - obs) + self.effective_step_size * gradient.sign())
        return perturbed

    def get_params(self) -> dict[str, Any]:
        return {
            **super().get_params(),
            "n_steps": self.n_steps,
            "step_size": self.step_size,
            "random_start": self.random_start,
        }
