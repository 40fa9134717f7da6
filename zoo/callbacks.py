"""Callbacks used by the zoo's hyperparameter search."""

from __future__ import annotations

from typing import Any

import optuna
from stable_baselines3.common.callbacks import BaseCallback


class TrialEvalCallback(BaseCallback):
    """Evaluate every ``eval_freq`` callback calls (batched env steps), report the win rate to an Optuna trial and
    stop when it is pruned.

    Several seeds of one trial train one after the other; seed ``k`` reports its ``i``-th evaluation at step
    ``k * n_evaluations + i``. Only seed 0 asks the pruner (``prune``): Optuna's pruners score a trial by all the
    steps it reported so far (MedianPruner by its best value, SuccessiveHalvingPruner's rungs by step count), which
    for the later seeds mixes seed 0's evaluations in; later seeds still report their values.

    :param eval_env: batched env the evaluation episodes run on
    :param trial: the Optuna trial to report to
    :param n_eval_episodes: episodes per evaluation
    :param eval_freq: evaluate every this many callback calls (one call = one batched step of the training env)
    :param step_offset: first report step of this seed (``seed_index * n_evaluations``)
    :param attack: attack applied to the observations during evaluation, or None
    :param n_evaluations: evaluations of this seed at most (None: no limit); training collects whole episodes and
        can pass its budget, and one evaluation more would report at the next seed's first step
    :param prune: ask the trial whether to stop after each evaluation (the objective sets it for seed 0 only); a
        pruned model's ``final_selection_episodes`` is set to 0 (and its ``agent_snapshots`` emptied), so that learn()
        stops without choosing its network
    """

    def __init__(
        self,
        eval_env: Any,
        trial: optuna.Trial,
        n_eval_episodes: int,
        eval_freq: int,
        step_offset: int = 0,
        attack: Any | None = None,
        n_evaluations: int | None = None,
        prune: bool = True,
    ):
        super().__init__(verbose=0)
        self.eval_env = eval_env
        self.trial = trial
        self.n_eval_episodes = n_eval_episodes
        self.eval_freq = eval_freq
        self.step_offset = step_offset
        self.attack = attack
        self.n_evaluations = n_evaluations
        self.prune = prune
        self.eval_idx = 0
        self.is_pruned = False
        self.last_win_rate: float | None = None

    def evaluate(self, report: bool = True) -> float:
        """Run the evaluation episodes, report the win rate to the trial (unless ``report`` is False) and return it."""
        from sb3_marl.common.evaluation import evaluate_policy

        win_rate, _, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes, deterministic=True, attack=self.attack
        )
        self.last_win_rate = float(win_rate)
        if report:
            self.trial.report(self.last_win_rate, self.step_offset + self.eval_idx)
            self.eval_idx += 1
        return self.last_win_rate

    def _on_step(self) -> bool:
        if self.n_evaluations is not None and self.eval_idx >= self.n_evaluations:
            return True
        if self.n_calls % self.eval_freq == 0:
            self.evaluate()
            if self.prune and self.trial.should_prune():
                self.is_pruned = True
                # the pruned model is dropped: learn() ends without playing its final-network choice's episodes
                if getattr(self.model, "final_selection_episodes", 0):
                    self.model.final_selection_episodes, self.model.agent_snapshots = 0, []
                return False
        return True
