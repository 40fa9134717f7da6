"""Episode-based off-policy learning: batched episode collection, episode replay and the ``learn()`` loop.

Modelled on Stable-Baselines3's ``OffPolicyAlgorithm`` with PyMARL's episode semantics: a *rollout* steps all
``n_envs`` episodes as one batch until ``train_freq`` episodes have finished, then ``train`` runs
``gradient_steps`` updates on batches of whole episodes.  Finished episodes go to the replay buffer and their
envs restart with ``env.reset(done_mask)`` while the others keep running.

Timeouts: the stored ``terminated`` flag is the env's termination *without* timeouts (``info["episode_limit"]``),
so the TD target bootstraps through the episode limit from the final observation (the limit is not part of the
agents' observation, so the episode could go on), as PyMARL does. An env whose observations or state hold the time
step (``env.time_observed``: SMAC's ``obs_timestep_number`` / ``state_timestep_number``) makes the limit part of the
task, so there a timeout is stored as terminal (a bootstrap would read values at a time step no episode trains).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import MaybeCallback

from sb3_marl.common.augmentation import AUGMENTATIONS
from sb3_marl.common.base_class import BaseMultiAgentAlgorithm
from sb3_marl.common.buffers import (
    EpisodeBatch,
    EpisodeReplayBuffer,
    FieldSpecs,
    PrioritizedEpisodeReplayBuffer,
    episode_field_specs,
)
from sb3_marl.common.schedules import SaveableSchedule
from sb3_marl.common.validation import finite_float, flag, path_argument, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv

SelfOffPolicy = TypeVar("SelfOffPolicy", bound="OffPolicyMultiAgentAlgorithm")


class RolloutReturn(NamedTuple):
    """What one call of ``collect_episodes`` did."""

    env_steps: int  #: batched env steps taken
    n_episodes: int  #: episodes finished
    continue_training: bool  #: False when a callback asked to stop


@dataclass
class RolloutState:
    """The running episodes of the training env, carried from one rollout to the next."""

    obs: torch.Tensor  #: float[B, N, O] current observations
    state: torch.Tensor  #: float[B, S] current states
    avail: torch.Tensor  #: bool[B, N, A] current available actions
    hidden: torch.Tensor  #: float[B, N, H] GRU state before the current step
    last_action: torch.Tensor  #: float[B, N, A] one-hot of the previous actions
    t: torch.Tensor  #: int64[B] step index within each running episode
    episode_return: torch.Tensor  #: float[B] return so far
    episodes: EpisodeBatch  #: the running episodes being recorded


class OffPolicyMultiAgentAlgorithm(BaseMultiAgentAlgorithm):
    """Base of QMIX and its robust variants.

    :param buffer_size: replay capacity in episodes.
    :param learning_starts: env steps (summed over envs, as ``num_timesteps``) before the first update; updates
        also wait until ``batch_size`` episodes are stored.  Actions before it are epsilon-greedy as always.
    :param batch_size: episodes per gradient step.
    :param gamma: discount factor.
    :param train_freq: finished episodes per rollout (None: ``n_envs``, PyMARL's parallel runner); Stable-Baselines3's
        ``(n, "episode")`` form is read as ``n`` (``"step"`` is refused: rollouts are whole episodes).
    :param gradient_steps: gradient steps after each rollout.
    :param target_update_interval: episodes between target updates, checked after each training rollout (so at
        most one update per rollout of ``train_freq`` episodes).
    :param tau: soft-update coefficient in (0, 1] of each target update, ``target <- tau * online + (1 - tau) *
        target`` (Stable-Baselines3's DQN ``tau``); 1 is PyMARL's hard copy.
    :param exploration_initial_eps: epsilon at the start.
    :param exploration_final_eps: epsilon after ``exploration_timesteps``.
    :param exploration_timesteps: env steps (summed over envs) of the linear epsilon decay.
    :param exploration_spread: Ape-X's alpha >= 0 (Horgan et al., 2018): env ``i`` of the ``n`` training envs
        explores with ``epsilon ** (1 + exploration_spread * i / (n - 1))``, so that env 0 follows the schedule
        and the last envs play nearly greedy episodes; 0: every env explores with the schedule's epsilon.
    :param max_grad_norm: gradient-norm clipping threshold.
    :param prioritized_replay_alpha: priority exponent in [0, 1] of prioritized episode replay
        (:class:`~sb3_marl.common.buffers.PrioritizedEpisodeReplayBuffer`; Schaul et al. use 0.6); 0: uniform replay,
        1: sampling in proportion to the priorities.
        The learner's loss gives each sampled episode its new priority (QMIX: its mean absolute TD error).
    :param prioritized_replay_beta: importance-sampling exponent in [0, 1] at the start of each ``learn`` call,
        raised linearly to 1 at that call's end (Schaul et al.: 0.4; a call with ``reset_num_timesteps=False`` starts
        again here, unlike the schedules, which go on); no effect with uniform replay.
    :param agent_permutation: relabel the agents of each sampled episode at random within their unit types
        (:class:`~sb3_marl.common.augmentation.AgentPermutation`), so that every agent id learns from every role;
        needs a SMAC env (simulator or SC2) whose agents' actions do not target allies.
    :param mirror_augmentation: replace half the sampled episodes by their mirror images about the map's vertical
        centre line (:class:`~sb3_marl.common.augmentation.MirrorFlip`); needs a map symmetric about it (2m_vs_1z).
    :param kwargs: see :class:`BaseMultiAgentAlgorithm`.
    """

    def __init__(
        self,
        env: BatchedMultiAgentEnv | str | None,
        learning_rate: float | SaveableSchedule | dict[str, Any],
        buffer_size: int = 5000,
        learning_starts: int = 0,
        batch_size: int = 32,
        gamma: float = 0.99,
        train_freq: int | None = None,
        gradient_steps: int = 1,
        target_update_interval: int = 200,
        tau: float = 1.0,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        exploration_timesteps: int = 50_000,
        exploration_spread: float = 0.0,
        max_grad_norm: float = 10.0,
        prioritized_replay_alpha: float = 0.0,
        prioritized_replay_beta: float = 0.4,
        agent_permutation: bool = False,
        mirror_augmentation: bool = False,
        **kwargs: Any,
    ) -> None:
        buffer_size = whole_number("buffer_size", buffer_size, 1)
        batch_size = whole_number("batch_size", batch_size, 1)
        gradient_steps = whole_number("gradient_steps", gradient_steps, 0)
        target_update_interval = whole_number("target_update_interval", target_update_interval, 1)
        learning_starts = whole_number("learning_starts", learning_starts, 0)
        exploration_timesteps = whole_number("exploration_timesteps", exploration_timesteps, 0)
        max_grad_norm = finite_float("max_grad_norm", max_grad_norm, low=0.0, low_open=True)
        if isinstance(train_freq, tuple | list) and len(train_freq) == 2:  # SB3's (frequency, unit)
            if getattr(train_freq[1], "value", train_freq[1]) != "episode":  # SB3's TrainFrequencyUnit too
                raise ValueError(
                    f"train_freq={train_freq!r}: rollouts are whole episodes, so the unit is 'episode' (or give the "
                    "number of episodes alone)"
                )
            train_freq = train_freq[0]
        train_freq = None if train_freq is None else whole_number("train_freq", train_freq, 1)
        gamma = finite_float("gamma", gamma, 0.0, 1.0)
        tau = finite_float("tau", tau, 0.0, 1.0, low_open=True, meaning="1: hard copy of the online networks")
        exploration_initial_eps = finite_float("exploration_initial_eps", exploration_initial_eps, 0.0, 1.0)
        exploration_final_eps = finite_float("exploration_final_eps", exploration_final_eps, 0.0, 1.0)
        exploration_spread = finite_float("exploration_spread", exploration_spread, low=0.0, meaning="0: no spread")
        prioritized_replay_alpha = finite_float(
            "prioritized_replay_alpha", prioritized_replay_alpha, 0.0, 1.0, meaning="0: uniform replay"
        )
        prioritized_replay_beta = finite_float("prioritized_replay_beta", prioritized_replay_beta, 0.0, 1.0)
        agent_permutation = flag("agent_permutation", agent_permutation)
        mirror_augmentation = flag("mirror_augmentation", mirror_augmentation)
        super().__init__(env, learning_rate, **kwargs)
        self.buffer_size = buffer_size
        self.learning_starts = learning_starts
        self.batch_size = batch_size
        self.gamma = gamma
        self.train_freq = train_freq
        self.gradient_steps = gradient_steps
        self.target_update_interval = target_update_interval
        self.tau = tau
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_timesteps = exploration_timesteps
        self.exploration_spread = exploration_spread
        self.max_grad_norm = max_grad_norm
        self.prioritized_replay_alpha = prioritized_replay_alpha
        self.prioritized_replay_beta = prioritized_replay_beta
        self.agent_permutation = agent_permutation
        self.mirror_augmentation = mirror_augmentation
        #: the symmetries applied to each sampled batch (set up for the env; a map without them is refused here)
        self._augmentations = [] if self.env is None else self._augmentations_for(self.env)
        self.exploration_rate = exploration_initial_eps
        self.replay_buffer: EpisodeReplayBuffer | None = None
        self._rollout: RolloutState | None = None
        self._last_target_update_episode = 0

    def _counter_names(self) -> list[str]:
        return [*super()._counter_names(), "_last_target_update_episode"]

    def _augmentations_for(
        self, env: BatchedMultiAgentEnv
    ) -> list[Callable[[dict[str, torch.Tensor], torch.Generator], dict[str, torch.Tensor]]]:
        """The batch augmentations the settings turn on, for ``env``'s map (a ValueError for a map without that
        symmetry)."""
        return [augmentation.for_env(env) for name, augmentation in AUGMENTATIONS.items() if getattr(self, name)]

    def check_learn_settings(
        self, env: BatchedMultiAgentEnv | None = None
    ) -> list[Callable[[dict[str, torch.Tensor], torch.Generator], dict[str, torch.Tensor]]]:
        """Raise the ValueError that ``learn`` raises before its first step for settings that cannot train: a
        ``batch_size`` over ``buffer_size`` (checked here, not in the constructor: a loaded model may only predict) and
        batch augmentations the map lacks. Tools that build a model and train it later (the zoo) call it up front.

        :param env: the env to train in (default: the model's; None: the augmentations are not checked).
        :return: the batch augmentations for that env.
        """
        if self.batch_size > self.buffer_size:
            raise ValueError(
                f"batch_size={self.batch_size} exceeds buffer_size={self.buffer_size}: training starts once the buffer "
                "holds batch_size episodes, which it never would"
            )
        env = self.env if env is None else env
        return [] if env is None else self._augmentations_for(env)

    def _attach_env(self, env: BatchedMultiAgentEnv) -> None:
        if hasattr(self, "mirror_augmentation"):  # set_env / load: checked before anything changes
            self._check_env_shapes(env)  # another map is named as such before its augmentations are checked
            augmentations = self._augmentations_for(env)
            super()._attach_env(env)
            self._augmentations = augmentations
        else:  # in the constructor, before the settings exist (checked at its end)
            super()._attach_env(env)

    # ------------------------------------------------------------------ hooks for subclasses
    def _extra_episode_fields(self) -> FieldSpecs:
        """Per-step fields stored beside the standard ones (name -> (shape, dtype)); none by default.

        A subclass that acts on perturbed observations returns ``{"obs_perturbed": ((N, O), torch.float32)}``;
        the clean ``obs`` is stored as always.
        """
        return {}

    def _acting_observations(
        self,
        obs: torch.Tensor,
        state: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
    ) -> torch.Tensor:
        """The observations the agents act on during collection (identity; robust variants perturb here).

        Shapes: ``obs`` float[B, N, O], ``state`` float[B, S], ``avail_actions`` bool[B, N, A],
        ``last_action_onehot`` float[B, N, A], ``hidden`` float[B, N, H].  Returns float[B, N, O].
        """
        return obs

    def _extra_step_values(self, acting_obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Values of the extra fields for one step: the acting observations as ``obs_perturbed`` when declared."""
        return {"obs_perturbed": acting_obs} if "obs_perturbed" in self._extra_episode_fields() else {}

    def _compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one sampled batch and scalar tensors to log under ``train/``.

        With prioritized replay the batch also holds ``replay_weights`` (float[B], the importance-sampling weight
        of each episode, to weigh its loss by) and ``replay_index``, and the statistics must include
        ``replay_priorities`` (float[B] >= 0, each episode's new priority), which is not logged.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ setup
    def _episode_field_specs(self) -> FieldSpecs:
        """Every per-step field the replay buffer stores (standard plus ``_extra_episode_fields``)."""
        shapes = self.env_shapes
        return episode_field_specs(
            shapes["n_agents"],
            shapes["n_actions"],
            shapes["obs_shape"],
            shapes["state_shape"],
            self._extra_episode_fields(),
        )

    def _replay_buffer_class_and_kwargs(self) -> tuple[type[EpisodeReplayBuffer], dict[str, Any]]:
        """The replay buffer's class (prioritized when ``prioritized_replay_alpha > 0``) and its extra arguments."""
        if self.prioritized_replay_alpha > 0.0:
            return PrioritizedEpisodeReplayBuffer, {"alpha": self.prioritized_replay_alpha}
        return EpisodeReplayBuffer, {}

    def _setup_replay_buffer(self) -> None:
        buffer_class, buffer_kwargs = self._replay_buffer_class_and_kwargs()
        self.replay_buffer = buffer_class(
            self.buffer_size,
            self._episode_field_specs(),
            self.env_shapes["episode_limit"] + 1,
            self.device,
            **buffer_kwargs,
        )

    def discard_running_episodes(self) -> None:
        self._rollout = None

    def _start_rollout(self) -> None:
        """Reset every env (seeded after :meth:`set_random_seed`) and start recording."""
        env = self.env
        obs, state, avail = env.reset(seed=self._take_env_seed())
        b = env.n_envs
        self._rollout = RolloutState(
            obs=obs.to(self.device),
            state=state.to(self.device),
            avail=avail.to(self.device),
            hidden=self.policy.initial_hidden(b),
            last_action=torch.zeros(b, env.n_agents, env.n_actions, device=self.device),
            t=torch.zeros(b, dtype=torch.int64, device=self.device),
            episode_return=torch.zeros(b, device=self.device),
            episodes=EpisodeBatch(self._episode_field_specs(), b, env.episode_limit + 1, self.device),
        )

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback,
        reset_num_timesteps: bool,
        tb_log_name: str,
        progress_bar: bool,
    ) -> tuple[int, BaseCallback]:
        self._augmentations = self.check_learn_settings()
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if reset_num_timesteps:
            self._last_target_update_episode = 0  # counted in the episodes that _episode_num now restarts
        if self.replay_buffer is None:
            self._setup_replay_buffer()
        if self._rollout is None or reset_num_timesteps or self._rollout.t.shape[0] != self.env.n_envs:
            self._start_rollout()
        return total_timesteps, callback

    # ------------------------------------------------------------------ learning loop
    def _env_exploration_rates(self, n_envs: int) -> float | torch.Tensor:
        """Epsilon of each training env: the schedule's ``exploration_rate``, or with ``exploration_spread`` > 0
        float[n_envs] from ``exploration_rate`` (env 0) down to ``exploration_rate ** (1 + exploration_spread)``."""
        if self.exploration_spread == 0.0 or n_envs == 1:
            return self.exploration_rate
        exponents = 1.0 + self.exploration_spread * torch.arange(n_envs, device=self.device) / (n_envs - 1)
        return self.exploration_rate**exponents

    def _update_exploration_rate(self) -> None:
        """Linear decay from ``exploration_initial_eps`` to ``exploration_final_eps`` over ``exploration_timesteps``."""
        fraction = min(1.0, self.num_timesteps / max(self.exploration_timesteps, 1))
        self.exploration_rate = self.exploration_initial_eps + fraction * (
            self.exploration_final_eps - self.exploration_initial_eps
        )

    def collect_episodes(
        self, callback: BaseCallback, n_episodes: int, log_interval: int | None = None
    ) -> RolloutReturn:
        """Step all envs as one batch until ``n_episodes`` episodes have finished.

        :param callback: called once per batched env step (``on_step``, with Stable-Baselines3's numpy ``dones`` and
            ``rewards`` among the ``locals``); returning False stops collection once the step is recorded.
        :param n_episodes: finished episodes (summed over envs) that end the rollout.
        :param log_interval: dump the logs every this many episodes (None: never).
        """
        if self._rollout is None:  # discarded since the last rollout (see discard_running_episodes)
            self._start_rollout()
        env, rs, policy = self.env, self._rollout, self.policy
        n_actions = env.n_actions
        rows = torch.arange(env.n_envs, device=self.device)
        callback.on_rollout_start()
        steps, finished = 0, 0
        while finished < n_episodes:
            with torch.no_grad():
                acting_obs = self._acting_observations(rs.obs, rs.state, rs.avail, rs.last_action, rs.hidden)
                q, hidden = policy.q_values(acting_obs, rs.last_action, rs.hidden)
                epsilon = self._env_exploration_rates(env.n_envs)
                actions = policy.select_actions(q, rs.avail, epsilon, self._generator)
            new_obs, new_state, new_avail, reward, terminated, info = env.step(actions)
            reward, terminated = reward.to(self.device), terminated.to(self.device)
            true_terminal = terminated & ~env.truncated(terminated, info)
            rs.episodes.write(
                rs.t,
                obs=rs.obs,
                state=rs.state,
                avail_actions=rs.avail,
                actions=actions,
                reward=reward,
                terminated=true_terminal,
                filled=torch.ones_like(terminated),
                **self._extra_step_values(acting_obs),
            )
            rs.t += 1
            rs.episode_return += reward
            rs.hidden, rs.last_action = hidden, torch.nn.functional.one_hot(actions, n_actions).float()
            self.num_timesteps += env.n_envs
            steps += 1
            self._update_current_progress_remaining()
            self._update_exploration_rate()
            continue_training = self._on_env_step(callback, locals(), terminated, reward, info, rs.episode_return, rs.t)
            # a callback that evaluated in the training env reset it (discard_running_episodes): the episodes that
            # ended at this step are still whole (their final observations came before the reset) and are kept
            restarted = self._rollout is not rs
            new_obs, new_state, new_avail = (
                new_obs.to(self.device),
                new_state.to(self.device),
                new_avail.to(self.device),
            )
            if terminated.any():
                done = terminated
                n_done = self._store_finished(rs, done, rows, new_obs, new_state, new_avail, info)
                if not restarted:
                    new_obs, new_state, new_avail = (x.to(self.device) for x in env.reset(done))
                finished += n_done
                previous = self._episode_num
                self._episode_num += n_done
                if log_interval and self._episode_num // log_interval > previous // log_interval:
                    self.dump_logs()
            if restarted:  # end the rollout here (learn() checks its budget); the next one starts new episodes
                if continue_training:
                    callback.on_rollout_end()
                return RolloutReturn(steps, finished, continue_training)
            rs.obs, rs.state, rs.avail = new_obs, new_state, new_avail
            if not continue_training:  # stopped after this step's episodes were stored: a later learn() resumes
                return RolloutReturn(steps, finished, False)
        callback.on_rollout_end()
        return RolloutReturn(steps, finished, True)

    def _store_finished(
        self,
        rs: RolloutState,
        done: torch.Tensor,
        rows: torch.Tensor,
        final_obs: torch.Tensor,
        final_state: torch.Tensor,
        final_avail: torch.Tensor,
        info: dict[str, torch.Tensor],
    ) -> int:
        """Record the final step of the ``done`` episodes of rollout ``rs``, move them to the replay buffer and clear
        their rows."""
        rs.episodes.write(
            rs.t[done], rows[done], obs=final_obs[done], state=final_state[done], avail_actions=final_avail[done]
        )
        self.replay_buffer.add({name: tensor[done] for name, tensor in rs.episodes.data.items()})
        returns, lengths = rs.episode_return[done].tolist(), rs.t[done].tolist()
        won = info["battle_won"][done.to(info["battle_won"].device)].tolist()
        self._record_finished_episodes(returns, lengths, won)
        rs.episodes.clear_rows(done)
        keep = ~done
        rs.t, rs.episode_return = rs.t * keep, rs.episode_return * keep
        rs.hidden, rs.last_action = rs.hidden * keep.view(-1, 1, 1), rs.last_action * keep.view(-1, 1, 1)
        return len(returns)

    def train(self, gradient_steps: int, batch_size: int) -> None:
        """Run ``gradient_steps`` updates on sampled episode batches and log their mean statistics.

        :raise RuntimeError: when an update's gradients are NaN or infinite (training diverged); that update is not
            applied, so the networks keep the weights of the updates before it.
        """
        policy = self.policy
        policy.set_training_mode(True)
        self._update_learning_rate(policy.optimizer)
        stats: dict[str, list[torch.Tensor]] = {}
        buffer = self.replay_buffer
        prioritized = isinstance(buffer, PrioritizedEpisodeReplayBuffer)
        # importance-sampling exponent: prioritized_replay_beta at the start of this learn() call, 1 at its end
        done, budget = self._learn_call_steps()
        beta = self.prioritized_replay_beta + (1.0 - self.prioritized_replay_beta) * min(done / max(budget, 1), 1.0)
        for step in range(gradient_steps):
            if prioritized:
                batch = buffer.sample(batch_size, self._generator, beta=beta)
            else:
                batch = buffer.sample(batch_size, self._generator)
            for augmentation in self._augmentations:
                batch = augmentation(batch, self._generator)
            loss, step_stats = self._compute_loss(batch)
            if prioritized and "replay_priorities" not in step_stats:
                raise ValueError(
                    f"{type(self).__name__}._compute_loss returned no 'replay_priorities': prioritized replay "
                    "(prioritized_replay_alpha > 0) needs the loss to give each sampled episode its priority"
                )
            policy.optimizer.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.online_parameters(), self.max_grad_norm)
            if not torch.isfinite(grad_norm):  # refused before the step: the weights stay finite
                self._n_updates += step  # the updates of this call applied before this one
                raise RuntimeError(self._divergence_message(policy.optimizer))
            policy.optimizer.step()
            if prioritized:  # after the checks: a refused update leaves the priorities as they were too
                buffer.update_priorities(batch["replay_index"], step_stats.pop("replay_priorities"))
            for key, value in {"loss": loss.detach(), "grad_norm": grad_norm, **step_stats}.items():
                stats.setdefault(key, []).append(value.detach())
        self._n_updates += gradient_steps
        for key, values in stats.items():
            self.logger.record(f"train/{key}", torch.stack(values).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def _divergence_message(self, optimizer: torch.optim.Optimizer) -> str:
        """The error of an update whose gradients are NaN or infinite, naming the settings that usually cause it."""
        rate = optimizer.param_groups[0]["lr"]
        scheduled = f" (this update's rate: {rate:g})" if isinstance(self.learning_rate, dict) else ""
        return (
            f"The gradients of {type(self).__name__}'s update {self._n_updates + 1} are not finite (NaN or inf): "
            f"training diverged. The usual causes are a learning_rate too high (learning_rate={self.learning_rate!r}"
            f"{scheduled}) or a max_grad_norm too large to clip the gradients (max_grad_norm={self.max_grad_norm!r}); "
            "lower them. The update was not applied: the networks and the optimizer keep their values from before it, "
            "untouched by NaN."
        )

    def _update_target_if_due(self) -> None:
        """Update the targets (hard copy, or soft with ``tau < 1``) every ``target_update_interval`` episodes."""
        if self._episode_num - self._last_target_update_episode >= self.target_update_interval:
            self.policy.update_target(self.tau)
            self._last_target_update_episode = self._episode_num

    def dump_logs(self) -> None:
        """Write the rollout and time statistics (and any recorded train values) to the logger."""
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self._record_rollout_and_time()
        self.logger.dump(step=self.num_timesteps)

    def learn(
        self: SelfOffPolicy,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOffPolicy:
        """Collect and train until ``num_timesteps >= total_timesteps`` (a lower bound: the last rollout ends
        when its episodes finish).

        :param total_timesteps: env steps, summed over the ``n_envs`` envs.
        :param callback: a callback, a list of callbacks or a function ``f(locals, globals) -> bool``.
        :param log_interval: dump the logs every this many finished episodes (None: never).
        :param tb_log_name: run name under ``tensorboard_log`` (None: the class name, e.g. ``QMIX``).
        :param reset_num_timesteps: start counting from zero (False continues the previous run and its logs).
        :param progress_bar: show a tqdm/rich progress bar.
        """
        log_interval = None if log_interval is None else whole_number("log_interval", log_interval, 1)
        if tb_log_name is not None and not isinstance(tb_log_name, str):
            raise TypeError(
                f"tb_log_name={tb_log_name!r} must be a str (the run's folder name under tensorboard_log) or None "
                f"(the class name, {type(self).__name__!r})"
            )
        tb_log_name = tb_log_name or type(self).__name__  # also what the callbacks' locals hold (SB3's callbacks)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        self._on_learn_start()
        callback.on_training_start(locals(), globals())
        train_freq = self.train_freq or self.env.n_envs
        n_updates_at_start = self._n_updates
        while self.num_timesteps < total_timesteps:
            self._before_rollout(log_interval)
            try:
                rollout = self.collect_episodes(callback, train_freq, log_interval)
            except BaseException:  # e.g. Ctrl-C in a callback: the interrupted step left the episodes behind the env
                self.discard_running_episodes()
                raise
            if not rollout.continue_training:
                break
            if self.num_timesteps >= self.learning_starts and self.replay_buffer.can_sample(self.batch_size):
                self.train(self.gradient_steps, self.batch_size)
                self._update_target_if_due()
        self._on_learn_end(self._n_updates - n_updates_at_start, log_interval)
        callback.on_training_end()
        return self

    def _on_learn_start(self) -> None:
        """Called by ``learn`` once its counters, logger and callbacks are set up, before the first rollout (nothing
        by default; QMIX forgets the previous call's network snapshots here)."""

    def _before_rollout(self, log_interval: int | None) -> None:
        """Called by ``learn`` (with its ``log_interval``) before each rollout (nothing by default; alternating
        training switches phases here)."""

    def _on_learn_end(self, n_updates: int, log_interval: int | None) -> None:
        """Called by ``learn`` when its training ends (also when a callback stopped it), before the callbacks'
        ``on_training_end`` (nothing by default; QMIX may choose the network it keeps here).

        :param n_updates: gradient updates this ``learn`` call made.
        :param log_interval: ``learn``'s (None: the caller wants no logs written).
        """

    # ------------------------------------------------------------------ replay persistence
    def save_replay_buffer(self, path: str | Path) -> Path:
        """Write the replay buffer (plain tensors + JSON header, loadable with ``weights_only=True``) to ``path``
        (``.pkl`` added when it has no suffix, as Stable-Baselines3 adds it)."""
        if self.replay_buffer is None:
            raise ValueError("There is no replay buffer yet: it is created by learn()")
        return self.replay_buffer.save(path_argument("path", path))

    def load_replay_buffer(self, path: str | Path, truncate_last_traj: bool = True) -> None:
        """Replace the replay buffer by one written with ``save_replay_buffer``; its fields must match the model's.
        The model takes the file's capacity as its ``buffer_size`` (with a warning when they differ), as
        Stable-Baselines3's loaded buffer keeps its own size; a capacity below ``batch_size`` is refused.

        :param truncate_last_traj: Stable-Baselines3's flag (for HER's unfinished last episode); either value gives
            the same buffer here, which stores only whole episodes.
        """
        path = Path(path_argument("path", path))
        if not path.exists() and not path.suffix:  # the name save_replay_buffer completed: .pkl (.pt before)
            tried = [path.with_suffix(suffix) for suffix in (".pkl", ".pt")]
            found = next((candidate for candidate in tried if candidate.exists()), None)
            if found is None:
                raise FileNotFoundError(f"No replay buffer file {path} (nor with .pkl or .pt)")
            path = found
        buffer_class, buffer_kwargs = self._replay_buffer_class_and_kwargs()
        buffer = buffer_class.load(path, self.device, **buffer_kwargs)
        specs = self._episode_field_specs()
        if buffer.specs != specs:
            raise ValueError(f"Replay buffer {path} has fields {buffer.specs}; this model stores {specs}")
        episode_limit = self.env_shapes["episode_limit"]
        if buffer.max_steps != episode_limit + 1:
            raise ValueError(
                f"Replay buffer {path} stores episodes of up to {buffer.max_steps} steps; this model stores "
                f"{episode_limit + 1} (episode_limit {episode_limit}, plus the final observation)"
            )
        if buffer.capacity < self.batch_size:
            raise ValueError(
                f"Replay buffer {path} holds at most {buffer.capacity} episodes, fewer than batch_size="
                f"{self.batch_size}: training would never start"
            )
        if buffer.capacity != self.buffer_size:
            warnings.warn(
                f"Replay buffer {path} holds up to {buffer.capacity} episodes: buffer_size is now {buffer.capacity} "
                f"(was {self.buffer_size})",
                stacklevel=2,
            )
            self.buffer_size = buffer.capacity
        self.replay_buffer = buffer
