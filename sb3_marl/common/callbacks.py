"""Callbacks: Stable-Baselines3's protocol and built-ins (they work unchanged on sb3-marl models, but for SB3's
``EvalCallback``, which needs a Gymnasium env) plus an evaluation callback that reports the win rate and can
evaluate under attack."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from stable_baselines3.common import callbacks as sb3_callbacks
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
    EventCallback,
    EveryNTimesteps,
    LogEveryNTimesteps,
    ProgressBarCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)

from sb3_marl.common.evaluation import check_attack, check_env_matches, evaluate_policy, refuse_render
from sb3_marl.common.validation import finite_float, flag, path_argument, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.file_util import atomic_path

if TYPE_CHECKING:
    from sb3_marl.attacks.base import BaseAttack

__all__ = [
    "BaseCallback",
    "CallbackList",
    "CheckpointCallback",
    "ConvertCallback",
    "EvalCallback",
    "FunctionCallback",
    "EventCallback",
    "EveryNTimesteps",
    "LogEveryNTimesteps",
    "ProgressBarCallback",
    "StopTrainingOnMaxEpisodes",
    "StopTrainingOnNoModelImprovement",
    "StopTrainingOnRewardThreshold",
    "StopTrainingOnWinRate",
]


class CheckpointCallback(sb3_callbacks.CheckpointCallback):
    """Stable-Baselines3's ``CheckpointCallback`` (same arguments and files), with its arguments checked when it is
    built: SB3 saves at every step for a negative ``save_freq``, divides by zero for 0, and fails at the start of
    training on a ``save_path`` that is no path.

    :param save_freq: save every ``save_freq`` calls of the callback, i.e. batched env steps (>= 1).
    :param save_path: folder of the checkpoints (made when training starts).
    :param name_prefix: start of the file names, ``<name_prefix>_<num_timesteps>_steps.zip``.
    :param save_replay_buffer: also save the replay buffer (``<name_prefix>_replay_buffer_<steps>_steps.pkl``).
    :param save_vecnormalize: Stable-Baselines3's flag (there is no ``VecNormalize`` here: nothing to save).
    :param verbose: 2 prints each file saved.
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | Path,
        name_prefix: str = "rl_model",
        save_replay_buffer: bool = False,
        save_vecnormalize: bool = False,
        verbose: int = 0,
    ) -> None:
        if not isinstance(name_prefix, str):
            raise TypeError(
                f"name_prefix={name_prefix!r} must be a str (the files are <name_prefix>_<steps>_steps.zip)"
            )
        super().__init__(
            whole_number("save_freq", save_freq, 1),
            path_argument("save_path", save_path),
            name_prefix,
            flag("save_replay_buffer", save_replay_buffer),
            flag("save_vecnormalize", save_vecnormalize),
            whole_number("verbose", verbose, 0),
        )


class FunctionCallback(ConvertCallback):
    """A function ``f(locals, globals) -> bool`` given as ``learn``'s callback (SB3's ``ConvertCallback``): returning
    False stops training. A function that returns None (a print-only callback, say) also stops it, as in SB3, and is
    warned about once."""

    def _on_step(self) -> bool:
        result = super()._on_step()
        if result is None:
            warnings.warn(
                "The callback function returned None, which stops training (as in Stable-Baselines3): return True "
                "to go on",
                UserWarning,
                stacklevel=2,
            )
        return result


class EvalCallback(EventCallback):
    """Evaluate the model every ``eval_freq`` batched env steps, log ``eval/*`` and keep the best model.

    The best model is the one with the highest win rate, ties broken by the mean return; ``best_score`` holds its
    (win rate, mean return). ``best_win_rate`` and ``best_mean_reward`` are the highest of each over all
    evaluations (Stable-Baselines3's meaning), which need not come from the same evaluation.

    :param eval_env: the evaluation env (or a map name, built like the training env).
    :param callback_on_new_best: called when a new best model is found.
    :param callback_after_eval: called after every evaluation.
    :param n_eval_episodes: test episodes per evaluation.
    :param eval_freq: evaluate every this many calls of ``on_step`` (one per batched env step; each call advances
        ``num_timesteps`` by ``n_envs``).
    :param log_path: folder of ``evaluations.npz`` (timesteps, results, ep_lengths, wins, successes); None: not saved.
    :param best_model_save_path: folder of ``best_model.zip``; None: not saved.
    :param deterministic: greedy test actions.
    :param render: Stable-Baselines3's keyword; only False (the evaluations do not draw: replay ``best_model.zip``
        with ``zoo/enjoy.py``, or draw the episodes with ``evaluate_policy(..., callback=...)`` calling
        ``env.render()``).
    :param verbose: 1 prints each evaluation.
    :param warn: warn when the evaluation env plays another map, another backend or other game settings
        (``env_kwargs`` such as ``reward_sparse``) than the training env (the counterpart of Stable-Baselines3's
        warning about differently wrapped envs).
    :param attack: evaluate under this observation attack (None: clean); keyword only (Stable-Baselines3's
        positions come first).
    """

    def __init__(
        self,
        eval_env: BatchedMultiAgentEnv | str,
        callback_on_new_best: BaseCallback | None = None,
        callback_after_eval: BaseCallback | None = None,
        n_eval_episodes: int = 32,
        eval_freq: int = 10_000,
        log_path: str | Path | None = None,
        best_model_save_path: str | Path | None = None,
        deterministic: bool = True,
        render: bool = False,
        verbose: int = 1,
        warn: bool = True,
        *,
        attack: BaseAttack | None = None,
    ) -> None:
        for name, child in (
            ("callback_on_new_best", callback_on_new_best),
            ("callback_after_eval", callback_after_eval),
        ):
            if child is not None and not isinstance(child, BaseCallback):
                raise TypeError(f"{name}={child!r} must be a BaseCallback (e.g. StopTrainingOnWinRate) or None")
        super().__init__(callback_on_new_best, verbose=whole_number("verbose", verbose, 0))
        if not isinstance(eval_env, (str, BatchedMultiAgentEnv)):
            raise TypeError(
                f"eval_env must be a map name or a BatchedMultiAgentEnv (e.g. sb3_marl.envs.make_env('3m')), got "
                f"{type(eval_env).__name__}"
            )
        eval_freq = whole_number("eval_freq", eval_freq, 1)
        n_eval_episodes = whole_number("n_eval_episodes", n_eval_episodes, 1)
        self.eval_env = eval_env
        self.callback_after_eval = callback_after_eval
        if callback_after_eval is not None:
            callback_after_eval.parent = self
        self.n_eval_episodes = n_eval_episodes
        self.eval_freq = eval_freq
        self.log_path = Path(path_argument("log_path", log_path)) / "evaluations.npz" if log_path is not None else None
        self.best_model_save_path = (
            Path(path_argument("best_model_save_path", best_model_save_path))
            if best_model_save_path is not None
            else None
        )
        self.deterministic = flag("deterministic", deterministic)
        refuse_render("EvalCallback", render, "from the callback of evaluate_policy")
        check_attack(attack)  # its fit to the env: when training starts
        self.attack = attack
        self.warn = flag("warn", warn)
        self.best_score: tuple[float, float] = (-np.inf, -np.inf)
        self.best_win_rate = -np.inf
        self.best_mean_reward = -np.inf
        self.last_win_rate = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []
        self.evaluations_wins: list[list[bool]] = []

    def _init_callback(self) -> None:
        if isinstance(self.eval_env, str):
            self.eval_env = self.model._make_env(self.eval_env)
        check_env_matches(self.model.policy, self.eval_env)  # before training starts, not at the first evaluation
        check_attack(self.attack, self.eval_env)
        training_env = self.model.get_env()
        if self.eval_env is training_env:
            raise ValueError(
                "EvalCallback's eval_env is the model's training env: every evaluation would reset the episodes in "
                "progress (and with eval_freq under an episode's length none would ever finish); pass an env of its "
                "own, e.g. the map's name"
            )
        if self.warn and training_env is not None:
            trained_on = (training_env.map_name, type(training_env).__name__)
            evaluated_on = (self.eval_env.map_name, type(self.eval_env).__name__)
            trained_game, evaluated_game = training_env.env_kwargs, self.eval_env.env_kwargs
            if trained_on != evaluated_on:
                difference = f"map {evaluated_on[0]!r} ({evaluated_on[1]}) while the model trains on "
                difference += f"{trained_on[0]!r} ({trained_on[1]})"
            elif trained_game != evaluated_game:
                difference = f"a game with env settings {evaluated_game} while the model trains with {trained_game}"
            else:
                difference = ""
            if difference:
                warnings.warn(
                    f"EvalCallback evaluates on {difference}; pass warn=False if that is intended",
                    UserWarning,
                    stacklevel=2,
                )
        for folder in (self.best_model_save_path, self.log_path.parent if self.log_path else None):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        if self.callback_after_eval is not None:
            self.callback_after_eval.init_callback(self.model)

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq != 0:
            return True
        rewards, lengths, wins = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic,
            attack=self.attack,
            return_episode_rewards=True,
        )
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(rewards)
        self.evaluations_length.append(lengths)
        self.evaluations_wins.append(wins)
        if self.log_path is not None:
            with atomic_path(self.log_path) as tmp:  # a kill while writing must not lose the earlier evaluations
                np.savez(
                    tmp,
                    timesteps=self.evaluations_timesteps,
                    results=self.evaluations_results,
                    ep_lengths=self.evaluations_length,
                    wins=self.evaluations_wins,
                    successes=self.evaluations_wins,
                )
        win_rate, mean_reward = float(np.mean(wins)), float(np.mean(rewards))
        self.last_win_rate, self.last_mean_reward = win_rate, mean_reward
        if self.verbose >= 1:
            print(
                f"Eval num_timesteps={self.num_timesteps}, win_rate={win_rate:.3f}, "
                f"episode_reward={mean_reward:.2f} +/- {np.std(rewards):.2f}"
            )
        self.logger.record("eval/win_rate", win_rate)
        self.logger.record("eval/success_rate", win_rate)
        self.logger.record("eval/mean_reward", mean_reward)
        self.logger.record("eval/std_reward", float(np.std(rewards)))
        self.logger.record("eval/mean_ep_length", float(np.mean(lengths)))
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)

        continue_training = True
        self.best_win_rate = max(self.best_win_rate, win_rate)
        self.best_mean_reward = max(self.best_mean_reward, mean_reward)
        if (win_rate, mean_reward) > self.best_score:
            if self.verbose >= 1:
                print("New best win rate!")
            self.best_score = (win_rate, mean_reward)
            if self.best_model_save_path is not None:
                self.model.save(self.best_model_save_path / "best_model.zip")
            continue_training = self._on_event()
        if self.callback_after_eval is not None:
            continue_training = self.callback_after_eval.on_step() and continue_training
        return continue_training

    @property
    def evaluations_successes(self) -> list[list[bool]]:
        """Stable-Baselines3's name for the per-episode outcomes of each evaluation: here, whether the battle was
        won (``evaluations_wins``, saved as both ``wins`` and ``successes`` in ``evaluations.npz``)."""
        return self.evaluations_wins

    def update_child_locals(self, locals_: dict) -> None:
        super().update_child_locals(locals_)
        if self.callback_after_eval is not None:
            self.callback_after_eval.update_locals(locals_)


class StopTrainingOnWinRate(BaseCallback):
    """Stop training once the best evaluated win rate reaches ``win_rate_threshold`` (a child of
    :class:`EvalCallback`, as ``callback_on_new_best`` or ``callback_after_eval``).

    :param win_rate_threshold: win rate in [0, 1] that ends training.
    :param verbose: 1 prints when training stops.
    """

    parent: EvalCallback

    def __init__(self, win_rate_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose=whole_number("verbose", verbose, 0))
        win_rate_threshold = finite_float("win_rate_threshold", win_rate_threshold, 0.0, 1.0)
        self.win_rate_threshold = win_rate_threshold

    def _on_step(self) -> bool:
        if not isinstance(self.parent, EvalCallback):
            raise RuntimeError("StopTrainingOnWinRate must be a child callback of EvalCallback")
        continue_training = bool(self.parent.best_win_rate < self.win_rate_threshold)
        if self.verbose >= 1 and not continue_training:
            print(f"Stopping training: win rate {self.parent.best_win_rate:.3f} >= {self.win_rate_threshold}")
        return continue_training


class StopTrainingOnNoModelImprovement(BaseCallback):
    """Stop training when :class:`EvalCallback`'s best model has not improved for more than
    ``max_no_improvement_evals`` evaluations in a row (a child of it, as ``callback_after_eval``).

    Stable-Baselines3's callback of the same name and arguments, judged on ``best_score`` (win rate, then mean
    return: the score that picks the best model) instead of ``best_mean_reward``, which can rise while the best
    model stays the same or stay while a better one is saved.

    :param max_no_improvement_evals: evaluations in a row without a new best model that stop training.
    :param min_evals: evaluations before the count starts.
    :param verbose: 1 prints when training stops.
    """

    parent: EvalCallback

    def __init__(self, max_no_improvement_evals: int, min_evals: int = 0, verbose: int = 0) -> None:
        super().__init__(verbose=whole_number("verbose", verbose, 0))
        self.max_no_improvement_evals = whole_number("max_no_improvement_evals", max_no_improvement_evals, 0)
        self.min_evals = whole_number("min_evals", min_evals, 0)
        self.last_best_score: tuple[float, float] = (-np.inf, -np.inf)
        self.no_improvement_evals = 0

    def _on_step(self) -> bool:
        if not isinstance(self.parent, EvalCallback):
            raise RuntimeError("StopTrainingOnNoModelImprovement must be a child callback of EvalCallback")
        continue_training = True
        if self.n_calls > self.min_evals:
            if self.parent.best_score > self.last_best_score:
                self.no_improvement_evals = 0
            else:
                self.no_improvement_evals += 1
                continue_training = self.no_improvement_evals <= self.max_no_improvement_evals
        self.last_best_score = self.parent.best_score
        if self.verbose >= 1 and not continue_training:
            print(f"Stopping training: no new best model in the last {self.no_improvement_evals} evaluations")
        return continue_training
