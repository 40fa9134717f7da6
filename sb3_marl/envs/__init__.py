"""SMAC environments: the built-in batched simulator, the real-SMAC backend and their views."""

from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.envs.layout import LayoutFlags, ObsLayout, observation_bounds
from sb3_marl.envs.make_env import BACKENDS, make_env
from sb3_marl.envs.maps import MAP_NAMES, MapParams, get_map_params
from sb3_marl.envs.simulator import SMACSimulator
from sb3_marl.envs.smac_compat import StarCraft2SimEnv

__all__ = [
    "BACKENDS",
    "MAP_NAMES",
    "BatchedMultiAgentEnv",
    "LayoutFlags",
    "MapParams",
    "ObsLayout",
    "SMACSimulator",
    "StarCraft2SimEnv",
    "get_map_params",
    "make_env",
    "observation_bounds",
]
