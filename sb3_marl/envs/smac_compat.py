"""Drop-in replacement for ``smac.env.StarCraft2Env`` running on the built-in simulator.

:class:`StarCraft2SimEnv` has the constructor keywords and public methods of SMAC's ``StarCraft2Env``
(``smac-spec.md`` §1.2, §2), so PyMARL-style code runs unchanged::

    env = StarCraft2SimEnv(map_name="3m")
    env.reset()
    obs, state, avail = env.get_obs(), env.get_state(), env.get_avail_actions()
    reward, terminated, info = env.step(actions)

Differences from SMAC, because there is no StarCraft II process or to turn misuse SMAC lets pass into clear errors:

* ``save_replay()`` raises ``NotImplementedError`` (SC2 replays need the game); ``render()`` supports
  ``"rgb_array"`` only; ``close()`` releases nothing;
* ``step()`` after an episode terminated, without ``reset()``, raises a ``RuntimeError`` (as the batched envs do);
  SMAC has no such check and steps the decided game on (it counts the battle again; its map trigger respawns the
  units only when both sides are dead);
* an unavailable action raises a ``ValueError`` naming the agent, the action and the available ones (SMAC: an
  ``AssertionError``); ``get_obs_agent`` and the other per-agent methods take an integer ``agent_id`` in
  ``[0, n_agents)`` only (a ``ValueError`` otherwise);
* every value of ``get_stats()`` is a float (SMAC's counters are ints), and ``win_rate`` is 0.0 before the first
  battle ends instead of raising ``ZeroDivisionError``;
* ``get_state_dict()["timestep"]`` is a float32 array of shape ``(1,)`` (SMAC: a Python float), and
  ``get_state_dict()["last_action"]`` is a copy (SMAC returns its own array);
* ``get_unit_types()`` returns SC2's default unit-type ids for allies too (SMAC's ``*_RL`` ids are map-specific);
* of SMAC's public attributes, the counters ``battles_won``, ``battles_game``, ``timeouts`` and ``force_restarts``
  (always 0) are here; the helpers that return or take SC2's unit objects (``get_unit_by_id``, ``can_move``,
  ``get_agent_action``, ...) and SMAC's internal settings (``unit_type_bits``, ``_total_steps``, ...) are not;
* the keywords are checked (SMAC takes them as given): switches must be True or False, numbers finite and in range
  (see :class:`~sb3_marl.envs.simulator.SMACSimulator`).
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

import numpy as np
import torch

from sb3_marl.common.validation import whole_number
from sb3_marl.envs.layout import SHOOT_RANGE, SIGHT_RANGE
from sb3_marl.envs.maps import MAP_SIZE
from sb3_marl.envs.simulator import SMACSimulator


class StarCraft2SimEnv:
    """One SMAC episode at a time, with exactly the public API of ``smac.env.StarCraft2Env``.

    The keywords and defaults are SMAC's (see :class:`~sb3_marl.envs.simulator.SMACSimulator` for what each does
    here); ``difficulty``, ``game_version``, ``replay_dir``, ``replay_prefix``, ``window_size_x``,
    ``window_size_y`` and ``debug`` are accepted and ignored.
    """

    def __init__(
        self,
        map_name: str = "8m",
        step_mul: int = 8,
        move_amount: int = 2,
        difficulty: str = "7",
        game_version: str | None = None,
        seed: int | None = None,
        continuing_episode: bool = False,
        obs_all_health: bool = True,
        obs_own_health: bool = True,
        obs_last_action: bool = False,
        obs_pathing_grid: bool = False,
        obs_terrain_height: bool = False,
        obs_instead_of_state: bool = False,
        obs_timestep_number: bool = False,
        state_last_action: bool = True,
        state_timestep_number: bool = False,
        reward_sparse: bool = False,
        reward_only_positive: bool = True,
        reward_death_value: float = 10,
        reward_win: float = 200,
        reward_defeat: float = 0,
        reward_negative_scale: float = 0.5,
        reward_scale: bool = True,
        reward_scale_rate: float = 20,
        replay_dir: str = "",
        replay_prefix: str = "",
        window_size_x: int = 1920,
        window_size_y: int = 1200,
        heuristic_ai: bool = False,
        heuristic_rest: bool = False,
        debug: bool = False,
        device: str | torch.device = "cpu",
    ) -> None:
        kwargs = dict(locals())
        for name in ("self", "map_name", "seed", "device"):
            kwargs.pop(name)
        self._seed = seed
        self.sim = SMACSimulator(map_name, n_envs=1, device=device, seed=seed, **kwargs)
        self.map_name = map_name
        self.n_agents = self.sim.n_agents
        self.n_enemies = self.sim.n_enemies
        self.episode_limit = self.sim.episode_limit
        self.n_actions = self.sim.n_actions
        self.continuing_episode = self.sim.continuing_episode
        self.map_type = self.sim.params.map_type
        self.max_reward = self.sim.max_reward
        self.reward_scale_rate = self.sim.reward_cfg["reward_scale_rate"]
        self._episode_count = 0
        self._terminated = False

    # ------------------------------------------------------------------ episode
    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Start a new episode; returns ``(get_obs(), get_state())``."""
        self.sim.reset()
        self._terminated = False
        return self.get_obs(), self.get_state()

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        """Apply one action per agent (a sequence of ints); returns ``(reward, terminated, info)``.

        :raises RuntimeError: the episode has terminated and ``reset()`` was not called since (SMAC has no check).
        :raises ValueError: an action is not available to its agent (SMAC: ``AssertionError``).
        """
        if self._terminated:
            raise RuntimeError(
                "The episode has terminated: call reset() before step() (the built-in simulator does not step a "
                "finished battle on)"
            )
        try:
            action_indices = [int(a) for a in actions]  # SMAC's conversion
        except (TypeError, ValueError):  # None, a string, nested lists
            raise ValueError(
                f"step() takes one integer action index per agent (n_agents={self.n_agents}), got actions="
                f"{reprlib.repr(actions)}"
            ) from None
        if len(action_indices) != self.n_agents:
            raise ValueError(f"step() takes one action per agent: {self.n_agents} actions, got {len(action_indices)}")
        joint = torch.as_tensor(action_indices, device=self.sim.device).view(1, -1)
        _, _, _, reward, terminated, info = self.sim.step(joint)
        self._terminated = bool(terminated[0])
        out: dict[str, Any] = {
            "battle_won": bool(info["battle_won"][0]),
            "dead_allies": int(info["dead_allies"][0]),
            "dead_enemies": int(info["dead_enemies"][0]),
        }
        if self.continuing_episode and bool(info["episode_limit"][0]):
            out["episode_limit"] = True
        if self._terminated:
            self._episode_count += 1
        return float(reward[0]), self._terminated, out

    @property
    def _episode_steps(self) -> int:
        return int(self.sim.episode_steps[0])

    # ------------------------------------------------------------------ observations
    def get_obs(self) -> list[np.ndarray]:
        """Observations of all agents: a list of float32 arrays."""
        obs = self.sim.get_obs()[0].cpu().numpy()
        return [obs[i] for i in range(self.n_agents)]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        """Observation of agent ``agent_id`` (float32 1-D array)."""
        return self.get_obs()[self._agent(agent_id)]

    def get_state(self) -> np.ndarray:
        """Global state (float32 1-D array)."""
        return self.sim.get_state()[0].cpu().numpy()

    def get_state_dict(self) -> dict[str, np.ndarray]:
        """The state split into ``allies``, ``enemies`` (and ``last_action`` / ``timestep`` when enabled)."""
        return {k: v[0].cpu().numpy() for k, v in self.sim.state_dict().items()}

    def get_avail_actions(self) -> list[list[int]]:
        """Available actions of all agents: lists of 0/1 ints."""
        return self.sim.get_avail_actions()[0].int().tolist()

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        """Available actions of agent ``agent_id``: a list of 0/1 ints of length ``n_actions``."""
        return self.get_avail_actions()[self._agent(agent_id)]

    def get_visibility_matrix(self) -> np.ndarray:
        """bool[n_agents, n_agents + n_enemies]: agent i (alive) sees unit j (alive) at distance < 9."""
        pos, alive = self.sim.unit_pos[0], self.sim.unit_health[0] > 0
        dist = torch.cdist(pos[: self.n_agents], pos)
        visible = (dist < SIGHT_RANGE) & alive[: self.n_agents, None] & alive[None, :]
        visible[:, : self.n_agents].fill_diagonal_(False)
        return visible.cpu().numpy()

    # ------------------------------------------------------------------ sizes and info
    def get_total_actions(self) -> int:
        """Number of actions: 6 + n_enemies."""
        return self.n_actions

    def get_obs_size(self) -> int:
        """SMAC's observation size (one less than the vector length when ``obs_timestep_number``)."""
        return self.sim.layout.obs_size

    def get_state_size(self) -> int:
        """SMAC's state size."""
        return self.sim.layout.state_size

    def get_obs_move_feats_size(self) -> int:
        return self.sim.layout.move_feats

    def get_obs_enemy_feats_size(self) -> tuple[int, int]:
        return self.n_enemies, self.sim.layout.enemy_feats

    def get_obs_ally_feats_size(self) -> tuple[int, int]:
        return self.n_agents - 1, self.sim.layout.ally_feats

    def get_obs_own_feats_size(self) -> int:
        return self.sim.layout.own_feats

    def get_ally_num_attributes(self) -> int:
        return len(self.sim.layout.agent_features)

    def get_enemy_num_attributes(self) -> int:
        return len(self.sim.layout.enemy_features)

    def get_env_info(self) -> dict[str, Any]:
        """SMAC's env info: shapes, n_actions, n_agents, episode_limit, agent_features, enemy_features."""
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
            "agent_features": self.sim.layout.agent_features,
            "enemy_features": self.sim.layout.enemy_features,
        }

    def get_stats(self) -> dict[str, float]:
        """battles_won, battles_game, battles_draw, win_rate, timeouts, restarts."""
        return self.sim.get_stats()

    # SMAC's public counters (attributes of StarCraft2Env), read from the simulator's
    @property
    def battles_won(self) -> int:
        """Battles won since the env was made."""
        return int(self.sim.get_stats()["battles_won"])

    @property
    def battles_game(self) -> int:
        """Battles finished since the env was made."""
        return int(self.sim.get_stats()["battles_game"])

    @property
    def timeouts(self) -> int:
        """Battles that reached the episode limit."""
        return int(self.sim.get_stats()["timeouts"])

    @property
    def force_restarts(self) -> int:
        """Restarts forced by a lost connection to the game: always 0 here (no game process)."""
        return 0

    def get_unit_types(self) -> list[int]:
        """SC2 unit-type ids of the allies (agent order) then the enemies."""
        return [s.sc2_type_id for s in self.sim.unit_stats_list]

    # ------------------------------------------------------------------ unit helpers
    @staticmethod
    def distance(x1: float, y1: float, x2: float, y2: float) -> float:
        """Euclidean distance between two points."""
        return math.hypot(x2 - x1, y2 - y1)

    def unit_shoot_range(self, agent_id: int) -> float:
        """SMAC's attack-availability range (6 for every unit)."""
        return SHOOT_RANGE

    def unit_sight_range(self, agent_id: int) -> float:
        """SMAC's sight range (9 for every unit)."""
        return SIGHT_RANGE

    def unit_max_cooldown(self, agent_id: int) -> float:
        """SMAC's cooldown normalisation constant of agent ``agent_id`` (energy for a medivac)."""
        return self.sim.unit_stats_list[self._agent(agent_id)].smac_max_cooldown

    def unit_max_shield(self, agent_id: int) -> float:
        """Maximum shield of agent ``agent_id``."""
        return self.sim.unit_stats_list[self._agent(agent_id)].shield

    def check_bounds(self, x: float, y: float) -> bool:
        """Whether the point lies on the 32 x 32 map."""
        return 0 <= x < MAP_SIZE and 0 <= y < MAP_SIZE

    def full_restart(self) -> None:
        """Restart the episode (SMAC relaunches SC2 here)."""
        self.reset()

    # ------------------------------------------------------------------ misc
    def seed(self) -> int | None:
        """The constructor's seed (like SMAC, this does not reseed)."""
        return self._seed

    def render(self, mode: str = "rgb_array") -> np.ndarray | None:
        """An (H, W, 3) uint8 frame (``"rgb_array"`` only; SMAC's pygame ``"human"`` window needs SC2)."""
        return self.sim.render(mode=mode, env_index=0)

    def save_replay(self) -> None:
        """SC2 replays need the StarCraft II client; the simulator cannot write them."""
        raise NotImplementedError(
            "save_replay() writes .SC2Replay files and needs StarCraft II; use render('rgb_array') frames or the "
            "'sc2' backend of make_env instead"
        )

    def close(self) -> None:
        """Nothing to release for the simulator."""
        self.sim.close()

    def _agent(self, agent_id: int) -> int:
        """``agent_id`` as an ``int`` when it is an integer in ``[0, n_agents)``; otherwise a ValueError."""
        return whole_number("agent_id", agent_id, 0, self.n_agents - 1)
