"""MAPPO (Yu et al. 2022) as ATLA's perturbation adversary: PPO with a shared actor and a centralised critic.

It trains on a :class:`~sb3_marl.adversaries.adversary_env.PerturbationAdversaryEnv` (any frozen victim): each
step every agent's actor samples ``tanh(u)`` in ``(-1, 1)^O`` from the clean observation, the env applies
``ε·tanh(u)`` to the victim's observation, and the adversary team gets minus the victim team's reward.

Choices (the paper used lr 1e-6 for actor and critic, grad clip 10, and reports gradient explosion):

* Adam, lr 3e-4, ``eps=1e-5``, one optimizer over actor and critic, grad-norm clip 10 (the paper's) — the usual
  PPO settings; 1e-6 barely moves the actor within a few hundred thousand steps.
* the actor's log std is a free parameter clamped to [-5, 2]; the pre-squash sample ``u`` is stored, so the
  ratio never needs ``atanh`` of a saturated action (the source of NaNs in squashed-Gaussian PPO);
* advantages normalised per minibatch over the agent samples the loss trains on; values of the final state
  bootstrap through time-limit endings, unless the env observes the time step (``env.time_observed``: the timeout
  is then terminal);
* non-finite guard: an update whose loss or gradient norm is not finite is skipped (optimizer not stepped) and
  counted in ``train/nonfinite_skips``; ``max_nonfinite_skips`` skips in a row stop training with an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.type_aliases import MaybeCallback
from stable_baselines3.common.utils import explained_variance

from sb3_marl.adversaries.adversary_env import perturbation_action_space
from sb3_marl.adversaries.policies import MAPPOPolicy
from sb3_marl.adversaries.rollout_buffer import MultiAgentRolloutBuffer
from sb3_marl.common.base_class import BaseMultiAgentAlgorithm
from sb3_marl.common.schedules import SaveableSchedule
from sb3_marl.common.validation import check_policy_kwargs, finite_float, flag, numeric_array, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv

SelfMAPPO = TypeVar("SelfMAPPO", bound="MAPPO")

#: policy arguments that MAPPO sets itself (from the env or its own arguments): not ``policy_kwargs`` keys
_POLICY_ARGUMENTS_SET_BY_MAPPO = {
    "n_agents": "the env",
    "obs_dim": "the env",
    "action_dim": "the env (one perturbation direction per observation feature)",
    "state_dim": "the env",
    "learning_rate": "MAPPO's learning_rate argument",
}


class NonFiniteTrainingError(RuntimeError):
    """Raised when too many consecutive updates had a non-finite loss or gradient."""


class MAPPO(BaseMultiAgentAlgorithm):
    """Multi-agent PPO over continuous per-agent actions of observation size (ATLA's adversary).

    :param env: a batched env with a ``Box`` action space of shape ``(N, O)`` (a
        :class:`~sb3_marl.adversaries.adversary_env.PerturbationAdversaryEnv`), or None for a predict-only model.
    :param learning_rate: Adam learning rate of actor and critic: a float or a saveable schedule of the progress
        remaining (see :class:`~sb3_marl.common.base_class.BaseMultiAgentAlgorithm`).
    :param n_steps: env steps per env collected before each update (a rollout has ``n_steps * n_envs`` steps).
    :param batch_size: minibatch size in env steps (each holds ``N`` agent samples).
    :param n_epochs: passes over each rollout.
    :param gamma: discount factor.
    :param gae_lambda: GAE trace parameter.
    :param clip_range: PPO ratio clipping.
    :param ent_coef: weight of the entropy bonus: the entropy of the squashed actions
        (:func:`~sb3_marl.adversaries.policies.squashed_entropy`).
    :param vf_coef: weight of the value loss.
    :param max_grad_norm: gradient-norm clip.
    :param normalize_advantage: normalise advantages in each minibatch, over its agent samples (a step counts once
        per agent whose action took effect, as in the loss), as Stable-Baselines3's PPO normalises per minibatch;
        MAPPO's reference implementation normalises once over the whole rollout (masking inactive agents too).
    :param target_kl: stop the rollout's epochs early once a minibatch's approximate KL divergence exceeds
        ``1.5 * target_kl`` (Stable-Baselines3's PPO; None: no limit).
    :param max_nonfinite_skips: consecutive non-finite updates tolerated before :class:`NonFiniteTrainingError`.
    :param policy_kwargs: keyword arguments of :class:`~sb3_marl.adversaries.policies.MAPPOPolicy` (``net_arch``,
        ``log_std_init``).
    :param n_envs: with an env instance, 1 or the instance's ``n_envs`` (kept for the common constructor).
    :param env_kwargs: with an env instance, only its own settings (kept for the common constructor; the model
        records the instance's).
    :param backend: None or the adversary env's own (kept for the common constructor).
    :param stats_window_size: episodes averaged in ``rollout/*`` logs.
    :param tensorboard_log: TensorBoard folder (None: none).
    :param verbose: 0 silent, 1 training tables.
    :param seed: seed of torch, numpy, the sampling generator and the env.
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    """

    battle_won_is_a_loss = True  # its env's battle_won is the victim's

    def __init__(
        self,
        env: BatchedMultiAgentEnv | None,
        learning_rate: float | SaveableSchedule | dict[str, Any] = 3e-4,
        n_steps: int = 64,
        batch_size: int = 256,
        n_epochs: int = 5,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 10.0,
        normalize_advantage: bool = True,
        target_kl: float | None = None,
        max_nonfinite_skips: int = 10,
        policy_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        env_kwargs: dict[str, Any] | None = None,
        backend: str | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        n_steps = whole_number("n_steps", n_steps, 1)
        batch_size = whole_number("batch_size", batch_size, 1)
        n_epochs = whole_number("n_epochs", n_epochs, 1)
        max_nonfinite_skips = whole_number("max_nonfinite_skips", max_nonfinite_skips, 1)
        gamma = finite_float("gamma", gamma, 0.0, 1.0)
        gae_lambda = finite_float("gae_lambda", gae_lambda, 0.0, 1.0)
        clip_range = finite_float("clip_range", clip_range, 0.0, low_open=True)
        max_grad_norm = finite_float("max_grad_norm", max_grad_norm, 0.0, low_open=True)
        ent_coef = finite_float("ent_coef", ent_coef)
        vf_coef = finite_float("vf_coef", vf_coef, 0.0)
        normalize_advantage = flag("normalize_advantage", normalize_advantage)
        if target_kl is not None:
            target_kl = finite_float("target_kl", target_kl, 0.0, low_open=True, meaning="None: no limit")
        policy_kwargs_given = policy_kwargs if isinstance(policy_kwargs, Mapping) else None  # else the base class's
        check_policy_kwargs(MAPPOPolicy, policy_kwargs_given, _POLICY_ARGUMENTS_SET_BY_MAPPO)
        if isinstance(env, str):
            raise ValueError(
                f"MAPPO needs an adversary env wrapping a victim, not a map name ({env!r}): build a "
                "PerturbationAdversaryEnv(make_env(map), victim, epsilon) or use train_attacker()"
            )
        super().__init__(
            env,
            learning_rate,
            policy_kwargs,
            n_envs,
            env_kwargs,
            backend,
            stats_window_size,
            tensorboard_log,
            verbose,
            seed,
            device,
        )
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.clip_range = clip_range
        self.ent_coef = ent_coef
        self.vf_coef = vf_coef
        self.max_grad_norm = max_grad_norm
        self.normalize_advantage = normalize_advantage
        self.target_kl = target_kl
        self.max_nonfinite_skips = max_nonfinite_skips
        self.nonfinite_skips = 0
        self._consecutive_nonfinite = 0
        self.rollout_buffer: MultiAgentRolloutBuffer | None = None
        self.discard_running_episodes()
        if _init_setup_model:
            self._setup_model()

    def _attach_env(self, env: BatchedMultiAgentEnv) -> None:
        expected = (env.n_agents, env.obs_shape)
        space = env.action_space
        if not isinstance(space, spaces.Box) or tuple(space.shape) != expected:
            raise ValueError(
                f"MAPPO needs a Box action space of shape {expected} (one perturbation per observation feature, as "
                f"PerturbationAdversaryEnv has), got {space}"
            )
        super()._attach_env(env)

    @property
    def action_space(self) -> spaces.Box | None:
        """Joint action space of one env, as ``predict`` answers: one perturbation direction in ``[-1, 1]^O`` per
        agent (the adversary env's); None while the model knows no env sizes."""
        if not self.env_shapes:
            return None
        return perturbation_action_space(self.env_shapes["n_agents"], self.env_shapes["obs_shape"])

    def discard_running_episodes(self) -> None:
        self._last_obs: torch.Tensor | None = None
        self._last_state: torch.Tensor | None = None

    def _setup_model(self) -> None:
        if not self.env_shapes:
            raise ValueError("MAPPO needs an adversary env (or the sizes of a saved model) to build its networks")
        self.set_random_seed(self.seed)
        shapes = self.env_shapes
        self.policy = MAPPOPolicy(
            shapes["n_agents"],
            shapes["obs_shape"],
            shapes["obs_shape"],
            shapes["state_shape"],
            learning_rate=self.lr_schedule(1.0),
            **self.policy_kwargs,
        ).to(self.device)
        if self.env is not None:
            self._setup_rollout_buffer()

    def _counter_names(self) -> list[str]:
        return [*super()._counter_names(), "nonfinite_skips"]

    # ------------------------------------------------------------------ acting
    def predict(
        self,
        observation: np.ndarray | torch.Tensor,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        avail_actions: np.ndarray | torch.Tensor | None = None,
    ) -> tuple[np.ndarray, None]:
        """Perturbation directions in ``[-1, 1]`` for observations float[N, O] or float[B, N, O].

        ``state``, ``episode_start`` and ``avail_actions`` are accepted for API symmetry and ignored (the actor is
        feed-forward and continuous). :return: float32 actions of the observations' shape, and None.
        """
        if self.policy is None:
            raise ValueError("The model has no policy yet (constructed with _init_setup_model=False)")
        deterministic = flag("deterministic", deterministic)
        n, o = self.policy.n_agents, self.policy.obs_dim
        observation = numeric_array("observation", observation, f"float32 of shape ({n}, {o}) or (batch, {n}, {o})")
        obs = torch.as_tensor(observation, dtype=torch.float32, device=self.device)
        if not bool(torch.isfinite(obs).all()):
            raise ValueError("observation holds NaN or inf: the adversary cannot act on it")
        single = obs.dim() == 2
        with torch.no_grad():
            actions, _, _ = self.policy.act(obs.unsqueeze(0) if single else obs, deterministic, self._generator)
        actions_np = actions.cpu().numpy()
        return (actions_np[0] if single else actions_np), None

    # ------------------------------------------------------------------ training
    def collect_rollouts(self, callback: Any) -> bool:
        """Fill the rollout buffer with ``n_steps`` batched steps; False when a callback asked to stop."""
        env, buffer, policy = self.env, self.rollout_buffer, self.policy
        device = self.device
        if self._last_obs is None:
            obs, state, _ = env.reset(seed=self._take_env_seed())
            self._last_obs, self._last_state = obs.to(device), state.to(device)
            self._episode_reward = torch.zeros(self.n_envs, device=self.device)
            self._episode_length = torch.zeros(self.n_envs, dtype=torch.int64, device=self.device)
        buffer.reset()
        policy.set_training_mode(False)
        callback.on_rollout_start()
        while not buffer.full:
            obs, state = self._last_obs, self._last_state
            with torch.no_grad():
                actions, pre_tanh, log_prob = policy.act(obs, generator=self._generator)
                value = policy.value(state)
            new_obs, next_state, _, reward, terminated, info = env.step(actions)
            new_obs, next_state = new_obs.to(device), next_state.to(device)
            reward, terminated = reward.to(device), terminated.to(device)
            with torch.no_grad():
                next_value = policy.value(next_state)
            # the loss keeps the agents whose action took effect: those the env perturbed, else the live ones
            acted = info["attacked_agents"].to(device) if "attacked_agents" in info else (obs != 0).any(-1)
            buffer.add(
                obs,
                state,
                pre_tanh,
                log_prob,
                acted,
                reward,
                value,
                next_value,
                terminated,
                env.truncated(terminated, info),
            )
            self.num_timesteps += self.n_envs
            self._episode_reward += reward
            self._episode_length += 1
            continue_training = self._on_env_step(
                callback, locals(), terminated, reward, info, self._episode_reward, self._episode_length
            )
            if terminated.any():
                self._record_episodes(terminated, info["battle_won"].to(device))
                reset_obs, reset_state, _ = env.reset(terminated)
                new_obs, next_state = reset_obs.to(device), reset_state.to(device)
            self._last_obs, self._last_state = new_obs, next_state
            if not continue_training:  # after the finished envs were reset: a later learn() resumes from here
                return False
        buffer.compute_returns_and_advantage(self.gamma, self.gae_lambda)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _record_episodes(self, finished: torch.Tensor, victim_won: torch.Tensor) -> None:
        rewards = self._episode_reward[finished].tolist()
        self._record_finished_episodes(rewards, self._episode_length[finished].tolist(), victim_won[finished].tolist())
        self._episode_num += len(rewards)
        self._episode_reward = self._episode_reward.masked_fill(finished, 0.0)
        self._episode_length = self._episode_length.masked_fill(finished, 0)

    def _ppo_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Clipped surrogate per agent (shared team advantage), value MSE and entropy bonus, masked to the agents whose
        action took effect (``agent_mask``: perturbed, so alive and attacked)."""
        log_prob, entropy = self.policy.evaluate_actions(
            batch["obs"], batch["pre_tanh"], entropy_gradient=self.ent_coef != 0.0
        )
        mask = batch["agent_mask"].float()
        count = mask.sum().clamp(min=1.0)
        advantages = batch["advantages"]
        if self.normalize_advantage and advantages.numel() > 1:
            weights = mask.sum(-1)  # samples per step in the loss: one per agent whose action took effect
            total = weights.sum().clamp(min=1.0)
            mean = (weights * advantages).sum() / total
            std = ((weights * (advantages - mean) ** 2).sum() / total).sqrt()
            advantages = (advantages - mean) / (std + 1e-8)
        advantages = advantages.unsqueeze(-1)
        log_ratio = log_prob - batch["log_probs"]
        ratio = log_ratio.exp()
        surrogate = torch.min(ratio * advantages, ratio.clamp(1 - self.clip_range, 1 + self.clip_range) * advantages)
        policy_loss = -(surrogate * mask).sum() / count
        value_loss = torch.nn.functional.mse_loss(self.policy.value(batch["states"]), batch["returns"])
        entropy_loss = -(entropy * mask).sum() / count
        loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
        with torch.no_grad():
            stats = {
                "policy_gradient_loss": policy_loss,
                "value_loss": value_loss,
                "entropy_loss": entropy_loss,
                "approx_kl": (((ratio - 1) - log_ratio) * mask).sum() / count,
                "clip_fraction": (((ratio - 1).abs() > self.clip_range).float() * mask).sum() / count,
                "loss": loss,
            }
        return loss, stats

    def train(self) -> None:
        """``n_epochs`` passes of minibatch PPO updates over the rollout, skipping non-finite updates."""
        self.policy.set_training_mode(True)
        optimizer = self.policy.optimizer
        self._update_learning_rate(optimizer)
        logs: dict[str, list[torch.Tensor]] = {}
        continue_training = True
        for _ in range(self.n_epochs):
            for batch in self.rollout_buffer.minibatches(self.batch_size, self._generator):
                loss, stats = self._ppo_loss(batch)
                if self.target_kl is not None and stats["approx_kl"].item() > 1.5 * self.target_kl:
                    continue_training = False  # as SB3's PPO: before this minibatch's step
                    if self.verbose >= 1:
                        print(f"Early stopping at update {self._n_updates} (approx_kl {stats['approx_kl']:.4f})")
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                if not bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
                    self._skip_nonfinite_update(loss)
                    continue
                self._consecutive_nonfinite = 0
                optimizer.step()
                self.policy.project_log_std_()
                self._n_updates += 1
                for name, value in {**stats, "grad_norm": grad_norm}.items():
                    logs.setdefault(name, []).append(value)
            if not continue_training:
                break
        for name, values in logs.items():
            self.logger.record(f"train/{name}", torch.stack(values).mean().item())
        buffer = self.rollout_buffer
        self.logger.record(
            "train/explained_variance",
            float(explained_variance(buffer.values.flatten().cpu().numpy(), buffer.returns.flatten().cpu().numpy())),
        )
        self.logger.record("train/std", self.policy.log_std.exp().mean().item())  # project_log_std_ keeps it in range
        self.logger.record("train/nonfinite_skips", self.nonfinite_skips)
        self.logger.record("train/n_updates", self._n_updates)
        self.logger.record("train/clip_range", self.clip_range)

    def _skip_nonfinite_update(self, loss: torch.Tensor) -> None:
        self.policy.optimizer.zero_grad(set_to_none=True)
        self.nonfinite_skips += 1
        self._consecutive_nonfinite += 1
        if self._consecutive_nonfinite >= self.max_nonfinite_skips:
            raise NonFiniteTrainingError(
                f"MAPPO: {self._consecutive_nonfinite} consecutive updates had a non-finite loss or gradient "
                f"(last loss {loss.item()}); training diverged. Lower learning_rate or max_grad_norm, or check the "
                "env's observations and rewards for NaN/inf"
            )

    def learn(
        self: SelfMAPPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = 1,
        tb_log_name: str = "MAPPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfMAPPO:
        """Alternate rollouts of ``n_steps * n_envs`` env steps and PPO updates until ``total_timesteps``.

        :param total_timesteps: env steps (summed over envs) to collect; a lower bound, as in SB3.
        :param callback: SB3 callback(s), called every batched env step.
        :param log_interval: dump the logs every this many rollouts (None: never).
        :param tb_log_name: TensorBoard run name.
        :param reset_num_timesteps: restart the step counter and start new episodes (False continues both).
        :param progress_bar: show a progress bar.
        """
        log_interval = None if log_interval is None else whole_number("log_interval", log_interval, 1)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if reset_num_timesteps:  # as SB3: a new run starts new episodes (seeded after set_random_seed)
            self.discard_running_episodes()
        if self.rollout_buffer is None or self.rollout_buffer.n_envs != self.n_envs:
            self._setup_rollout_buffer()
        callback.on_training_start(locals(), globals())
        iteration = 0
        while self.num_timesteps < total_timesteps:
            if not self.collect_rollouts(callback):
                break
            iteration += 1
            self._update_current_progress_remaining()
            if log_interval is not None and iteration % log_interval == 0:
                self.dump_logs(iteration)
            self.train()
        callback.on_training_end()
        return self

    def _setup_rollout_buffer(self) -> None:
        shapes = self.env_shapes
        self.rollout_buffer = MultiAgentRolloutBuffer(
            self.n_steps,
            self.n_envs,
            shapes["n_agents"],
            shapes["obs_shape"],
            shapes["obs_shape"],
            shapes["state_shape"],
            self.device,
        )

    def dump_logs(self, iteration: int = 0) -> None:
        """Write the rollout and time statistics (and any recorded train values) to the logger (Stable-Baselines3's
        PPO method, which ``LogEveryNTimesteps`` calls).

        :param iteration: rollouts done in the current ``learn`` call (logged as ``time/iterations``).
        """
        self.logger.record("time/iterations", iteration, exclude="tensorboard")
        self._record_rollout_and_time()
        self.logger.dump(step=self.num_timesteps)
