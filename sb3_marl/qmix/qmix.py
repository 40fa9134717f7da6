"""QMIX (Rashid et al. 2018) with PyMARL's defaults and pymarl2's optional refinements (Adam, TD(lambda))."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from sb3_marl.common.off_policy_algorithm import OffPolicyMultiAgentAlgorithm
from sb3_marl.common.returns import backward_recurrence
from sb3_marl.common.schedules import SaveableSchedule
from sb3_marl.common.validation import check_policy_kwargs, finite_float, flag, json_mapping, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.policies.qmix_policy import MIXERS, OPTIMIZERS, QMIXPolicy, greedy_actions
from sb3_marl.qmix.final_network import (
    AgentWeightAverages,
    checked_final_selection,
    cloned_weights,
    select_final_agent,
    snapshot_fractions,
    snapshot_name,
    weight_average_rates,
)

#: kinds of TD(lambda) trace (see :class:`QMIX`)
LAMBDA_TRACES = ("peng", "watkins")

#: policy arguments that QMIX sets itself (from its own arguments or the env): not ``policy_kwargs`` keys
_POLICY_ARGUMENTS_SET_BY_QMIX = {
    "n_agents": "the env",
    "n_actions": "the env",
    "obs_dim": "the env",
    "state_dim": "the env",
    "learning_rate": "QMIX's learning_rate argument",
    "mixer": "QMIX's mixer argument",
    "optimizer_class": "QMIX's optimizer_class argument",
    "optimizer_kwargs": "QMIX's optimizer_kwargs argument",
}


def previous_actions_onehot(actions: torch.Tensor, n_actions: int) -> torch.Tensor:
    """One-hot of the action taken *before* each step of whole episodes: float[B, T, N, A], zeros at step 0.

    :param actions: int64[B, T, N] actions of a batch of episodes.
    :param n_actions: number of actions ``A``.
    """
    onehot = torch.nn.functional.one_hot(actions, n_actions).float()
    return torch.cat([torch.zeros_like(onehot[:, :1]), onehot[:, :-1]], dim=1)


def selectable_actions(avail_actions: torch.Tensor) -> torch.Tensor:
    """``avail_actions`` bool[..., A] with every action selectable on padding steps (which have none available), so
    that a max or argmax over them stays finite; filled steps are unchanged."""
    return avail_actions | ~avail_actions.any(dim=-1, keepdim=True)


class QMIX(OffPolicyMultiAgentAlgorithm):
    """QMIX: recurrent agents with shared weights trained end-to-end through a monotonic mixer.

    Loss: masked mean over filled steps of ``(Q_tot(s_t, u_t) - y_t)^2`` (or its Huber loss, ``huber_delta``) with
    the one-step target ``y_t = r_t + gamma (1 - terminated_t) Qbar_tot(s_{t+1}, u*_{t+1})`` (``u*`` the online
    argmax over available actions with ``double_q``, else the target argmax), or its TD(lambda) return when
    ``td_lambda > 0`` (pymarl2).  Timeouts are not terminal: the target bootstraps from the final observation, except
    in an env that observes the time step (``env.time_observed``: ``obs_timestep_number`` / ``state_timestep_number``),
    where a timeout is stored as terminal.

    The TD(lambda) return follows the behaviour's actions, exploratory ones included (Peng's Q(lambda), pymarl2's
    ``td_lambda``); ``lambda_traces="watkins"`` cuts it where the next joint action is not the greedy one
    (Watkins's Q(lambda)), so that the return estimates the greedy policy's value.

    ``advantage_learning`` (Bellemare et al., 2016, "Increasing the action gap") lowers each step's reward by
    ``alpha (max_u Qbar_tot(s_t, u) - Qbar_tot(s_t, u_t))``, the target network's gap between the greedy joint action
    and the one taken (the greedy one is each agent's argmax, as the mixer is monotonic). Greedy actions keep their
    value and the others lose some, so that small errors of the approximation flip fewer greedy actions.

    ``lower_bound_coef`` adds the lower-bound loss of self-imitation learning (Oh et al., 2018; lower-bound Q-learning,
    Tang, 2020): the discounted return ``G_t`` that the sampled episode collected from step ``t`` on (bootstrapped
    from the target network only after a timeout the env does not observe) is, in expectation, no more than the
    optimal ``Q_tot(s_t, u_t)``, so wherever ``Q_tot`` falls short of it the shortfall is trained away (same squared
    or Huber loss as the TD error, weighted by the coefficient); where ``Q_tot >= G_t`` the term is zero. Rare good
    episodes then raise the value of their actions at once instead of through many bootstrapped steps. With
    ``advantage_learning``, ``G_t`` sums the same lowered rewards as the TD target.

    :param env: env instance, SMAC map name, or None (predict-only).
    :param learning_rate: optimizer learning rate: a float or a saveable schedule of the progress remaining (see
        :class:`~sb3_marl.common.base_class.BaseMultiAgentAlgorithm`).
    :param buffer_size: replay capacity in episodes.
    :param learning_starts: env steps before the first update (updates also wait for ``batch_size`` episodes).
    :param batch_size: episodes per gradient step.
    :param gamma: discount factor.
    :param train_freq: finished episodes per rollout (None: ``n_envs``).
    :param gradient_steps: gradient steps per rollout.
    :param target_update_interval: episodes between target updates (checked after each training rollout: at most
        one update per rollout).
    :param tau: soft-update coefficient in (0, 1] of each target update (1: hard copy, PyMARL's).
    :param exploration_initial_eps: initial epsilon of the per-agent epsilon-greedy policy.
    :param exploration_final_eps: final epsilon.
    :param exploration_timesteps: env steps of the linear epsilon decay.
    :param exploration_spread: Ape-X's alpha >= 0: env ``i`` of ``n`` explores with ``epsilon ** (1 + alpha * i /
        (n - 1))`` (0: every env with the schedule's epsilon).
    :param max_grad_norm: gradient-norm clipping threshold.
    :param double_q: pick the bootstrap action with the online network (Double Q-learning).
    :param mixer: ``"qmix"``, ``"vdn"`` or None (independent Q-learners sharing the team reward).
    :param optimizer_class: ``"rmsprop"`` (PyMARL: alpha 0.99, eps 1e-5) or ``"adam"`` (pymarl2).
    :param optimizer_kwargs: keyword arguments replacing the optimizer defaults.
    :param td_lambda: lambda of the TD(lambda) target in [0, 1]; 0 is the one-step target.
    :param lambda_traces: ``"peng"`` (the lambda-return of the actions taken) or ``"watkins"`` (bootstrap fully
        where the next joint action differs from the greedy one that the target picks: with ``double_q`` the online
        network's argmax, else the target network's; without a mixer, per agent). No effect when ``td_lambda`` is 0.
    :param huber_delta: None: squared TD error (PyMARL); a number > 0: Huber loss, quadratic up to this TD error
        and linear beyond (Stable-Baselines3's DQN uses ``smooth_l1_loss``, delta 1).
    :param advantage_learning: ``alpha`` in [0, 1) of the advantage-learning operator (0: plain Q-learning).
    :param lower_bound_coef: weight >= 0 of the lower-bound loss on the episodes' returns (0: off).
    :param weight_averages: rates in (0, 1) of exponential moving averages of the agent network's weights, updated
        after every training round (:class:`~sb3_marl.qmix.final_network.AgentWeightAverages`; about ``1 / rate``
        rounds make up an average); saved with the model. Empty: none.
    :param agent_snapshots: fractions in (0, 1) of a ``learn`` call's env steps at which a copy of the online agent
        network is kept as a candidate of the final choice (``final_selection_episodes``; taken after the first
        training round at or past each fraction, held in memory until the next ``learn`` call, not saved). Empty:
        none.
    :param final_selection_episodes: when > 0, ``learn`` ends by playing this many greedy validation episodes in the
        training env with the online agent network, the target one, each weight average and each snapshot taken (at most
        ``(2 + len(weight_averages) + len(agent_snapshots)) * final_selection_episodes`` episodes: a snapshot shared by
        several fractions plays once, and the candidates after one that wins every episode (an adversary's: none) do not
        play; not counted in ``num_timesteps``), and keeps the one that wins most (an adversary, whose env's battle_won
        is its victim's: least; ties: the online one first) as the model's agent network (``final_selection`` holds the
        choice and the win rates, and is saved with the model; ``agent_before_selection`` the online network's weights,
        not saved). Validation plays the training env without an attack of its own (a robust variant's training attack
        is not applied). Each ``learn`` call that trains chooses anew, and a later ``learn`` trains on from the network
        kept (the target network and the optimizer's state stay as they were). 0: the online network, as trained.
    :param prioritized_replay_alpha: priority exponent in [0, 1] of prioritized episode replay (0: uniform); an
        episode's priority is its mean absolute TD error over its steps (and agents, without a mixer), plus
        ``lower_bound_coef`` times its mean shortfall. In the robust variants only this loss is weighted by
        importance sampling and sets the priorities (``RegularizedQMIX``'s regulariser is not weighted).
    :param prioritized_replay_beta: importance-sampling exponent at the start of each ``learn`` call (raised to 1 at
        that call's end; a call with ``reset_num_timesteps=False`` starts again here, unlike the schedules).
    :param agent_permutation: relabel the agents of each sampled episode at random within their unit types (see
        :class:`~sb3_marl.common.augmentation.AgentPermutation`).
    :param mirror_augmentation: replace half the sampled episodes by their mirror images (maps symmetric about their
        vertical centre line; :class:`~sb3_marl.common.augmentation.MirrorFlip`).
    :param n_envs: episodes stepped as one batch when ``env`` is a map name.
    :param env_kwargs: keyword arguments of ``make_env`` when ``env`` is a map name; with an env instance the model
        records the instance's game settings instead (see :class:`~sb3_marl.common.base_class.BaseMultiAgentAlgorithm`).
    :param backend: env backend for a map name (``"sim"`` or ``"sc2"``; None: ``"sim"``, or an env instance's own).
    :param policy_kwargs: ``rnn_hidden_dim`` (64), ``mixing_embed_dim`` (32), ``hypernet_embed`` (64),
        ``obs_last_action`` (True), ``obs_agent_id`` (True).
    :param stats_window_size: episodes averaged in the ``rollout/*`` logs.
    :param tensorboard_log: TensorBoard folder (None: off).
    :param verbose: 0 silent, 1 info, 2 debug.
    :param seed: random seed (None: unseeded).
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param _init_setup_model: build the networks now (``load`` builds them itself).
    """

    policy_class: ClassVar[type[QMIXPolicy]] = QMIXPolicy
    architecture_settings = ("policy_kwargs", "mixer", "optimizer_class", "optimizer_kwargs", "weight_averages")

    def __init__(
        self,
        env: BatchedMultiAgentEnv | str | None,
        learning_rate: float | SaveableSchedule | dict[str, Any] = 5e-4,
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
        double_q: bool = True,
        mixer: str | None = "qmix",
        optimizer_class: str = "rmsprop",
        optimizer_kwargs: dict[str, Any] | None = None,
        td_lambda: float = 0.0,
        lambda_traces: str = "peng",
        huber_delta: float | None = None,
        advantage_learning: float = 0.0,
        lower_bound_coef: float = 0.0,
        weight_averages: Sequence[float] = (),
        agent_snapshots: Sequence[float] = (),
        final_selection_episodes: int = 0,
        n_envs: int = 1,
        env_kwargs: dict[str, Any] | None = None,
        backend: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if not isinstance(optimizer_class, str) or optimizer_class not in OPTIMIZERS:
            raise ValueError(f"optimizer_class={optimizer_class!r}; allowed: {sorted(OPTIMIZERS)}")
        optimizer_kwargs = json_mapping("optimizer_kwargs", optimizer_kwargs)
        if "lr" in optimizer_kwargs:
            raise ValueError("optimizer_kwargs['lr']: the learning rate is QMIX's learning_rate argument (or schedule)")
        # names first: a Stable-Baselines3 setting such as activation_fn=nn.ReLU is not one, whatever its value
        check_policy_kwargs(
            self.policy_class,
            policy_kwargs if isinstance(policy_kwargs, Mapping) else None,
            _POLICY_ARGUMENTS_SET_BY_QMIX,
        )
        td_lambda = finite_float("td_lambda", td_lambda, 0.0, 1.0, meaning="0: the one-step target")
        if huber_delta is not None:
            huber_delta = finite_float("huber_delta", huber_delta, 0.0, low_open=True, meaning="None: squared error")
        advantage_learning = finite_float(
            "advantage_learning", advantage_learning, 0.0, 1.0, high_open=True, meaning="0: plain Q-learning"
        )
        lower_bound_coef = finite_float("lower_bound_coef", lower_bound_coef, low=0.0, meaning="0: off")
        weight_averages = weight_average_rates(weight_averages)
        requested_snapshots, agent_snapshots = agent_snapshots, snapshot_fractions(agent_snapshots)
        final_selection_episodes = whole_number("final_selection_episodes", final_selection_episodes, 0)
        if agent_snapshots and final_selection_episodes == 0:
            raise ValueError(
                f"agent_snapshots={list(requested_snapshots)} are candidates of the final choice, which "
                "final_selection_episodes=0 turns off: give final_selection_episodes > 0 (e.g. 64) or no snapshots"
            )
        double_q = flag("double_q", double_q)
        if lambda_traces not in LAMBDA_TRACES:
            raise ValueError(f"lambda_traces={lambda_traces!r}; allowed: {LAMBDA_TRACES}")
        if mixer not in MIXERS:
            raise ValueError(f"mixer={mixer!r}; allowed: {', '.join(map(repr, MIXERS))}")
        super().__init__(
            env,
            learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            target_update_interval=target_update_interval,
            tau=tau,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            exploration_timesteps=exploration_timesteps,
            exploration_spread=exploration_spread,
            max_grad_norm=max_grad_norm,
            prioritized_replay_alpha=prioritized_replay_alpha,
            prioritized_replay_beta=prioritized_replay_beta,
            agent_permutation=agent_permutation,
            mirror_augmentation=mirror_augmentation,
            n_envs=n_envs,
            env_kwargs=env_kwargs,
            backend=backend,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            seed=seed,
            device=device,
        )
        self.double_q = double_q
        self.mixer = mixer
        self.optimizer_class = optimizer_class
        self.optimizer_kwargs = optimizer_kwargs
        self.td_lambda = td_lambda
        self.lambda_traces = lambda_traces
        self.huber_delta = huber_delta
        self.advantage_learning = advantage_learning
        self.lower_bound_coef = lower_bound_coef
        self.weight_averages = weight_averages
        self.agent_snapshots = agent_snapshots
        self.final_selection_episodes = final_selection_episodes
        #: the agent network's weight averages (None without ``weight_averages``)
        self.agent_averages: AgentWeightAverages | None = None
        #: the ``agent_snapshots`` taken in the last ``learn`` call, by candidate name (kept until the next call; not
        #: saved); fractions passed in one training round share one copy
        self.snapshot_weights: dict[str, dict[str, torch.Tensor]] = {}
        #: the network ``learn`` kept with ``final_selection_episodes`` and the validation win rates it chose by
        #: (saved with the model; None once the network is trained on)
        self.final_selection: tuple[str, dict[str, float]] | None = None
        #: the online agent network's weights from before that choice (None without one; not saved with the model):
        #: ``policy.agent.load_state_dict`` of them gives back the network as trained
        self.agent_before_selection: dict[str, torch.Tensor] | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if not self.env_shapes:
            raise ValueError("QMIX needs an env (or the sizes of a saved model) to build its networks")
        self.set_random_seed(self.seed)
        shapes = self.env_shapes
        self.policy = self.policy_class(
            shapes["n_agents"],
            shapes["n_actions"],
            shapes["obs_shape"],
            shapes["state_shape"],
            learning_rate=self.lr_schedule(1.0),
            mixer=self.mixer,
            optimizer_class=self.optimizer_class,  # a name of OPTIMIZERS: the policy adds its defaults
            optimizer_kwargs=self.optimizer_kwargs,
            **self.policy_kwargs,
        ).to(self.device)
        if self.weight_averages:
            self.agent_averages = AgentWeightAverages(self.policy.agent, self.weight_averages).to(self.device)

    def _get_torch_save_params(self) -> list[str]:
        averages = ["agent_averages"] if self.agent_averages is not None else []
        return [*super()._get_torch_save_params(), *averages]

    def _counter_names(self) -> list[str]:
        return [*super()._counter_names(), "final_selection"]  # a loaded model tells which network it holds

    def _loaded_counter(self, path: Any, name: str, value: Any) -> Any:
        if name == "final_selection":
            return checked_final_selection(path, value)
        return super()._loaded_counter(path, name, value)

    def _on_learn_start(self) -> None:
        self.snapshot_weights = {}  # each learn call takes its own snapshots

    def train(self, gradient_steps: int, batch_size: int) -> None:
        super().train(gradient_steps, batch_size)
        # the agent network trained on is no longer the one a choice kept (a checkpoint now holds the online one)
        self.final_selection = self.agent_before_selection = None
        if self.agent_averages is not None:
            self.agent_averages.update(self.policy.agent)
        self._take_due_snapshots()

    def _take_due_snapshots(self) -> None:
        """Copy the online agent network for each ``agent_snapshots`` fraction of this ``learn`` call's env steps
        reached and not yet taken (one copy serves several fractions passed in one rollout)."""
        done, budget = self._learn_call_steps()
        due = [snapshot_name(f) for f in self.agent_snapshots if done >= f * budget]
        due = [name for name in due if name not in self.snapshot_weights]
        if due:
            weights = cloned_weights(self.policy.agent)
            self.snapshot_weights.update(dict.fromkeys(due, weights))

    def _on_learn_end(self, n_updates: int, log_interval: int | None) -> None:
        """With ``final_selection_episodes``: keep the candidate agent network that does best in validation episodes
        (:func:`~sb3_marl.qmix.final_network.select_final_agent`), when this ``learn`` call trained the network (a
        call without updates keeps the network and ``final_selection`` as they were). The win rates are logged
        under ``final_selection/``, and written at once unless ``log_interval`` is None."""
        if n_updates == 0:
            return
        self.final_selection = None  # the online network, as trained (also when the choice below is interrupted)
        self.agent_before_selection = None
        if self.final_selection_episodes == 0:
            return
        self.agent_before_selection = cloned_weights(self.policy.agent)
        self.final_selection = select_final_agent(self, self.final_selection_episodes, self.agent_before_selection)
        chosen, win_rates = self.final_selection
        logger = self.logger
        earlier = [key for key in logger.name_to_value if key.startswith("final_selection/")]  # not yet written
        for key in earlier:
            for values in (logger.name_to_value, logger.name_to_count, logger.name_to_excluded):
                values.pop(key, None)
        for name, win_rate in win_rates.items():
            logger.record(f"final_selection/{name.replace(' ', '_')}", win_rate)
        if log_interval is not None:
            logger.dump(step=self.num_timesteps)
        if self.verbose >= 1:
            rates = ", ".join(f"{name} {rate:.3f}" for name, rate in win_rates.items())
            print(f"Final agent network: {chosen} (validation win rates: {rates})")

    def _training_observations(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The observations the TD loss trains on: the clean ones (robust variants may pick ``obs_perturbed``)."""
        return batch["obs"]

    def _compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._td_loss(batch)

    def _td_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Masked TD loss of ``Q_tot`` (squared error, or Huber with ``huber_delta``) on a batch of episodes
        ``[B, T+1, ...]`` (see the class docstring), plus the lower-bound loss when ``lower_bound_coef > 0``.

        :return: the loss and ``q_taken_mean``, ``target_mean``, ``td_error_abs`` (means over filled steps), and
            ``lower_bound_shortfall`` (mean of ``max(0, G_t - Q_tot)``) with the lower-bound loss.
        """
        policy = self.policy
        obs = self._training_observations(batch)
        actions = batch["actions"]
        last_action = previous_actions_onehot(actions, policy.n_actions)
        q = policy.q_values_sequence(obs, last_action)
        q_taken = q[:, :-1].gather(-1, actions[:, :-1].unsqueeze(-1)).squeeze(-1)
        q_tot = policy.mix(q_taken, batch["state"][:, :-1])
        with torch.no_grad():
            target_q = policy.q_values_sequence(obs, last_action, target=True)
            target_q_tot, greedy_next = self._bootstrap_values(batch, target_q, q.detach())
            reward = batch["reward"][:, :-1]
            if self.advantage_learning > 0.0:
                gap = self._target_action_gap(batch, target_q)
                reward = (reward.unsqueeze(-1) if gap.dim() == 3 else reward) - self.advantage_learning * gap
            targets = self._targets(batch, reward, target_q_tot, greedy_next)
        mask = batch["filled"][:, :-1].float()
        if q_tot.dim() == 3:  # no mixer: one value per agent
            mask = mask.unsqueeze(-1).expand_as(q_tot)
        td_error = (q_tot - targets) * mask
        n_filled = mask.sum().clamp(min=1.0)
        episode_weights = batch.get("replay_weights")
        loss = self._regression_loss(td_error, episode_weights) / n_filled
        episode_errors = td_error.detach().abs()
        stats = {
            "q_taken_mean": (q_tot.detach() * mask).sum() / n_filled,
            "target_mean": (targets * mask).sum() / n_filled,
            "td_error_abs": episode_errors.sum() / n_filled,
        }
        if self.lower_bound_coef > 0.0:
            with torch.no_grad():
                returns = self._episode_returns(batch, reward, target_q_tot)
            shortfall = (returns - q_tot).clamp(min=0.0) * mask
            loss = loss + self.lower_bound_coef * self._regression_loss(shortfall, episode_weights) / n_filled
            stats["lower_bound_shortfall"] = shortfall.detach().sum() / n_filled
            episode_errors = episode_errors + self.lower_bound_coef * shortfall.detach()
        if "replay_index" in batch:  # prioritized replay: each episode's mean error over its filled steps
            steps = tuple(range(1, mask.dim()))
            stats["replay_priorities"] = episode_errors.sum(dim=steps) / mask.sum(dim=steps).clamp(min=1.0)
        return loss, stats

    def _regression_loss(self, error: torch.Tensor, episode_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of the squared ``error`` (or twice its Huber loss with ``huber_delta``: errors below delta weigh as in
        the squared loss); masked entries must be 0.

        :param error: float[B, T] (or [B, T, N]).
        :param episode_weights: float[B] weight of each episode's terms (prioritized replay), or None.
        """
        if self.huber_delta is None:
            elementwise = error.pow(2)
        else:
            elementwise = 2.0 * torch.nn.functional.huber_loss(
                error, torch.zeros_like(error), reduction="none", delta=self.huber_delta
            )
        if episode_weights is not None:
            elementwise = elementwise * episode_weights.view(-1, *([1] * (error.dim() - 1)))
        return elementwise.sum()

    def _target_action_gap(self, batch: dict[str, torch.Tensor], target_q: torch.Tensor) -> torch.Tensor:
        """``max_u Qbar_tot(s_t, u) - Qbar_tot(s_t, u_t)`` at steps ``0..T-1``: float[B, T] ([B, T, N] without a
        mixer), >= 0; 0 on padding steps.

        :param target_q: the target network's Q-values float[B, T+1, N, A].
        """
        target_q, avail = target_q[:, :-1], selectable_actions(batch["avail_actions"][:, :-1])
        greedy = target_q.masked_fill(~avail, -float("inf")).max(dim=-1).values
        taken = target_q.gather(-1, batch["actions"][:, :-1].unsqueeze(-1)).squeeze(-1)
        state = batch["state"][:, :-1]
        gap = self.policy.mix(greedy, state, target=True) - self.policy.mix(taken, state, target=True)
        filled = batch["filled"][:, :-1]
        return gap * (filled.unsqueeze(-1) if gap.dim() == 3 else filled)

    def _bootstrap_values(
        self, batch: dict[str, torch.Tensor], target_q: torch.Tensor, q_online: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Target-network ``Q_tot`` at steps ``1..T`` with the greedy available actions: float[B, T] ([B, T, N]
        without a mixer), and those greedy actions int64[B, T, N].

        :param target_q: the target network's Q-values float[B, T+1, N, A].
        :param q_online: the online Q-values float[B, T+1, N, A] (double Q picks the action with them).
        """
        policy = self.policy
        target_q = target_q[:, 1:]
        avail = selectable_actions(batch["avail_actions"][:, 1:])
        chooser = q_online[:, 1:] if self.double_q else target_q
        best = greedy_actions(chooser, avail).unsqueeze(-1)
        values = policy.mix(target_q.gather(-1, best).squeeze(-1), batch["state"][:, 1:], target=True)
        return values, best.squeeze(-1)

    def _targets(
        self, batch: dict[str, torch.Tensor], reward: torch.Tensor, next_values: torch.Tensor, greedy_next: torch.Tensor
    ) -> torch.Tensor:
        """One-step or TD(lambda) targets for steps ``0..T-1`` from the bootstrap values at ``1..T``.

        :param reward: the rewards float[B, T] of steps ``0..T-1`` (``advantage_learning`` lowers them; float[B, T, N]
            per agent without a mixer).
        :param greedy_next: the greedy actions int64[B, T, N] at steps ``1..T`` (``lambda_traces="watkins"``).
        """
        per_agent = next_values.dim() == 3  # no mixer: one target per agent
        traced = self._traced(batch, per_agent)
        if self.lambda_traces == "watkins" and self.td_lambda > 0.0:
            greedy = batch["actions"][:, 1:] == greedy_next
            traced = traced & (greedy if per_agent else greedy.all(dim=-1))
        return self._lambda_returns(batch, reward, next_values, traced, self.td_lambda)

    def _episode_returns(
        self, batch: dict[str, torch.Tensor], reward: torch.Tensor, next_values: torch.Tensor
    ) -> torch.Tensor:
        """The discounted return collected from each step ``0..T-1`` to the episode's end, plus ``gamma^k`` times the
        bootstrap value after a timeout not stored as terminal (the lambda-return with lambda 1 and no cut); arguments
        as :meth:`_targets`."""
        return self._lambda_returns(batch, reward, next_values, self._traced(batch, next_values.dim() == 3), 1.0)

    @staticmethod
    def _traced(batch: dict[str, torch.Tensor], per_agent: bool) -> torch.Tensor:
        """bool[B, T] (bool[B, T, 1] ``per_agent``): step ``t+1`` is a transition of the episode, so ``G_{t+1}``
        exists."""
        traced = batch["filled"][:, 1:]
        return traced.unsqueeze(-1) if per_agent else traced

    def _lambda_returns(
        self,
        batch: dict[str, torch.Tensor],
        reward: torch.Tensor,
        next_values: torch.Tensor,
        traced: torch.Tensor,
        td_lambda: float,
    ) -> torch.Tensor:
        """``G_t = r_t + gamma (1 - d_t) [(1 - lambda) Qbar_{t+1} + lambda G_{t+1}]`` for steps ``0..T-1``, with
        ``G_{t+1} := Qbar_{t+1}`` where ``traced`` is False (after the episode's last transition, or a cut trace).

        :param traced: bool[B, T] (or broadcastable to ``next_values``): whether ``G_{t+1}`` is followed.
        :param td_lambda: lambda in [0, 1]; 0 gives the one-step target.
        """
        not_terminal = 1.0 - batch["terminated"][:, :-1].float()
        if next_values.dim() == 3:  # no mixer: one return per agent
            not_terminal = not_terminal.unsqueeze(-1)
            reward = reward if reward.dim() == 3 else reward.unsqueeze(-1)
        discount = self.gamma * not_terminal
        if td_lambda == 0.0:
            return reward + discount * next_values
        # G_t = offset_t + decay_t G_{t+1}, with G_T := Qbar_T (the last bootstrap value)
        offset = reward + discount * torch.where(traced, 1.0 - td_lambda, 1.0) * next_values
        decay = discount * td_lambda * traced
        return backward_recurrence(offset, decay, next_values[:, -1])
