"""Greedy test episodes, batched over the env's ``n_envs``, optionally under an observation attack."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sb3_marl.common.validation import flag, is_finite_number, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv

if TYPE_CHECKING:
    from sb3_marl.attacks.base import BaseAttack


def check_env_matches(policy: Any, env: BatchedMultiAgentEnv) -> None:
    """Raise a ValueError naming both when ``env``'s sizes are not those ``policy`` (a ``QMIXPolicy``) was built for.

    :param policy: the policy that will act in ``env``.
    :param env: the env to check (a TypeError when it is not a :class:`~sb3_marl.envs.base.BatchedMultiAgentEnv`).
    """
    if not isinstance(env, BatchedMultiAgentEnv):
        raise TypeError(
            f"the env must be a BatchedMultiAgentEnv (e.g. sb3_marl.envs.make_env('3m')), got {type(env).__name__}"
        )
    env_sizes = (env.n_agents, env.obs_shape, env.n_actions)
    if env_sizes != (policy.n_agents, policy.obs_dim, policy.n_actions):
        raise ValueError(
            f"env {env.map_name!r} has (n_agents, obs_shape, n_actions) = {env_sizes} but the model expects "
            f"{(policy.n_agents, policy.obs_dim, policy.n_actions)}"
        )


def acting_policy(model: Any) -> Any:
    """The ``QMIXPolicy`` that ``model`` (an sb3-marl algorithm, or the policy itself) acts with; a TypeError naming
    what ``model`` is when it is none of them (a path, a class, an algorithm without networks yet)."""
    if isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model={model!r} is a path: load the model first, e.g. QMIX.load({str(model)!r}), and pass it")
    if isinstance(model, type):
        raise TypeError(
            f"model={model.__name__} is a class: pass a model, e.g. {model.__name__}(env, ...) or "
            f"{model.__name__}.load(path)"
        )
    policy = getattr(model, "policy", model)
    if policy is None and model is not None:
        raise TypeError(
            f"the {type(model).__name__} model has no policy yet (built with _init_setup_model=False): call its "
            "_setup_model() first, or load a saved model"
        )
    if not callable(getattr(policy, "q_values", None)):
        found = "None" if model is None else f"a {type(model).__name__}"
        raise TypeError(f"model must be an sb3-marl algorithm (e.g. QMIX) or its QMIXPolicy, got {found}")
    return policy


def check_attack(attack: Any, env: BatchedMultiAgentEnv | None = None) -> None:
    """A TypeError when ``attack`` is no attack object (a name or a settings dict is built with
    :func:`~sb3_marl.attacks.make_attack`, a class is not an instance of it), a ValueError when it cannot attack
    ``env``'s agents (when given)."""
    if attack is None:
        return
    if isinstance(attack, type):
        raise TypeError(
            f"attack={attack.__name__} is a class: pass an attack object built from it, {attack.__name__}(...) with "
            "its settings (or sb3_marl.attacks.make_attack(...))"
        )
    if isinstance(attack, (str, Mapping)):
        raise TypeError(
            f"attack={attack!r}: give an attack object, e.g. sb3_marl.attacks.make_attack('fgsm', epsilon=0.2) "
            "(the robust algorithms take names and settings dicts; evaluations take the attack itself)"
        )
    if not callable(getattr(attack, "perturb", None)):
        raise TypeError(f"attack must be an attack (a BaseAttack, with perturb()), got {type(attack).__name__}")
    if env is not None and hasattr(attack, "check_fits_env"):
        attack.check_fits_env(env)


@dataclass
class PlayedEpisodes:
    """The counted episodes of :func:`play_episodes`, in the order they ended (env by env within one step)."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # env steps
    wins: list[bool] = field(default_factory=list)


#: ``act(obs, state, avail_actions, last_action_onehot, hidden) -> (actions, q, hidden_next)``
ActFunction = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    tuple[torch.Tensor, torch.Tensor, torch.Tensor],
]


def play_episodes(
    policy: Any,
    env: BatchedMultiAgentEnv,
    quota: Sequence[int] | torch.Tensor,
    act: ActFunction,
    after_step: Callable[[dict[str, Any]], None] | None = None,
) -> PlayedEpisodes:
    """Play from a reset of ``env`` until env ``i`` has ended ``quota[i]`` episodes; an env that reached its quota
    keeps running uncounted (stopping it would make the batch's episodes depend on the others' lengths).

    :param policy: the ``QMIXPolicy`` whose sizes and recurrent state the agents use (``act`` picks the actions).
    :param env: the env to play in, reset first.
    :param quota: episodes to count per env, one whole number per env.
    :param act: the agents' step, called before every batched env step with the observations, global states,
        available actions, the previous actions (one-hot, zero at an episode's start) and the recurrent states:
        returns the actions int64[n_envs, N], the Q-values they came from and the next recurrent states.
    :param after_step: called after every batched env step, before the envs whose episodes ended are reset, with
        this function's locals: the step's ``actions`` and ``q``; what the step returned (``obs``, ``state``,
        ``avail``: for an ended episode its last ones; ``reward``, ``terminated``, ``info``); ``episode_return``
        and ``episode_length`` (this step included); ``counting`` (bool[n_envs]: the envs whose current episode
        counts); ``played`` (the episodes counted before this step); ``hidden`` and ``last_action`` (the next
        step's inputs).
    """
    device = policy.device
    n_envs = env.n_envs
    quota = torch.as_tensor(quota, device=device)
    if quota.shape != (n_envs,) or quota.is_floating_point() or bool((quota < 0).any()):
        raise ValueError(f"quota must hold one whole number >= 0 per env ({n_envs} envs), got {quota.tolist()}")
    counted = torch.zeros(n_envs, dtype=torch.int64, device=device)
    episode_return = torch.zeros(n_envs, device=device)
    episode_length = torch.zeros(n_envs, dtype=torch.int64, device=device)
    hidden = policy.initial_hidden(n_envs)
    last_action = torch.zeros(n_envs, policy.n_agents, policy.n_actions, device=device)
    played = PlayedEpisodes()
    obs, state, avail = (x.to(device) for x in env.reset())
    while (counted < quota).any():
        actions, q, hidden = act(obs, state, avail, last_action, hidden)
        obs, state, avail, reward, terminated, info = env.step(actions)
        obs, state, avail, terminated = (x.to(device) for x in (obs, state, avail, terminated))
        episode_return += reward.to(device)
        episode_length += 1
        last_action = torch.nn.functional.one_hot(actions, policy.n_actions).float()
        counting = counted < quota
        if after_step is not None:
            after_step(locals())
        if terminated.any():
            ended = terminated & counting
            played.returns += episode_return[ended].tolist()
            played.lengths += episode_length[ended].tolist()
            played.wins += info["battle_won"].to(device)[ended].tolist()
            counted += terminated.long()
            keep = ~terminated
            episode_return, episode_length = episode_return * keep, episode_length * keep
            hidden, last_action = hidden * keep.view(-1, 1, 1), last_action * keep.view(-1, 1, 1)
            obs, state, avail = (x.to(device) for x in env.reset(terminated))
    return played


def refuse_render(caller: str, render: bool, hook: str) -> None:
    """Accept Stable-Baselines3's ``render`` keyword only as False: evaluations here do not draw.

    :param caller: the function or class named in the error.
    :param hook: where a user can call ``env.render()`` instead (e.g. ``"from the callback"``).
    """
    if flag("render", render):
        raise ValueError(
            f"render=True: {caller} does not draw; replay a model with zoo/enjoy.py, or call env.render() {hook}"
        )


def evaluate_policy(
    model: Any,
    env: BatchedMultiAgentEnv,
    n_eval_episodes: int = 32,
    deterministic: bool = True,
    attack: BaseAttack | None = None,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
    return_episode_rewards: bool = False,
    *,
    render: bool = False,
    warn: bool = True,
) -> tuple[float, float, float] | tuple[list[float], list[int], list[bool]]:
    """Run exactly ``n_eval_episodes`` episodes and report the win rate and the return.

    Episodes are split statically over the envs (env ``i`` counts ``(n_eval_episodes + i) // n_envs`` of them) so
    short episodes do not bias the sample; an env that reached its quota keeps running uncounted.  The env's own
    random stream is used: reset or seed it beforehand for a reproducible evaluation. The model's own training env
    (``model.get_env()``) may be given: its episodes in progress are dropped and the next ``learn`` starts new ones.

    :param model: an sb3-marl algorithm (its ``policy`` is used) or a ``QMIXPolicy``.
    :param env: the env to play in; its sizes must match the model's.
    :param n_eval_episodes: episodes to count (>= 1).
    :param deterministic: greedy actions when True, else epsilon-greedy at ``model.exploration_rate`` (an algorithm
        only: a bare policy has no exploration rate).
    :param attack: when given, ``attack.perturb`` replaces every step's observations before the agents act. An
        attack without observation bounds of its own takes the env's ``obs_low`` / ``obs_high`` (so it clips as
        the training attacks do, unless built with ``clip_observations=False``).
    :param callback: called after every batched env step with the loop's locals and ``globals()``, as in
        Stable-Baselines3: the step's ``obs``, ``actions``, ``q``, ``reward``, ``terminated``, ``info``, ... (those
        :func:`play_episodes` gives ``after_step``), and this function's ``model``, ``env``, ``n_eval_episodes``,
        ``attack`` and ``epsilon``.
    :param reward_threshold: when given, the mean episode return must exceed it, else an ``AssertionError`` names
        both (Stable-Baselines3's check, for scripts that guard a trained model).
    :param return_episode_rewards: return per-episode lists instead of the summary.
    :param render: Stable-Baselines3's keyword; only False (replays of a model: ``zoo/enjoy.py``, or
        ``env.render()`` in ``callback``).
    :param warn: Stable-Baselines3's keyword (its warning about an env without a ``Monitor``); accepted and unused:
        the episodes' returns and lengths are counted here.
    :return: ``(win_rate, mean_reward, std_reward)`` (the paper's reporting order: win rate first), or
        ``(episode_rewards, episode_lengths, episode_wins)`` with ``return_episode_rewards``.
    """
    policy = acting_policy(model)
    n_eval_episodes = whole_number("n_eval_episodes", n_eval_episodes, 1)
    deterministic = flag("deterministic", deterministic)
    return_episode_rewards = flag("return_episode_rewards", return_episode_rewards)
    if reward_threshold is not None and not is_finite_number(reward_threshold):
        raise ValueError(f"reward_threshold={reward_threshold!r} must be a finite number or None (no check)")
    flag("warn", warn)
    refuse_render("evaluate_policy", render, "from the callback")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback={callback!r} must be a function f(locals, globals) or None")
    check_env_matches(policy, env)
    check_attack(attack, env)
    if hasattr(attack, "use_env_bounds"):
        attack.use_env_bounds(env)
    if not deterministic and not hasattr(model, "exploration_rate"):
        raise ValueError(
            f"deterministic=False plays epsilon-greedy at the model's exploration_rate, which a {type(model).__name__} "
            "does not have: pass the algorithm (or deterministic=True)"
        )
    epsilon = 0.0 if deterministic else float(model.exploration_rate)
    generator = getattr(model, "_generator", None)
    n_envs = env.n_envs
    quota = [(n_eval_episodes + i) // n_envs for i in range(n_envs)]

    def act(
        obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor, last_action: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if attack is not None:
            obs = attack.perturb(policy, obs, avail, last_action, hidden, state)
        with torch.no_grad():
            q, hidden = policy.q_values(obs, last_action, hidden)
            return policy.select_actions(q, avail, epsilon, generator), q, hidden

    def after_step(step: dict[str, Any]) -> None:
        arguments = dict(model=model, env=env, n_eval_episodes=n_eval_episodes, attack=attack, epsilon=epsilon)
        callback({**arguments, **step}, globals())

    if env is getattr(model, "env", None):  # the training env: its running episodes end with its reset
        model.discard_running_episodes()
    was_training = policy.training
    policy.eval()
    # a recurrent attack (PA-AD's director) keeps the memory of the training episodes it attacks apart
    memory = attack.separate_memory() if hasattr(attack, "separate_memory") else contextlib.nullcontext()
    try:
        with memory:
            played = play_episodes(policy, env, quota, act, None if callback is None else after_step)
    finally:  # an interrupted evaluation must not leave the policy in eval mode
        policy.train(was_training)
    rewards = played.returns
    mean_reward = float(np.mean(rewards))
    if reward_threshold is not None:
        assert mean_reward > reward_threshold, (
            f"Mean reward below threshold: {mean_reward:.2f} <= {reward_threshold:.2f}"
        )
    if return_episode_rewards:
        return rewards, played.lengths, played.wins
    return float(np.mean(played.wins)), mean_reward, float(np.std(rewards))
