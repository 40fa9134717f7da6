"""The victim's game seen from the adversary: a batched env where the adversary acts and a frozen victim plays.

:class:`AdversaryEnv` wraps a :class:`~sb3_marl.envs.base.BatchedMultiAgentEnv` and a victim ``QMIXPolicy``.
Each :meth:`~AdversaryEnv.step` takes the adversary's actions, turns them into perturbed observations with a
:class:`~sb3_marl.attacks.learned.LearnedAttack`, lets the victim act greedily on them (its GRU state and last
actions are tracked here, as the victim would have them under attack), steps the wrapped env and returns:

* observations, state and termination/info of the wrapped env unchanged (the adversary sees the clean
  observation of each agent it attacks, and the global state);
* reward ``= -`` the victim team's reward (paper eq. 2, Algorithms 1-2);
* available actions ``=`` the victim's available actions (PA-AD's targets must be actions the victim can take;
  the continuous ATLA adversary ignores them);
* ``info["attacked_agents"]``: bool[B, N], the agents whose observation the adversary's action perturbed at this
  step (live agents among the attack's ``attacked_agents``); the others' actions had no effect.

Resets follow :mod:`sb3_marl.envs.base`: ``step`` never resets; ``reset(env_mask)`` restarts the selected envs
and clears the victim's hidden state and last actions there.

The victim is *not* copied: it is frozen in the sense that nothing here trains it (``no_grad``), so alternating
training (ATLA/PA-AD) can keep wrapping the live victim network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sb3_marl.attacks.base import AttackedAgents
from sb3_marl.attacks.learned import ATLAAttack, LearnedAttack, PAADAttack
from sb3_marl.common.evaluation import check_env_matches
from sb3_marl.common.validation import numeric_array
from sb3_marl.envs.base import BatchedMultiAgentEnv, ResetReturn, StepReturn, check_joint_actions


def victim_policy(victim: Any) -> nn.Module:
    """The ``QMIXPolicy`` of ``victim`` (a QMIX model or the policy itself); a ValueError for a model without its
    networks yet or a learned adversary (PA-AD's director: a QMIX whose team plays against its victim's)."""
    policy = getattr(victim, "policy", victim)
    if policy is None:
        raise ValueError(
            f"victim is a {type(victim).__name__} with no policy yet (built with _init_setup_model=False): give a "
            "trained QMIX-family model"
        )
    if getattr(victim, "battle_won_is_a_loss", False):
        raise ValueError(
            f"victim is a {type(victim).__name__}, a learned adversary (it plays against its victim's team): give the "
            "QMIX-family team model to attack"
        )
    if not callable(getattr(policy, "q_values", None)):
        raise TypeError(f"victim must be a QMIX model or a QMIXPolicy (with q_values), got {type(victim).__name__}")
    return policy


def perturbation_action_space(n_agents: int, obs_shape: int) -> spaces.Box:
    """ATLA's joint action space of one env: one perturbation direction in ``[-1, 1]^O`` per agent."""
    return spaces.Box(low=-1.0, high=1.0, shape=(n_agents, obs_shape), dtype=np.float32)


class AdversaryEnv(BatchedMultiAgentEnv):
    """The wrapped env as an environment for the adversary (see the module docstring).

    :param env: the victim's batched env.
    :param victim: the victim, a QMIX model or its ``QMIXPolicy``; it acts greedily on the perturbed observations.
    :param attack: turns adversary actions into perturbed observations (its director/adversary is not used).
    """

    def __init__(self, env: BatchedMultiAgentEnv, victim: Any, attack: LearnedAttack) -> None:
        if not isinstance(env, BatchedMultiAgentEnv):
            raise TypeError(
                f"env must be a BatchedMultiAgentEnv (e.g. make_env({env!r})), got {type(env).__name__}"
                if isinstance(env, str)
                else f"env must be a BatchedMultiAgentEnv, got {type(env).__name__}"
            )
        if isinstance(env, AdversaryEnv):
            raise TypeError(
                f"env is already an adversary env ({type(env).__name__}, whose reward is minus its victim team's); "
                "give the game env (its .env)"
            )
        self.env = env
        self.victim = victim_policy(victim)
        check_env_matches(self.victim, env)
        attack.check_fits_env(env)
        self.attack = attack
        attack.use_env_bounds(env)
        for name in (
            "map_name",
            "n_envs",
            "n_agents",
            "n_enemies",
            "n_actions",
            "obs_shape",
            "state_shape",
            "episode_limit",
            "device",
        ):
            setattr(self, name, getattr(env, name))
        self.obs_low = getattr(env, "obs_low", None)
        self.obs_high = getattr(env, "obs_high", None)
        self._obs: torch.Tensor | None = None
        self._avail: torch.Tensor | None = None
        # the victim's recurrent state and last actions live on the victim's device (the env's may be another)
        self._hidden = self.victim.initial_hidden(self.n_envs).to(self.victim_device)
        self._last_action = torch.zeros(self.n_envs, self.n_agents, self.n_actions, device=self.victim_device)

    @property
    def victim_device(self) -> torch.device:
        """The device of the victim's networks, where its observations are perturbed and its actions chosen."""
        return next(self.victim.parameters()).device

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The wrapped env's game settings: the adversary plays the victim's game."""
        return self.env.env_kwargs

    @property
    def backend(self) -> str | None:
        """The wrapped env's backend."""
        return self.env.backend

    @property
    def time_observed(self) -> bool:
        """Whether the wrapped env's observations or state hold the time step (a timeout is then terminal)."""
        return self.env.time_observed

    @property
    def epsilon(self) -> float:
        """The l∞ budget of the perturbations."""
        return self.attack.epsilon

    def reset(self, env_mask: torch.Tensor | None = None, seed: int | None = None) -> ResetReturn:
        obs, state, avail = self.env.reset(env_mask, seed)
        device = self.victim_device  # as in step: the victim's state follows the victim should it have moved
        restart = torch.ones(self.n_envs, dtype=torch.bool) if env_mask is None else torch.as_tensor(env_mask)
        restart = restart.to(device).view(-1, 1, 1)
        self._hidden = self._hidden.to(device).masked_fill(restart, 0.0)
        self._last_action = self._last_action.to(device).masked_fill(restart, 0.0)
        self._obs, self._avail = obs, avail
        return obs, state, avail

    def step(self, actions: torch.Tensor) -> StepReturn:
        """Perturb with the adversary's ``actions``, let the victim act greedily, step the env; reward negated."""
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        device = self.victim_device
        clean_obs, avail = self._obs.to(device), self._avail.to(device)
        hidden, last_action = self._hidden.to(device), self._last_action.to(device)
        with torch.no_grad():
            attacked = self.attack.agent_mask(clean_obs)
            perturbed = self.attack.perturb_with_actions(
                self.victim, clean_obs, avail, last_action, hidden, actions.to(device), attacked
            )
            q_values, self._hidden = self.victim.q_values(perturbed, last_action, hidden)
            victim_actions = self.victim.select_actions(q_values, avail, 0.0)
        self._last_action = nn.functional.one_hot(victim_actions, self.n_actions).to(self._last_action.dtype)
        victim_actions, attacked = victim_actions.to(self.device), attacked.to(self.device)
        obs, state, avail, reward, terminated, info = self.env.step(victim_actions)
        self._obs, self._avail = obs, avail
        return (
            obs,
            state,
            avail,
            -reward,
            terminated,
            {**info, "victim_actions": victim_actions, "attacked_agents": attacked},
        )

    def get_stats(self) -> dict[str, float]:
        """The wrapped env's statistics (``win_rate`` is the *victim's*)."""
        return self.env.get_stats()

    def close(self) -> None:
        self.env.close()

    def render(self, mode: str = "rgb_array", env_index: int = 0) -> np.ndarray | None:
        return self.env.render(mode, env_index)


class PerturbationAdversaryEnv(AdversaryEnv):
    """ATLA's env: actions are float[B, N, O] in ``[-1, 1]``, applied as ``õ = clip(o + ε·a)``.

    :param env: the victim's batched env.
    :param victim: a QMIX model or its ``QMIXPolicy``.
    :param epsilon: l∞ budget (observation units).
    :param attacked_agents: which agents are perturbed (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param clip_observations: clip perturbed observations to the env's ``obs_low``/``obs_high``.
    :param seed: seed of the draws of the attacked agents (an int ``attacked_agents``); None: from torch's global
        generator.
    """

    def __init__(
        self,
        env: BatchedMultiAgentEnv,
        victim: Any,
        epsilon: float,
        attacked_agents: AttackedAgents = None,
        clip_observations: bool = True,
        seed: int | None = None,
    ) -> None:
        attack = ATLAAttack(
            None, epsilon, attacked_agents=attacked_agents, clip_observations=clip_observations, seed=seed
        )
        super().__init__(env, victim, attack)

    @property
    def action_space(self) -> spaces.Box:
        """Per-env action space: one direction in ``[-1, 1]^O`` per agent."""
        return perturbation_action_space(self.n_agents, self.obs_shape)

    def step(self, actions: torch.Tensor | np.ndarray) -> StepReturn:
        """Perturb with the adversary's directions ``actions`` float[B, N, O] (a tensor, or a numpy array or nested
        list, taken as float32 on the env's device), let the victim act greedily, step the env; reward negated."""
        if not isinstance(actions, torch.Tensor):
            expected = f"float32[n_envs={self.n_envs}, n_agents={self.n_agents}, obs_dim={self.obs_shape}]"
            actions = torch.as_tensor(
                numeric_array("actions", actions, expected), dtype=torch.float32, device=self.device
            )
        return super().step(actions)


class TargetActionAdversaryEnv(AdversaryEnv):
    """PA-AD's env: actions are int64[B, N] target actions, steered toward by a targeted FGSM (paper eq. 7).

    Its action space is the victim's (``MultiDiscrete([A] * N)``, availability = the victim's), so the director is
    a plain QMIX trained on this env.

    :param env: the victim's batched env.
    :param victim: a QMIX model or its ``QMIXPolicy``.
    :param epsilon: l∞ budget (observation units).
    :param attacked_agents: which agents are perturbed (see :class:`~sb3_marl.attacks.base.BaseAttack`).
    :param clip_observations: clip perturbed observations to the env's ``obs_low``/``obs_high``.
    :param push_off_greedy: the actor also pushes away from the victim's clean greedy action (eq. 7).
    :param seed: seed of the draws of the attacked agents (an int ``attacked_agents``); None: from torch's global
        generator.
    """

    def __init__(
        self,
        env: BatchedMultiAgentEnv,
        victim: Any,
        epsilon: float,
        attacked_agents: AttackedAgents = None,
        clip_observations: bool = True,
        push_off_greedy: bool = True,
        seed: int | None = None,
    ) -> None:
        attack = PAADAttack(
            None,
            epsilon,
            push_off_greedy=push_off_greedy,
            attacked_agents=attacked_agents,
            clip_observations=clip_observations,
            seed=seed,
        )
        super().__init__(env, victim, attack)

    def step(self, actions: torch.Tensor) -> StepReturn:
        """Steer the victim toward the target ``actions`` (int[B, N], available to the victim:
        :func:`~sb3_marl.envs.base.check_joint_actions`), step the env; reward negated."""
        if self._avail is not None:  # else the base class asks for reset()
            actions = check_joint_actions(actions, self._avail)
        return super().step(actions)
