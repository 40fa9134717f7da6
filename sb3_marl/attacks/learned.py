"""Learned attacks: an RL adversary picks an action each step and the attack turns it into a perturbation.

* :class:`ATLAAttack` (Zhang et al. 2021): the adversary's action is the perturbation direction itself,
  ``δ = ε · a`` with ``a = tanh(u)`` in ``(-1, 1)^O`` from a :class:`~sb3_marl.adversaries.MAPPO` actor.
* :class:`PAADAttack` (Sun et al. 2022): the adversary (the *director*, a QMIX) picks a target action ``â`` per
  agent and the *actor*, a targeted FGSM (paper eq. 7), steers the victim toward ``â`` and off its greedy action.

Both split into :meth:`LearnedAttack.adversary_actions` (what the trained adversary chooses) and
:meth:`LearnedAttack.perturb_with_actions` (how a chosen action becomes an observation inside the ε-ball). The
adversary envs of :mod:`sb3_marl.adversaries.adversary_env` use the second half alone, with actions coming from
the adversary being trained, so training and attacking share exactly the same perturbation.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sb3_marl.attacks.base import BaseAttack, check_perturb_inputs, check_step_inputs
from sb3_marl.attacks.gradient import FGSM
from sb3_marl.common.validation import flag
from sb3_marl.policies.qmix_policy import greedy_actions

if TYPE_CHECKING:
    from sb3_marl.adversaries.mappo import MAPPO
    from sb3_marl.adversaries.policies import MAPPOPolicy
    from sb3_marl.policies.qmix_policy import QMIXPolicy
    from sb3_marl.qmix import QMIX


class LearnedAttack(BaseAttack):
    """An attack driven by a trained adversary (see the module docstring).

    :param epsilon: l∞ budget (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param attacked_agents: which agents are attacked (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param clip_observations: clip to the observation bounds (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param obs_low: lower bound of each observation feature, float[O], or None.
    :param obs_high: upper bound of each observation feature, float[O], or None.
    :param seed: seed of the attack's random generator.
    """

    supports_target_actions = False
    #: the adversary's actions are float[B, N, O], one value per observation feature (ATLA's perturbation
    #: directions), rather than int64[B, N] action indices (PA-AD's target actions)
    adversary_actions_per_feature: bool = False

    def check_fits_env(self, env: Any) -> None:
        """Also a ValueError when the trained adversary was made for other agents, observations or actions than
        ``env``'s (it failed inside the adversary at the first attacked step: an evaluation's first one)."""
        super().check_fits_env(env)
        adversary = self._adversary_policy()
        if adversary is None:
            return
        expected = self._adversary_sizes(env)
        sizes = {name: getattr(adversary, name) for name in expected}
        if sizes != expected:
            raise ValueError(
                f"the {type(self).__name__}'s adversary ({type(adversary).__name__}) was made for {sizes}, but the "
                f"env has {expected}: use an adversary trained on this map"
            )

    def _checked_adversary(self, adversary: Any, name: str, method: str, kinds: str) -> Any:
        """``adversary``, the ``name`` argument (None, or a model or policy whose policy has ``method``: ``kinds``),
        refused with a TypeError when it is something else, and with a ValueError when it is a model without its
        networks yet or one playing in an adversary env of another epsilon than this attack's (it learned to perturb
        within that env's ball)."""
        if adversary is None:
            return None
        policy = getattr(adversary, "policy", adversary)
        if policy is None:
            raise ValueError(
                f"{name} is a {type(adversary).__name__} with no policy yet (built with _init_setup_model=False): "
                "give a trained one"
            )
        if not callable(getattr(policy, method, None)):
            raise TypeError(f"{name} must be {kinds} or None, got {type(adversary).__name__}")
        env_epsilon = getattr(getattr(adversary, "env", None), "epsilon", None)
        if env_epsilon is not None and not math.isclose(env_epsilon, self.epsilon, rel_tol=1e-6):
            raise ValueError(
                f"the {name}'s env perturbs with epsilon={env_epsilon}, but epsilon={self.epsilon} was given: the "
                f"{name} learned to perturb within its env's budget; give the attack that epsilon"
            )
        return adversary

    @abstractmethod
    def _adversary_policy(self) -> nn.Module | None:
        """The trained adversary's policy network (None: this attack only applies given actions)."""

    @abstractmethod
    def _adversary_sizes(self, env: Any) -> dict[str, int]:
        """The sizes the adversary's policy must have to attack ``env``, by the policy's attribute names."""

    def perturb_with_actions(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        adversary_actions: torch.Tensor,
        agent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Perturbed observations float[B, N, O] for given adversary actions (unattacked and dead agents untouched).

        Arguments as in :meth:`perturb`, plus ``adversary_actions`` (float[B, N, O] or int64[B, N]:
        :attr:`adversary_actions_per_feature`) and ``agent_mask``, the attacked agents bool[B, N] of this step if
        already drawn with :meth:`agent_mask` (None: drawn here).

        :raises TypeError, ValueError: an argument of another type, dtype, shape or device
            (:func:`~sb3_marl.attacks.base.check_perturb_inputs`).
        """
        check_perturb_inputs(
            policy,
            obs,
            avail_actions,
            last_action_onehot,
            hidden,
            actions=adversary_actions,
            actions_name="adversary_actions",
            actions_per_feature=self.adversary_actions_per_feature,
            agent_mask=agent_mask,
        )
        return self._on_attacked_agents(
            obs,
            agent_mask,
            lambda clean: self._apply_actions(
                policy,
                clean,
                avail_actions,
                last_action_onehot.detach(),
                hidden.detach(),
                adversary_actions.detach(),
            ),
        )

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
        actions = self.adversary_actions(obs, avail_actions, last_action_onehot)
        return self._apply_actions(policy, obs, avail_actions, last_action_onehot, hidden, actions)

    @abstractmethod
    def adversary_actions(
        self, obs: torch.Tensor, avail_actions: torch.Tensor, last_action_onehot: torch.Tensor
    ) -> torch.Tensor:
        """The trained adversary's actions for clean observations float[B, N, O].

        :raises TypeError, ValueError: an argument of another type, dtype, shape or device than the adversary's
            policy takes (:func:`~sb3_marl.attacks.base.check_step_inputs`).
        """

    @abstractmethod
    def _apply_actions(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        adversary_actions: torch.Tensor,
    ) -> torch.Tensor:
        """Perturb every agent's observation according to ``adversary_actions`` (masking is done by the caller)."""


class ATLAAttack(LearnedAttack):
    """ATLA: the perturbation is ``ε · a`` where ``a`` in ``[-1, 1]^O`` is a MAPPO adversary's action per agent.

    :param adversary: the trained :class:`~sb3_marl.adversaries.MAPPO` (or its ``MAPPOPolicy``); None for an
        attack that only applies given actions (:meth:`perturb_with_actions`), as the adversary env does.
    :param epsilon: l∞ budget.
    :param deterministic: act with ``tanh(mean)`` (default, as for a test-time attack) or sample the Gaussian
        from the attack's seeded generator.
    :param kwargs: ``attacked_agents``, ``clip_observations``, ``obs_low``, ``obs_high``, ``seed`` of
        :class:`~sb3_marl.attacks.base.BaseAttack`.
    """

    adversary_actions_per_feature = True

    def __init__(
        self, adversary: MAPPO | MAPPOPolicy | None, epsilon: float, deterministic: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(epsilon, **kwargs)
        self.adversary = self._checked_adversary(adversary, "adversary", "act", "a MAPPO model, its MAPPOPolicy")
        self.deterministic = flag("deterministic", deterministic)

    def _adversary_policy(self) -> MAPPOPolicy | None:
        return None if self.adversary is None else getattr(self.adversary, "policy", self.adversary)

    def _adversary_sizes(self, env: Any) -> dict[str, int]:
        return {"n_agents": env.n_agents, "obs_dim": env.obs_shape, "action_dim": env.obs_shape}

    def adversary_actions(
        self, obs: torch.Tensor, avail_actions: torch.Tensor, last_action_onehot: torch.Tensor
    ) -> torch.Tensor:
        policy = self._adversary_policy()
        if policy is None:
            raise RuntimeError("this ATLAAttack has no adversary: give one, or call perturb_with_actions()")
        check_step_inputs(policy, obs, avail_actions, last_action_onehot)
        actions, _, _ = policy.act(obs, self.deterministic, None if self.deterministic else self.generator(obs.device))
        return actions

    def _apply_actions(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        adversary_actions: torch.Tensor,
    ) -> torch.Tensor:
        if not bool(torch.isfinite(adversary_actions).all()):
            raise ValueError("ATLA actions must be finite (NaN or inf would leave the epsilon-ball)")
        return self.project(obs, self.epsilon * adversary_actions.clamp(-1.0, 1.0))

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "deterministic": self.deterministic}


class PAADAttack(LearnedAttack):
    """PA-AD: a QMIX director picks a target action per agent; a targeted FGSM (paper eq. 7) steers toward it.

    The director is recurrent: the attack keeps the director's hidden state and previous target actions between
    calls, and restarts them for every env whose victim ``last_action_onehot`` is all zero (an episode's first
    step, where SMAC agents have no previous action) or when the batch size changes. An evaluation played inside
    :meth:`separate_memory` (as ``evaluate_policy`` plays) leaves the memory of the episodes in progress as it was.

    :param director: the trained director (a :class:`~sb3_marl.qmix.QMIX` on a
        :class:`~sb3_marl.adversaries.TargetActionAdversaryEnv`, or its ``QMIXPolicy``); None for an attack that
        only applies given target actions (:meth:`perturb_with_actions`), as the adversary env does.
    :param epsilon: l∞ budget.
    :param push_off_greedy: the actor also pushes away from the victim's clean greedy action (eq. 7; default).
    :param kwargs: ``attacked_agents``, ``clip_observations``, ``obs_low``, ``obs_high``, ``seed`` of
        :class:`~sb3_marl.attacks.base.BaseAttack`.
    """

    def __init__(
        self, director: QMIX | QMIXPolicy | None, epsilon: float, push_off_greedy: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(epsilon, **kwargs)
        self.director = self._checked_adversary(director, "director", "q_values", "a QMIX model, its QMIXPolicy")
        # Agent selection is done by this attack; the actor perturbs whatever it is given.
        push_off_greedy = flag("push_off_greedy", push_off_greedy)
        self.actor = FGSM(  # seeded: an unseeded attack draws its seed from torch's global generator
            epsilon, clip_observations=self.clip_observations, push_off_greedy=push_off_greedy, seed=self.seed
        )
        if self.obs_low is not None:
            self.actor.set_observation_bounds(self.obs_low, self.obs_high)
        self._director_hidden: torch.Tensor | None = None
        self._director_last_action: torch.Tensor | None = None

    def set_observation_bounds(
        self, obs_low: torch.Tensor | Sequence[float], obs_high: torch.Tensor | Sequence[float]
    ) -> None:
        super().set_observation_bounds(obs_low, obs_high)
        if hasattr(self, "actor"):
            self.actor.set_observation_bounds(obs_low, obs_high)

    def use_env_bounds(self, env: object) -> None:
        super().use_env_bounds(env)
        if not self._own_bounds:
            self.actor.use_env_bounds(env)

    def _adversary_policy(self) -> QMIXPolicy | None:
        return None if self.director is None else getattr(self.director, "policy", self.director)

    def _adversary_sizes(self, env: Any) -> dict[str, int]:
        return {"n_agents": env.n_agents, "obs_dim": env.obs_shape, "n_actions": env.n_actions}

    def _get_memory(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self._director_hidden, self._director_last_action

    def _set_memory(self, memory: tuple[torch.Tensor | None, torch.Tensor | None] | None) -> None:
        self._director_hidden, self._director_last_action = (None, None) if memory is None else memory

    def adversary_actions(
        self, obs: torch.Tensor, avail_actions: torch.Tensor, last_action_onehot: torch.Tensor
    ) -> torch.Tensor:
        """The director's greedy target actions int64[B, N] (over the victim's available actions)."""
        policy = self._adversary_policy()
        if policy is None:
            raise RuntimeError("this PAADAttack has no director: give one, or call perturb_with_actions()")
        check_step_inputs(policy, obs, avail_actions, last_action_onehot)  # before the memory changes
        batch_size = obs.shape[0]
        if self._director_hidden is None or self._director_hidden.shape[0] != batch_size:
            self._director_hidden = policy.initial_hidden(batch_size)
            self._director_last_action = torch.zeros_like(avail_actions, dtype=obs.dtype)
        episode_start = last_action_onehot.flatten(1).eq(0).all(dim=1).view(-1, 1, 1)
        hidden = self._director_hidden.masked_fill(episode_start, 0.0)
        last_target = self._director_last_action.masked_fill(episode_start, 0.0)
        q_values, self._director_hidden = policy.q_values(obs, last_target, hidden)
        targets = greedy_actions(q_values, avail_actions)
        self._director_last_action = nn.functional.one_hot(targets, avail_actions.shape[-1]).to(obs.dtype)
        return targets

    def _apply_actions(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        adversary_actions: torch.Tensor,
    ) -> torch.Tensor:
        return self.actor.perturb(
            policy, obs, avail_actions, last_action_onehot, hidden, target_actions=adversary_actions
        )

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "push_off_greedy": self.actor.push_off_greedy}
