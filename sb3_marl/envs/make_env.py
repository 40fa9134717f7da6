"""``make_env``: the one entry point that builds a batched SMAC environment from a map name."""

from __future__ import annotations

from typing import Any

import torch

from sb3_marl.common.validation import env_device
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.envs.simulator import SMACSimulator

#: Accepted values of ``make_env(backend=...)``.
BACKENDS = ("sim", "sc2")


def make_env(
    map_name: str,
    n_envs: int = 1,
    backend: str = "sim",
    seed: int | None = None,
    device: str | torch.device = "cpu",
    **env_kwargs: Any,
) -> BatchedMultiAgentEnv:
    """Build ``n_envs`` SMAC episodes of map ``map_name`` stepped as one batch.

    :param map_name: a SMAC map name (``sb3_marl.envs.MAP_NAMES``).
    :param n_envs: number of episodes stepped together.
    :param backend: ``"sim"`` for the built-in simulator, ``"sc2"`` for real StarCraft II through the ``smac``
        package (optional; needs the game installed).
    :param seed: env ``b`` of the batch uses ``seed + b``: an integer in ``[0, 2**32 - n_envs]``; None picks a seed.
    :param device: torch device of the returned tensors.
    :param env_kwargs: SMAC ``StarCraft2Env`` keywords (``reward_sparse``, ``obs_last_action``, ...).
    """
    device = env_device(device)
    if backend == "sim":
        return SMACSimulator(map_name, n_envs=n_envs, device=device, seed=seed, **env_kwargs)
    if backend == "sc2":
        from sb3_marl.envs.sc2_backend import SC2BatchedEnv

        return SC2BatchedEnv(map_name, n_envs=n_envs, seed=seed, device=device, **env_kwargs)
    raise ValueError(f"Unknown backend {backend!r}; choose one of {BACKENDS}")
