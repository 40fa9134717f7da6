"""The batched multi-agent environment interface every algorithm in sb3-marl talks to.

A :class:`BatchedMultiAgentEnv` holds ``n_envs`` independent SMAC episodes and steps them as one
batch of tensors on ``device``.  Shapes use ``B = n_envs``, ``N = n_agents``, ``O = obs_shape``,
``S = state_shape`` and ``A = n_actions``.

Resetting finished episodes
---------------------------
``step()`` never resets an episode by itself.  When ``terminated[b]`` is True, the tensors returned
for env ``b`` are the *final* observation, state and availability of that episode (what an
algorithm needs to store the last transition).  The caller then calls ``reset(env_mask)`` with a
boolean mask of the envs to restart; envs outside the mask keep running untouched.  Stepping an env
whose episode has terminated and was not reset raises a ``RuntimeError`` naming the env.
"""

from __future__ import annotations

import reprlib
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from sb3_marl.common.validation import MAX_SEED, whole_number

#: ``(obs[B,N,O] float32, state[B,S] float32, avail_actions[B,N,A] bool)``
ResetReturn = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
#: ``(obs, state, avail_actions, reward[B] float32, terminated[B] bool, info)`` where ``info`` maps
#: ``battle_won``, ``episode_limit`` (bool[B]), ``dead_allies`` and ``dead_enemies`` (int64[B]) to tensors.
StepReturn = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]


#: ``make_env`` keywords that change how a game is run, recorded or shown (the simulator's speed, SC2's replays,
#: window and debug output), not the game: absent from an env's ``env_kwargs`` (a model keeps those given to it)
RUNTIME_ENV_KWARGS = ("compile", "replay_dir", "replay_prefix", "window_size_x", "window_size_y", "debug")


def joint_observation_space(n_agents: int, obs_shape: int) -> spaces.Box:
    """Joint observation space of one env: float32[N, O], unbounded (the simulator's features lie in [-1, 1], SMAC's
    may not)."""
    return spaces.Box(low=-np.inf, high=np.inf, shape=(n_agents, obs_shape), dtype=np.float32)


def global_state_space(state_shape: int) -> spaces.Box:
    """Global state space of one env: float32[S], unbounded."""
    return spaces.Box(low=-np.inf, high=np.inf, shape=(state_shape,), dtype=np.float32)


def joint_action_space(n_agents: int, n_actions: int) -> spaces.MultiDiscrete:
    """Joint action space of one env: one index in [0, A) per agent."""
    return spaces.MultiDiscrete([n_actions] * n_agents)


def check_joint_actions(
    actions: Any,
    avail_actions: torch.Tensor,
    *,
    stopped: torch.Tensor | None = None,
    stopped_message: str = "env {env} has terminated and was not reset; call reset(env_mask) first",
) -> torch.Tensor:
    """The joint actions of a batch of envs checked against their available actions: int64[B, N] on the device of
    ``avail_actions`` (the integer tensor given, as ``torch.as_tensor(actions).long()``, when it is valid).

    Errors, each naming the first bad env (and agent) in row-major order:

    * ``actions`` that torch cannot read as a tensor (a string, None, ragged lists), not of shape ``[B, N]``, or not of
      an integer dtype (float, complex and bool are refused: a bool or a float is no action index): a ValueError;
    * an env of ``stopped`` (bool[B], when given: the envs that may not be stepped, e.g. terminated and not reset): a
      RuntimeError with ``stopped_message`` formatted with ``env`` (checked after the shape and before the
      availability, whose masks are stale there);
    * an action outside ``[0, A)`` or not available to its agent: a ValueError with the agent's available actions.

    Valid actions cost one device synchronisation (``stopped`` included).

    :param actions: int[B, N] action indices (a tensor, an array or nested lists).
    :param avail_actions: bool[B, N, A] available actions of the current time step; it sets B, N, A and the device.
    :param stopped: bool[B] envs that may not be stepped (any device), or None.
    :param stopped_message: the RuntimeError's message for a stopped env, a ``str.format`` template of ``env``.
    """
    n_envs, n_agents, n_actions = avail_actions.shape
    expected = f"actions must be integer action indices of shape ({n_envs}, {n_agents}) = (n_envs, n_agents)"
    try:
        actions = torch.as_tensor(actions, device=avail_actions.device)
    except (TypeError, ValueError, RuntimeError):  # a string, None, ragged lists: torch names none of this
        raise ValueError(f"{expected} (a tensor, an array or nested lists), got {reprlib.repr(actions)}") from None
    if (
        tuple(actions.shape) != (n_envs, n_agents)
        or actions.dtype.is_floating_point
        or actions.dtype.is_complex
        or actions.dtype == torch.bool
    ):
        raise ValueError(f"{expected}, got {actions.dtype} of shape {tuple(actions.shape)}")
    wrapped_by_long = actions.dtype == torch.uint64  # values from 2**63 on turn negative in int64
    actions = actions.long()
    in_range = (actions >= 0) & (actions < n_actions)
    ok = in_range & avail_actions.gather(2, actions.clamp(0, n_actions - 1).unsqueeze(-1)).squeeze(-1)
    bad = ~ok.all()
    if stopped is not None:
        stopped = stopped.to(avail_actions.device)
        bad = stopped.any() | bad
    if bool(bad):  # the one synchronisation of valid actions
        if stopped is not None and bool(stopped.any()):
            raise RuntimeError(stopped_message.format(env=int(stopped.nonzero()[0, 0])))
        env, agent = (int(i) for i in (~ok).nonzero()[0])
        action = int(actions[env, agent]) + (2**64 if wrapped_by_long and int(actions[env, agent]) < 0 else 0)
        allowed = avail_actions[env, agent].nonzero().flatten().tolist()
        if not bool(in_range[env, agent]):
            raise ValueError(
                f"env {env}, agent {agent}: action {action} is not available: it is not an action index in "
                f"[0, {n_actions}) (available actions: {allowed})"
            )
        raise ValueError(
            f"env {env}, agent {agent}: action {action} is not available "
            f"(available actions: {allowed}; n_actions = {n_actions}); a model's predict() takes the env's "
            "avail_actions (it treats every action as available without them)"
        )
    return actions


def game_env_kwargs(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` without the :data:`RUNTIME_ENV_KWARGS`: the settings of the game itself."""
    return {key: value for key, value in env_kwargs.items() if key not in RUNTIME_ENV_KWARGS}


def highest_batch_seed(n_envs: int) -> int:
    """The highest seed of a batch of ``n_envs`` envs, ``2**32 - n_envs``: env ``b`` plays ``seed + b``, and every
    env's seed is an unsigned 32-bit number (the range of numpy's and StarCraft II's seeds; the simulator hashes 32
    bits of it)."""
    return MAX_SEED + 1 - n_envs


def batch_seed(seed: Any, n_envs: int) -> int:
    """``seed`` of a batch of ``n_envs`` envs as an ``int``: a whole number (numpy's included) in
    ``[0, highest_batch_seed(n_envs)]``; otherwise a ValueError."""
    high = highest_batch_seed(n_envs)
    try:
        return whole_number("seed", seed, 0, high)
    except ValueError:
        raise ValueError(
            f"seed={seed!r} must be an integer in [0, {high}] (= 2**32 - n_envs): env b of the batch of {n_envs} "
            "plays seed + b, and seeds are unsigned 32-bit"
        ) from None


class BatchedMultiAgentEnv(ABC):
    """``n_envs`` SMAC episodes stepped together as tensors (see the module docstring for resets)."""

    map_name: str
    n_envs: int
    n_agents: int
    n_enemies: int
    n_actions: int
    obs_shape: int
    state_shape: int
    episode_limit: int
    device: torch.device

    #: ``make_env``'s backend that built the env (``"sim"``, ``"sc2"``), recorded by the models trained in it; None
    #: for envs ``make_env`` does not build
    backend: str | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The ``make_env`` keywords that set this env's game (rewards, observation features, ``step_mul``, ...), as
        given, without the :data:`RUNTIME_ENV_KWARGS`: a model trained in the env records them, so that
        ``Model.load(path, env=map_name)`` builds the same game. Empty here; the SMAC envs override it, and a wrapper
        must return its wrapped env's."""
        return {}

    @property
    def time_observed(self) -> bool:
        """Whether the observations or the state hold the episode's time step (SMAC's ``obs_timestep_number`` /
        ``state_timestep_number``, read from the env's ``layout``): the episode limit is then part of the task, so
        learners treat a timeout as a terminal state instead of bootstrapping through it. False without a layout."""
        flags = getattr(getattr(self, "layout", None), "flags", None)
        return flags is not None and bool(flags.obs_timestep_number or flags.state_timestep_number)

    def truncated(self, terminated: torch.Tensor, info: dict[str, torch.Tensor]) -> torch.Tensor:
        """bool[B] on ``terminated``'s device: the episodes of a step that ended at the time limit and that learners
        bootstrap through (Gymnasium's ``truncated``, SB3's ``TimeLimit.truncated``): none where the env observes the
        time step (:attr:`time_observed`), since the limit is then part of the task.

        :param terminated: bool[B], the step's ``terminated``; :param info: the step's info, with ``episode_limit``.
        """
        if self.time_observed:
            return torch.zeros_like(terminated)
        return terminated & info["episode_limit"].to(terminated.device)

    @abstractmethod
    def reset(self, env_mask: torch.Tensor | None = None, seed: int | None = None) -> ResetReturn:
        """Start new episodes in the envs selected by ``env_mask`` (bool[B]; all when None).

        :param env_mask: which envs to reset; the others keep their running episodes.
        :param seed: reseed the env's random generator before resetting (None keeps the stream): env ``b`` of the mask
            gets ``seed + b``, so ``seed`` is an integer in ``[0, 2**32 - n_envs]`` (:func:`batch_seed`).
        :return: observations, states and available actions of *all* envs after the reset.
        """

    @abstractmethod
    def step(self, actions: torch.Tensor) -> StepReturn:
        """Apply one joint action per env: ``actions`` is int64[B, N] of action indices.

        Raises ``ValueError`` naming the env, agent and action when an action is not available
        (:func:`check_joint_actions` does the checks).
        """

    @abstractmethod
    def get_stats(self) -> dict[str, float]:
        """SMAC's statistics summed over the batch.

        Keys: battles_won, battles_game, battles_draw, win_rate, timeouts, restarts.
        """

    def close(self) -> None:
        """Release resources (processes of the SC2 backend); a no-op for the simulator."""
        return None

    def render(self, mode: str = "rgb_array", env_index: int = 0) -> np.ndarray | None:
        """An (H, W, 3) uint8 frame of env ``env_index`` (only ``"rgb_array"`` is supported by default)."""
        raise NotImplementedError(f"{type(self).__name__} does not support rendering")

    def get_env_info(self) -> dict[str, Any]:
        """SMAC's ``get_env_info()`` keys plus ``n_envs``; with an observation ``layout`` (the simulator's and the SC2
        backend's) also SMAC's ``agent_features`` and ``enemy_features``.

        ``obs_shape`` is the real length ``O`` of the observation vectors: with ``obs_timestep_number`` that is one
        more than SMAC's ``get_obs_size()`` (SMAC leaves a zero slot in the own features and appends the time step
        after them; ``layout.obs_size`` holds SMAC's number), so that ``obs_shape`` always matches ``obs.shape[-1]``.
        """
        info = {
            "state_shape": self.state_shape,
            "obs_shape": self.obs_shape,
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
            "n_envs": self.n_envs,
        }
        layout = getattr(self, "layout", None)
        if layout is not None:
            info.update(agent_features=layout.agent_features, enemy_features=layout.enemy_features)
        return info

    # Gymnasium spaces describing one env of the batch.
    @property
    def observation_space(self) -> spaces.Box:
        """Per-env joint observation space, shape (N, O)."""
        return joint_observation_space(self.n_agents, self.obs_shape)

    @property
    def state_space(self) -> spaces.Box:
        """Per-env global state space, shape (S,)."""
        return global_state_space(self.state_shape)

    @property
    def action_space(self) -> spaces.MultiDiscrete:
        """Per-env joint action space: one index in [0, A) per agent."""
        return joint_action_space(self.n_agents, self.n_actions)

    @property
    def num_envs(self) -> int:
        """Alias of ``n_envs`` under the name Stable-Baselines3 callbacks read (``training_env.num_envs``)."""
        return self.n_envs

    def __enter__(self) -> BatchedMultiAgentEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
