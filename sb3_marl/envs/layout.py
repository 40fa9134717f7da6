"""SMAC observation and state layouts: sizes, feature names and value ranges (``smac-spec.md`` §3, §4).

:class:`ObsLayout` is computed from a map's parameters and SMAC's ``obs_*`` / ``state_*`` flags alone, so the
simulator and the real-SMAC backend share it (``observation_bounds`` gives the range of every obs feature).

Two SMAC quirks are reproduced on purpose: with ``obs_timestep_number`` the observation is one entry longer than
``get_obs_size()`` (a zero slot in the own block, then the value), and with ``obs_instead_of_state`` the state is
the concatenation of those observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sb3_marl.envs.maps import MapParams

#: Sight range (visibility in obs, strict ``<``) and shoot range (attack availability, ``<=``) of every SMAC unit.
SIGHT_RANGE = 9.0
SHOOT_RANGE = 6.0
#: Move actions north, south, east, west and the number of non-attack actions.
N_ACTIONS_MOVE = 4
N_ACTIONS_NO_ATTACK = 6
N_OBS_PATHING = 8
N_OBS_HEIGHT = 9


@dataclass(frozen=True)
class LayoutFlags:
    """SMAC's ``StarCraft2Env`` keywords that shape the observation and the state (defaults are SMAC's)."""

    obs_all_health: bool = True
    obs_own_health: bool = True
    obs_last_action: bool = False
    obs_pathing_grid: bool = False
    obs_terrain_height: bool = False
    obs_instead_of_state: bool = False
    obs_timestep_number: bool = False
    state_last_action: bool = True
    state_timestep_number: bool = False


class ObsLayout:
    """Sizes and offsets of SMAC's observation and state vectors for one map and one set of flags.

    :param params: the map.
    :param flags: the layout flags (``obs_all_health=True`` forces ``obs_own_health=True`` as in SMAC).
    """

    def __init__(self, params: MapParams, flags: LayoutFlags) -> None:
        self.params = params
        self.flags = flags
        self.own_health = flags.obs_own_health or flags.obs_all_health
        n, e, k = params.n_agents, params.n_enemies, params.unit_type_bits
        self.n_actions = N_ACTIONS_NO_ATTACK + e
        self.shield_bits_ally = int(params.a_race == "P")
        self.shield_bits_enemy = int(params.b_race == "P")
        self.move_feats = (
            N_ACTIONS_MOVE + N_OBS_PATHING * flags.obs_pathing_grid + N_OBS_HEIGHT * flags.obs_terrain_height
        )
        health_al = (1 + self.shield_bits_ally) * flags.obs_all_health
        self.enemy_feats = 4 + k + (1 + self.shield_bits_enemy) * flags.obs_all_health
        self.ally_feats = 4 + k + health_al + self.n_actions * flags.obs_last_action
        self.own_feats = k + (1 + self.shield_bits_ally) * self.own_health + flags.obs_timestep_number
        #: Offset of the first ally block in an observation (after the move features and the enemy blocks).
        self.obs_ally_start = self.move_feats + e * self.enemy_feats
        #: SMAC's ``get_obs_size()``.
        self.obs_size = self.move_feats + e * self.enemy_feats + (n - 1) * self.ally_feats + self.own_feats
        #: Real length of an observation vector (``obs_size + 1`` with ``obs_timestep_number``).
        self.obs_len = self.obs_size + flags.obs_timestep_number
        self.state_ally_feats = 4 + self.shield_bits_ally + k
        self.state_enemy_feats = 3 + self.shield_bits_enemy + k
        #: Offsets of the enemy blocks and of what follows them (the last actions, with ``state_last_action``) in
        #: the state (without ``obs_instead_of_state``).
        self.state_enemy_start = n * self.state_ally_feats
        self.state_enemy_end = self.state_enemy_start + e * self.state_enemy_feats
        if flags.obs_instead_of_state:
            self.state_size = n * self.obs_size
            self.state_len = n * self.obs_len
        else:
            self.state_size = (
                n * self.state_ally_feats
                + e * self.state_enemy_feats
                + n * self.n_actions * flags.state_last_action
                + flags.state_timestep_number
            )
            self.state_len = self.state_size

    @property
    def agent_features(self) -> list[str]:
        """Names of the ally state attributes (SMAC's ``get_env_info()['agent_features']``)."""
        names = ["health", "energy/cooldown", "rel_x", "rel_y"] + ["shield"] * self.shield_bits_ally
        return names + [f"type_{i}" for i in range(self.params.unit_type_bits)]

    @property
    def enemy_features(self) -> list[str]:
        """Names of the enemy state attributes (SMAC's ``get_env_info()['enemy_features']``)."""
        names = ["health", "rel_x", "rel_y"] + ["shield"] * self.shield_bits_enemy
        return names + [f"type_{i}" for i in range(self.params.unit_type_bits)]

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` float32[obs_len]: the range each observation feature can take.

        Flags, health/shield fractions, ``d/9``, one-hots and the timestep lie in [0, 1]; ``dx/9`` and ``dy/9`` in
        [-1, 1].  Out-of-map pathing and height values are 1 in SMAC, so they stay in [0, 1] too.
        """
        low = np.zeros(self.obs_len, dtype=np.float32)
        offset = self.move_feats
        rows = [(self.params.n_enemies, self.enemy_feats), (self.params.n_agents - 1, self.ally_feats)]
        for count, width in rows:
            for r in range(count):
                low[offset + r * width + 2 : offset + r * width + 4] = -1.0  # dx/9, dy/9
            offset += count * width
        return low, np.ones(self.obs_len, dtype=np.float32)


def observation_bounds(params: MapParams, **flags: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float32 arrays of the observation range on map ``params`` with SMAC flags ``flags``."""
    return ObsLayout(params, LayoutFlags(**flags)).observation_bounds()
