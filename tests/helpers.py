"""Helpers shared by several test modules: model-file surgery, a stopping callback, cue envs and learning checks."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sb3_marl.common.callbacks import BaseCallback
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.qmix import QMIX

#: QMIX settings under which a model learns the cue env within a few thousand steps (the learning checks' budget)
CUE_LEARN: dict[str, Any] = {
    "batch_size": 16,
    "buffer_size": 500,
    "exploration_timesteps": 200,
    "learning_rate": 1e-3,
    "optimizer_class": "adam",
    "target_update_interval": 20,
    "seed": 0,
    "device": "cpu",
}


def rewrite_data(path: str | Path, target: str | Path, edit: Callable[[Any], Any]) -> None:
    """Copy the model file ``path`` to ``target`` with its JSON settings passed through ``edit``."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            dst.writestr(name, json.dumps(edit(json.loads(content))) if name == "data" else content)


class StopWhenAnEpisodeEnds(BaseCallback):
    """Stops at the first step on which an env finishes its episode."""

    def _on_step(self) -> bool:
        return not bool(self.locals["dones"].any())


class PaddedCueEnv(CueMatchingEnv):
    """CueMatchingEnv whose observations (and so its state) end in ``n_padding`` features that are always zero.

    A network trained on it keeps its random initial weights on those inputs (they never carry a gradient), which a
    gradient attack exploits; adversarial training sees them perturbed and learns to ignore them.
    """

    def __init__(self, *args: Any, n_padding: int = 24, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n_padding = n_padding
        self.obs_shape += n_padding
        self.state_shape = self.n_agents * self.obs_shape

    def _observe(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        obs, _, avail = super()._observe()
        obs = torch.cat([obs, obs.new_zeros(*obs.shape[:-1], self.n_padding)], dim=-1)
        return obs, obs.reshape(self.n_envs, -1), avail


def cue_env(n_envs: int, seed: int, n_padding: int = 0) -> CueMatchingEnv:
    """The learning checks' cue env (2 agents, 4 actions, 5 steps), with ``n_padding`` zero features when > 0."""
    settings = {"n_envs": n_envs, "n_agents": 2, "n_actions": 4, "episode_limit": 5, "seed": seed}
    return PaddedCueEnv(**settings, n_padding=n_padding) if n_padding else CueMatchingEnv(**settings)


def train_cue_qmix(
    timesteps: int, exploration_timesteps: int, cls: type[QMIX] = QMIX, n_padding: int = 0, **kwargs: Any
) -> QMIX:
    """A ``cls`` model (QMIX or a robust variant, with ``kwargs``) trained on 8 cue envs under :data:`CUE_LEARN`."""
    settings = {**CUE_LEARN, "exploration_timesteps": exploration_timesteps, **kwargs}
    return cls(cue_env(8, seed=0, n_padding=n_padding), **settings).learn(timesteps)


def win_rate_under(model: Any, attack: Any, n_padding: int = 0, n_episodes: int = 64) -> float:
    """``model``'s greedy win rate on 16 fresh cue envs (seed 1) with every observation passed through ``attack``."""
    env = cue_env(16, seed=1, n_padding=n_padding)
    env.reset(seed=1)
    return evaluate_policy(model, env, n_episodes, attack=attack)[0]
