"""Built-in batched re-implementation of SMAC's micro-combat in PyTorch (no StarCraft II needed).

:class:`SMACSimulator` steps ``n_envs`` independent SMAC episodes as tensors on ``device``.  Observations, states,
action indices and availability, rewards, termination and statistics follow SMAC exactly (``smac-spec.md`` §3-§5,
see :mod:`sb3_marl.envs.layout`); the combat underneath follows SC2's rules at Normal game speed: one agent step is
``step_mul`` = 8 game loops of 1/16 game-second, and each loop does, for all units of all envs at once:

1. enemy auto-targeting (attack-move units only; SMAC's allies are passive and never acquire targets): keep the
   current target while it is alive and within weapon range, otherwise pick, among opposing units within the scan
   range (``max(5, weapon range + 0.5)``, edge to edge) or attacking the unit from within their own weapon range, a
   threat (a unit that can shoot back) before a non-threat, then the closest; a unit with no target walks to its
   attack point;
2. weapon cooldowns tick; units whose target is within weapon range (edge to edge) fire when the cooldown is over,
   and the cooldown restarts at the weapon period plus a uniform jitter of -1, 0, +1 or +2 game loops;
3. damage: bonus vs attributes is added before armor, shields absorb first (shield armor 0), the rest goes to life
   reduced by life armor, at least 0.5 per hit reaching life; hits on one target in one loop are applied in unit
   index order; Colossus lances hit a 2.8 x 0.3 line across the target; banelings burst on contact (radius 2.2) and
   die; medivacs heal 9 life per game-second for 1 energy per 3 life;
4. movement at the unit's speed toward its move point, its target (until in range) or its attack point (around
   obstacles where the walkable area is not convex); then
   overlapping ground units are pushed apart by their overlap (half each, none for static units); ground units
   cannot enter unwalkable cells (they slide along the blocked axis);
5. shields regenerate 2 per game-second after 10 game-seconds without damage; Zerg life regenerates 0.2734 per
   game-second; medivac energy regenerates 0.5625 per game-second.

Approximations (SC2 internals SMAC does not expose; see also :mod:`sb3_marl.envs.units` and :mod:`.maps`):
instant hits and turns, no acceleration, paths around obstacles follow an 8-connected shortest grid path (on the
five maps with non-convex walkable areas) instead of SC2's pathfinder, units slide along walls, the update
order inside a loop is fixed (allies, then enemies) instead of SC2's random order, the VeryHard AI issues no micro
beyond the map's attack-move order (``difficulty`` is accepted and ignored), move orders end when the unit reaches
its point, a medivac keeps following its heal target while it lives.

Randomness (weapon jitter, the 2m_vs_1z attack point) comes from a counter-based hash of (env seed, env step, loop,
unit), so env ``b`` of a batch seeded ``s`` behaves exactly like a single env seeded ``s + b`` and no Python loop over
envs is needed.
"""

from __future__ import annotations

import numbers
import os
import shutil
import sys
import warnings
from typing import Any

import numpy as np
import torch

from sb3_marl.common.validation import check_default_dtype, env_device, finite_float, flag, whole_number
from sb3_marl.envs.base import (
    BatchedMultiAgentEnv,
    ResetReturn,
    StepReturn,
    batch_seed,
    check_joint_actions,
    game_env_kwargs,
)
from sb3_marl.envs.layout import (
    N_ACTIONS_NO_ATTACK,
    SHOOT_RANGE,
    SIGHT_RANGE,
    LayoutFlags,
    ObsLayout,
)
from sb3_marl.envs.maps import (
    GRID_STEPS,
    MAP_SIZE,
    NON_CONVEX_GRIDS,
    get_map_params,
    path_tables,
    pathing_grid,
    spawn_layout,
    terrain_height,
)
from sb3_marl.envs.units import LOOPS_PER_SECOND, life_damage, unit_stats

_REWARD_DEFAULTS: dict[str, Any] = {
    "reward_sparse": False,
    "reward_only_positive": True,
    "reward_death_value": 10.0,
    "reward_win": 200.0,
    "reward_defeat": 0.0,
    "reward_negative_scale": 0.5,
    "reward_scale": True,
    "reward_scale_rate": 20.0,
}
#: allowed range (lowest, highest, lowest excluded; None: no bound) of the numeric reward keywords, the others being
#: switches. SMAC's documentation: the death value is paid per enemy killed (and charged per ally lost), the win
#: reward is paid for a win, the defeat reward "should be nonpositive", the negative scale scales penalties; the
#: scale rate divides the reward (``reward / (max_reward / rate)``). With these, ``max_reward`` is always > 0.
_REWARD_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "reward_death_value": (0.0, None, False),
    "reward_win": (0.0, None, False),
    "reward_defeat": (None, 0.0, False),
    "reward_negative_scale": (0.0, None, False),
    "reward_scale_rate": (0.0, None, True),
}
#: the reward keywords that are switches (True or False)
REWARD_SWITCHES = tuple(name for name in _REWARD_DEFAULTS if name not in _REWARD_RANGES)
#: SMAC keywords that only concern the SC2 process; accepted for drop-in compatibility and ignored.
IGNORED_KWARGS = (
    "difficulty",
    "game_version",
    "replay_dir",
    "replay_prefix",
    "window_size_x",
    "window_size_y",
    "debug",
)
#: SMAC's ``difficulty`` values: the built-in AI from "1" (VeryEasy) to "7" (VeryHard, SMAC's default) and the
#: cheating ones "8" (CheatVision), "9" (CheatMoney) and "A" (CheatInsane)
SMAC_DIFFICULTIES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "A")


def check_sc2_process_settings(kwargs: dict[str, Any]) -> None:
    """Check, in place, the SC2 process settings SMAC would refuse only when StarCraft II starts (the simulator ignores
    them, but records them in the model files it trains, which may later play on ``backend="sc2"``): ``difficulty``
    must be one of :data:`SMAC_DIFFICULTIES` (a whole number 1-9, as YAML reads ``difficulty: 7``, becomes its
    string), ``game_version`` a string or None; otherwise a ValueError."""
    difficulty = kwargs.get("difficulty")
    if isinstance(difficulty, numbers.Integral) and not isinstance(difficulty, bool) and 1 <= difficulty <= 9:
        kwargs["difficulty"] = str(int(difficulty))
    if "difficulty" in kwargs and kwargs["difficulty"] not in SMAC_DIFFICULTIES:
        raise ValueError(f"difficulty={kwargs['difficulty']!r}; SMAC's difficulties are {list(SMAC_DIFFICULTIES)}")
    if kwargs.get("game_version") is not None and not isinstance(kwargs["game_version"], str):
        raise ValueError(f"game_version={kwargs['game_version']!r} must be a StarCraft II version string or None")


_SHIELD_REGEN_DELAY = 10.0 * LOOPS_PER_SECOND  # game loops without damage before shields regenerate
_SHIELD_REGEN_RATE = 2.0 / LOOPS_PER_SECOND  # shield per game loop
_NON_THREAT_PENALTY = 1000.0  # added to the distance of targets that cannot shoot back
_NO_CANDIDATE = 1e8  # scores at or above this mark units that are not candidate targets
_M32 = 0xFFFFFFFF
# With compile=True a step runs as three compiled graphs: the agents' orders, the game loops (this many per graph,
# run ceil(step_mul / _LOOPS_PER_GRAPH) times, the last one shorter when step_mul is not a multiple: a second compiled
# version, which counts toward torch's recompile limit) and the step's end. On CPU its results were bitwise those of
# one graph for the whole step (600 steps on each paper map), which stepped x1.15-1.3 faster with its eight loops
# unrolled but compiled for about 100 s per map and batch size on a 2-core CPU, against 21-33 s
# (benchmarks/bench_env.py --compile: benchmarks/README.md).
_LOOPS_PER_GRAPH = 4


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (int64 tensors holding values in [0, 2**32))."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    return (x >> 16) ^ x


def _reward_setting(name: str, value: Any) -> bool | float:
    """A ``reward_*`` keyword checked: a switch as a ``bool``, a number as a finite ``float`` within
    :data:`_REWARD_RANGES`; otherwise a ValueError naming it."""
    if name in REWARD_SWITCHES:
        return flag(name, value)
    low, high, low_open = _REWARD_RANGES[name]
    return finite_float(name, value, low=low, high=high, low_open=low_open)


def _pairwise_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact Euclidean distances [B, n, m] between points a [B, n, 2] and b [B, m, 2]."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _cell_index(pos: torch.Tensor) -> torch.Tensor:
    """Index ``x * 32 + y`` of the map cell holding each point [..., 2] (clamped onto the map)."""
    cell = pos.clamp(0.0, MAP_SIZE - 1e-3).long()
    return cell[..., 0] * MAP_SIZE + cell[..., 1]


def _check_cpp_compiler() -> None:
    """Fail before any step when ``torch.compile`` has no C++ compiler for CPU code (torch inductor builds one).

    Looks for the compilers inductor itself tries, in its order: ``$CXX``, else ``cl`` on Windows; elsewhere
    ``torch._inductor.config.cpp.cxx`` (``$CXX``, else ``g++`` on Linux). A Linux machine with only ``clang++`` is
    refused unless ``CXX=clang++`` is set, as inductor would fail there too.
    """
    if sys.platform == "win32":
        searched: tuple[str | None, ...] = (os.environ.get("CXX", "cl"),)
    else:
        from torch._inductor import config as inductor_config

        cxx = inductor_config.cpp.cxx
        searched = tuple(cxx) if isinstance(cxx, (list, tuple)) else (cxx,)
        if None in searched and sys.platform == "linux" and os.environ.get("TORCH_INDUCTOR_INSTALL_GXX"):
            return  # inductor installs g++ with conda itself
    candidates = [name for name in searched if name]
    if not any(shutil.which(name) for name in candidates):
        raise RuntimeError(
            "compile=True needs a C++ compiler on this machine (torch.compile's CPU backend builds C++): "
            f"torch inductor looks for {candidates} and none was found on PATH. Install one (e.g. apt-get install "
            "g++) or point CXX at one (e.g. CXX=clang++), or use compile=False (no --compile): the results are the "
            "same up to float rounding."
        )


class SMACSimulator(BatchedMultiAgentEnv):
    """``n_envs`` SMAC episodes of map ``map_name`` simulated together (see the module docstring).

    :param map_name: one of :data:`sb3_marl.envs.maps.MAP_NAMES`.
    :param n_envs: number of independent episodes stepped as one batch (>= 1).
    :param device: torch device holding every tensor.
    :param seed: env ``b`` uses seed ``seed + b``: an integer in ``[0, 2**32 - n_envs]`` (every env's seed is an
        unsigned 32-bit number, as in the SC2 backend); None draws a seed from torch's global generator.
    :param compile: run the body of :meth:`step` through ``torch.compile`` (opt-in: the first step of each batch
        size then compiles for about half a minute, or loads the compiled step from torch's on-disk cache in a few
        seconds; later steps are several times faster with the same results up to float rounding).
    :param smac_kwargs: SMAC ``StarCraft2Env`` keywords: ``step_mul`` (game loops per step, an integer >= 1, 8),
        ``move_amount`` (cells, an integer >= 1 as SMAC's pathing probes need, 2), ``continuing_episode``, the
        ``obs_*`` / ``state_*`` layout flags (:class:`~sb3_marl.envs.layout.LayoutFlags`), the ``reward_*`` options
        (numbers: finite, in the ranges of :data:`_REWARD_RANGES`: ``reward_scale_rate`` > 0, ``reward_defeat`` <= 0,
        the others >= 0), ``heuristic_ai`` / ``heuristic_rest`` (only False), and the SC2-only keywords of
        :data:`IGNORED_KWARGS` (ignored; ``difficulty`` and ``game_version`` checked as SMAC would:
        :func:`check_sc2_process_settings`). Every switch (``compile`` too) must be True or False (numpy's bools
        included): a string such as ``"False"`` is refused rather than read as True.
    """

    backend = "sim"

    def __init__(
        self,
        map_name: str,
        n_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        compile: bool = False,
        **smac_kwargs: Any,
    ) -> None:
        check_default_dtype("the simulator")
        n_envs = whole_number("n_envs", n_envs, 1)
        seed = None if seed is None else batch_seed(seed, n_envs)
        compile = flag("compile", compile)
        self.params = get_map_params(map_name)
        self._parse_kwargs(smac_kwargs)
        self._env_kwargs = game_env_kwargs(smac_kwargs)
        self.map_name = map_name
        self.n_envs = n_envs
        self.device = env_device(device)
        self.n_agents, self.n_enemies = self.params.n_agents, self.params.n_enemies
        self.layout = ObsLayout(self.params, self.flags)
        self.n_actions = self.layout.n_actions
        self.obs_shape = self.layout.obs_len
        self.state_shape = self.layout.state_len
        self.episode_limit = self.params.limit
        low, high = self.layout.observation_bounds()
        self.obs_low = torch.as_tensor(low, device=self.device)
        self.obs_high = torch.as_tensor(high, device=self.device)
        self._build_static_tables()
        self._allocate_state()
        if compile and self.device.type == "cpu":
            _check_cpp_compiler()
        self.compiled = compile  #: whether :meth:`step` runs through ``torch.compile``
        stages = (self._start_step, self._game_loops, self._finish_step)
        if compile:  # one graph per stage (see _LOOPS_PER_GRAPH)
            stages = tuple(torch.compile(stage, dynamic=False) for stage in stages)
        self._run_start_step, self._run_game_loops, self._run_finish_step = stages
        first_seed = int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else seed
        self._seed = first_seed
        self.reset(seed=first_seed)

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The SMAC keywords of the game this simulator was built with (``compile`` and the SC2-only run-time
        keywords left out)."""
        return dict(self._env_kwargs)

    # ------------------------------------------------------------------ construction
    def _parse_kwargs(self, kwargs: dict[str, Any]) -> None:
        flag_names = set(LayoutFlags.__dataclass_fields__)
        known = (
            flag_names
            | set(_REWARD_DEFAULTS)
            | set(IGNORED_KWARGS)
            | {"step_mul", "move_amount", "continuing_episode", "heuristic_ai", "heuristic_rest"}
        )
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"Unknown SMACSimulator keyword(s) {unknown}; accepted keywords: {sorted(known)}")
        check_sc2_process_settings(kwargs)
        for name in ("heuristic_ai", "heuristic_rest"):
            if flag(name, kwargs.get(name, False)):
                raise ValueError(f"{name}=True is not supported by the built-in simulator (only False)")
        self.flags = LayoutFlags(**{k: flag(k, v) for k, v in kwargs.items() if k in flag_names})
        self.step_mul = whole_number("step_mul", kwargs.get("step_mul", 8), 1)
        self.move_amount = float(whole_number("move_amount", kwargs.get("move_amount", 2), 1))  # cells
        self.continuing_episode = flag("continuing_episode", kwargs.get("continuing_episode", False))
        self.reward_cfg = {k: _reward_setting(k, kwargs.get(k, v)) for k, v in _REWARD_DEFAULTS.items()}
        if self.flags.obs_terrain_height:
            warnings.warn(
                "obs_terrain_height=True: the built-in simulator has no terrain heights (SMAC's are StarCraft II's "
                "height map / 255); its 9 height features read 0.5 on walkable cells and 1 elsewhere, so a policy "
                "trained on them may not transfer to real SMAC",
                stacklevel=3,
            )

    def _build_static_tables(self) -> None:
        """Per-unit and per-pair constants (index u: allies in agent order, then enemies)."""
        params, dev = self.params, self.device
        spawn = spawn_layout(params.name)
        n = self.n_agents
        stats = [unit_stats(u, True) for u in spawn.ally_units] + [unit_stats(u, False) for u in spawn.enemy_units]
        self.unit_stats_list = stats
        self.n_units = u_count = len(stats)
        self.unit_type_names = [s.name for s in stats]
        is_ally = np.arange(u_count) < n

        def vec(values: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.tensor(np.array(values), dtype=dtype, device=dev)

        self.unit_is_ally = vec(is_ally, torch.bool)
        self.unit_health_max = vec([s.health for s in stats])
        self.unit_shield_max = vec([s.shield for s in stats])
        self.unit_radius = vec([s.radius for s in stats])
        self._armor = vec([s.armor for s in stats])
        self._speed = vec([s.speed / LOOPS_PER_SECOND for s in stats])
        self._reach = vec([s.heal_range if s.is_healer else s.weapon_range for s in stats])
        self._scan = vec([max(5.0, s.weapon_range + 0.5) for s in stats])
        self._cooldown = vec([s.cooldown_loops for s in stats])
        self._has_weapon = vec([s.has_weapon for s in stats], torch.bool)
        self._n_hits = vec([s.attacks for s in stats])
        self._is_air = vec([s.is_air for s in stats], torch.bool)
        self._max_cd = vec([s.smac_max_cooldown for s in stats[:n]])
        self._cd_is_energy = vec([s.is_healer for s in stats[:n]], torch.bool)
        self._heal_rate = vec([s.heal_rate / LOOPS_PER_SECOND for s in stats])
        self._energy_regen = vec([s.energy_regen / LOOPS_PER_SECOND for s in stats])
        self._energy_start = vec([s.energy_start for s in stats])
        self._energy_max = vec([s.energy_max for s in stats])
        self._life_regen = vec([s.life_regen / LOOPS_PER_SECOND for s in stats])
        self._is_line = vec([s.splash == "line" for s in stats], torch.bool)
        self._is_bane = vec([s.splash == "baneling" for s in stats], torch.bool)
        self._bane_radius = max((s.splash_radius for s in stats), default=0.0)
        self._has_healer = any(s.is_healer for s in stats)
        self._has_regen = any(s.life_regen > 0 for s in stats)
        self._double_hits = any(s.attacks > 1 for s in stats)
        self._has_line = any(s.splash == "line" for s in stats)
        self._has_bane = any(s.splash == "baneling" for s in stats)
        self._has_shields = any(s.shield > 0 for s in stats)

        opposing = is_ally[:, None] != is_ally[None, :]
        can_hit = np.array([[a.has_weapon and a.can_target(b) for b in stats] for a in stats]) & opposing
        heals = (
            np.array(
                [[a.is_healer and "biological" in b.attributes and b.is_healer is False for b in stats] for a in stats]
            )
            & ~opposing
            & ~np.eye(u_count, dtype=bool)
        )
        self._can_hit = vec(can_hit, torch.bool)
        self._heals = vec(heals, torch.bool)
        self._non_threat = vec(~can_hit.T * _NON_THREAT_PENALTY)
        self._hit_damage = vec([[a.hit_damage(b) for b in stats] for a in stats])
        self._life_per_hit = vec([[life_damage(a.hit_damage(b), b.armor) for b in stats] for a in stats])
        # per (shooter, target), row i * U + j: raw damage of a shot, its number of hits, its life damage when no
        # shield is left (only the last column on maps without shields); the extra last row is "no shot"
        hits_col = self._n_hits[:, None].expand(-1, u_count)
        shot = torch.stack([self._hit_damage * hits_col, hits_col, self._life_per_hit * hits_col], -1)
        shot = shot.reshape(u_count * u_count, 3)[:, (0 if self._has_shields else 2) :]
        self._shot_rows = torch.cat([shot, shot.new_zeros(1, shot.shape[1])])
        self._shot_row_offset = torch.arange(u_count, device=dev) * u_count
        self._all_armed = all(s.has_weapon for s in stats)
        self._radius_sum = self.unit_radius[:, None] + self.unit_radius[None, :]
        ground = np.array([not s.is_air for s in stats])
        static = np.array([s.speed == 0 for s in stats])
        share = np.where(static[None, :], 1.0, 0.5) * (ground[:, None] & ground[None, :] & ~static[:, None])
        np.fill_diagonal(share, 0.0)
        self._neg_push_share = vec(-share)  # negated: multiplies the (negative) overlap edge distance
        self._ground_target = vec(ground, torch.bool)

        self._spawn_pos = vec(np.concatenate([spawn.ally_positions, spawn.enemy_positions]))
        grid = pathing_grid(params.grid)
        self.pathing_grid = vec(grid, torch.bool)
        self._grid_flat = self.pathing_grid.flatten()
        xs, ys = np.nonzero(grid)
        box = (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1)
        self._grid_box = box if grid[box[0] : box[1], box[2] : box[3]].all() else None
        if self._grid_box is not None:  # per-unit bounds: ground units stay in the box, air units in the map
            x0, x1, y0, y1 = self._grid_box
            low = np.where(ground[:, None], [[x0, y0]], 0.0)
            self._box_low = vec(low)
            self._box_high = vec(np.where(ground[:, None], [[x1, y1]], MAP_SIZE) - 1e-3)
        self._height_flat = vec(terrain_height(params.grid)).flatten()
        self._path_dist = self._path_next = None
        if params.grid in NON_CONVEX_GRIDS:  # ground units walk around obstacles along shortest grid paths
            dist, next_step = path_tables(params.grid)
            self._path_dist = torch.as_tensor(dist, device=dev).flatten()
            self._path_next = torch.as_tensor(next_step, device=dev).flatten()
            self._step_dirs = vec(GRID_STEPS / np.hypot(GRID_STEPS[:, :1], GRID_STEPS[:, 1:]))
        self._attack_point = vec(params.attack_points[0] if params.attack_points else (0.0, 0.0))
        self._segment = vec(params.attack_points) if params.attack == "segment" else None

        k = params.unit_type_bits
        eye = np.eye(k, dtype=np.float32)
        ally_rank = {t: i for i, t in enumerate(params.ally_type_order)}
        enemy_rank = {t: i for i, t in enumerate(params.enemy_type_order)}
        self._ally_type = vec(np.stack([eye[ally_rank[u]] for u in spawn.ally_units]) if k else np.zeros((n, 0)))
        self._enemy_type = vec(
            np.stack([eye[enemy_rank[u]] for u in spawn.enemy_units]) if k else np.zeros((self.n_enemies, 0))
        )
        self._others = vec([[j for j in range(n) if j != i] for i in range(n)], torch.long).reshape(n, n - 1)
        medivac = np.array([s.is_healer for s in stats[:n]])
        self._mmm = params.map_type == "MMM"
        self._ally_medivac = vec(medivac, torch.bool)
        self._enemy_medivac = vec([s.is_healer for s in stats[n:]], torch.bool)
        # attack orders SC2 rejects: a weapon that cannot target the enemy (a marauder's ground-only weapon ordered
        # at a medivac); "attack j" stays available, as in SMAC, and the agent keeps its previous order
        refused = ~can_hit[:n, n:] & ~medivac[:, None] if self._mmm else ~can_hit[:n, n:]
        self._refused_orders = vec(refused, torch.bool) if refused.any() else None  # [N, E]
        # SMAC's max_reward: n_enemies * death value + win bonus + sum of enemy max health + shield.
        enemy_hs = float(sum(s.health + s.shield for s in stats[n:]))
        cfg = self.reward_cfg
        self.max_reward = self.n_enemies * cfg["reward_death_value"] + cfg["reward_win"] + enemy_hs
        self._moves = vec([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])
        ma = int(self.move_amount)
        self._pathing_offsets = vec(
            [[0, 2 * ma], [0, -2 * ma], [2 * ma, 0], [-2 * ma, 0], [ma, ma], [-ma, -ma], [ma, -ma], [-ma, ma]],
            torch.long,
        )
        self._arange_u = torch.arange(u_count, device=dev)
        # enemy rows of the tables used by auto-targeting every loop
        self._enemy_rows = self._arange_u[n:, None]
        self._enemy_scan = self._scan[n:, None]
        self._enemy_reach = self._reach[n:]
        self._enemy_can_hit = self._can_hit[n:]
        self._enemy_heals = self._heals[n:]
        self._enemy_non_threat = self._non_threat[n:]
        self._zero = torch.zeros((), device=dev)
        self._env_index = torch.arange(self.n_envs, device=dev)
        self._jitter_keys = (torch.arange(self.step_mul * u_count, device=dev) * 0x9E3779B1) & _M32

    def _allocate_state(self) -> None:
        b, u, dev = self.n_envs, self.n_units, self.device
        zeros = torch.zeros(b, u, device=dev)
        self.unit_pos = torch.zeros(b, u, 2, device=dev)
        self.unit_health = zeros.clone()
        self.unit_shield = zeros.clone()
        self.unit_attack_target = torch.full((b, u), -1, dtype=torch.long, device=dev)
        self.episode_steps = torch.zeros(b, dtype=torch.long, device=dev)
        self._energy = zeros.clone()
        self._cd = zeros.clone()
        self._since_damage = zeros.clone()
        self._target = torch.full((b, u), -1, dtype=torch.long, device=dev)
        self._goal = torch.zeros(b, u, 2, device=dev)
        self._walking = torch.zeros(b, u, dtype=torch.bool, device=dev)
        self._prev_hs = zeros.clone()
        self._dead_counted = torch.zeros(b, u, dtype=torch.bool, device=dev)
        self._last_action = torch.zeros(b, self.n_agents, self.n_actions, device=dev)
        self._needs_reset = torch.zeros(b, dtype=torch.bool, device=dev)
        self._env_seed = torch.zeros(b, dtype=torch.long, device=dev)
        self._env_tick = torch.zeros(b, dtype=torch.long, device=dev)
        self._stats = torch.zeros(3, dtype=torch.long, device=dev)  # battles_won, battles_game, timeouts

    # ------------------------------------------------------------------ randomness
    def _uniform_bits(self) -> torch.Tensor:
        """Per-env 32-bit hash of (seed, env step): int64[B]."""
        return _mix32((_mix32(self._env_seed & _M32) + self._env_tick) & _M32)

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def reset(self, env_mask: torch.Tensor | None = None, seed: int | None = None) -> ResetReturn:
        """Start new episodes in the envs selected by ``env_mask`` (all when None); see the base class.

        :param seed: env ``b`` of the mask is reseeded with ``seed + b`` (an integer in ``[0, 2**32 - n_envs]``);
            :attr:`seed_value` becomes ``seed`` only when the mask holds env 0, so that it stays env 0's seed.
        """
        mask = self._check_mask(env_mask)
        if seed is not None:
            seed = batch_seed(seed, self.n_envs)
            if env_mask is None or bool(mask[0]):
                self._seed = seed
            self._env_seed = torch.where(mask, seed + self._env_index, self._env_seed)
            self._env_tick = torch.where(mask, 0, self._env_tick)
        m1, m2 = mask[:, None], mask[:, None, None]
        self.unit_pos = torch.where(m2, self._spawn_pos, self.unit_pos)
        self.unit_health = torch.where(m1, self.unit_health_max, self.unit_health)
        self.unit_shield = torch.where(m1, self.unit_shield_max, self.unit_shield)
        self._energy = torch.where(m1, self._energy_start, self._energy)
        for name in ("_cd", "_since_damage"):
            setattr(self, name, torch.where(m1, 0.0, getattr(self, name)))
        self._target = torch.where(m1, -1, self._target)
        self.unit_attack_target = torch.where(m1, -1, self.unit_attack_target)
        self._walking = torch.where(m1, ~self.unit_is_ally, self._walking)
        goal = self._attack_point.expand(self.n_envs, 2)
        if self._segment is not None:  # 2m_vs_1z: a random point between the two marine spawns
            frac = (_mix32(self._uniform_bits() ^ 0x5BD1E995) / 2**32).unsqueeze(-1)
            goal = self._segment[0] + frac * (self._segment[1] - self._segment[0])
        self._goal = torch.where(m2, goal[:, None, :], self._goal)
        self._prev_hs = torch.where(m1, self.unit_health_max + self.unit_shield_max, self._prev_hs)
        self._dead_counted = torch.where(m1, False, self._dead_counted)
        self._last_action = torch.where(m2, 0.0, self._last_action)
        self.episode_steps = torch.where(mask, 0, self.episode_steps)
        self._needs_reset = torch.where(mask, False, self._needs_reset)
        self._avail = avail = self._avail_actions()
        return self._observations(avail), self._state(), avail.clone()  # the env checks the next actions on _avail

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> StepReturn:
        """Advance every env by one agent step (``step_mul`` game loops); see the base class for shapes.

        The returned tensors are the caller's: ``avail`` and ``terminated`` are copies of the ones the next step
        checks its actions against.
        """
        obs, state, avail, reward, terminated, info = self._advance(self._check_actions(actions))
        return obs, state, avail.clone(), reward, terminated.clone(), info

    def _advance(self, actions: torch.Tensor) -> StepReturn:
        """The body of :meth:`step` after the action check: its three stages, each compiled when ``compile``."""
        restart = self._run_start_step(actions)
        for first in range(0, self.step_mul, _LOOPS_PER_GRAPH):
            self._run_game_loops(restart[first : first + _LOOPS_PER_GRAPH])
        return self._run_finish_step()

    def _game_loops(self, restarts: tuple[torch.Tensor, ...]) -> None:
        """One game loop per weapon cooldown restart of ``restarts`` (see :meth:`_game_loop`)."""
        for restart in restarts:
            self._game_loop(restart)

    def _start_step(self, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Give the agents' orders; return each game loop's weapon cooldown restart (``step_mul`` float[B, U])."""
        self._last_action = torch.nn.functional.one_hot(actions, self.n_actions).float()
        self._apply_orders(actions)
        jitter = ((_mix32(self._uniform_bits()[:, None] ^ self._jitter_keys) & 3) - 1).float()
        restart = (jitter.view(self.n_envs, self.step_mul, self.n_units) + self._cooldown).unbind(1)
        self.unit_attack_target = torch.full_like(self._target, -1)
        if self.params.attack == "ally_group":
            self._aim_at_allies()
        return restart

    def _finish_step(self) -> StepReturn:
        """After the game loops: count the step, then the reward, termination, availability and observations."""
        self._env_tick += 1
        self.episode_steps += 1
        reward, terminated, info = self._reward_and_termination()
        self._needs_reset = terminated
        self._avail = avail = self._avail_actions()
        return self._observations(avail), self._state(), avail, reward, terminated, info

    def get_stats(self) -> dict[str, float]:
        """SMAC's statistics summed over the batch since construction."""
        won, games, timeouts = (float(v) for v in self._stats.tolist())
        return {
            "battles_won": won,
            "battles_game": games,
            "battles_draw": timeouts,
            "win_rate": won / games if games else 0.0,
            "timeouts": timeouts,
            "restarts": 0.0,
        }

    def get_avail_actions(self) -> torch.Tensor:
        """Available actions bool[B, N, A] of the current time step (recomputed from the unit tensors; the next
        :meth:`step` checks its actions against them; the caller gets a copy)."""
        self._avail = self._avail_actions()
        return self._avail.clone()

    def get_obs(self) -> torch.Tensor:
        """Observations float32[B, N, O] of the current time step."""
        return self._observations(self._avail_actions())

    def get_state(self) -> torch.Tensor:
        """Global states float32[B, S] of the current time step."""
        return self._state()

    @property
    def seed_value(self) -> int:
        """The seed of env 0 (env ``b`` uses ``seed_value + b``, unless a :meth:`reset` with an ``env_mask`` and a
        ``seed`` reseeded env ``b`` apart from env 0)."""
        return self._seed

    def render(self, mode: str = "rgb_array", env_index: int = 0) -> np.ndarray | None:
        """An (H, W, 3) uint8 frame of env ``env_index`` drawn by :func:`sb3_marl.envs.render.render_frame`."""
        if mode != "rgb_array":
            raise ValueError(f"Unsupported render mode {mode!r}; the simulator supports 'rgb_array'")
        from sb3_marl.envs.render import render_frame

        return render_frame(self, env_index)  # checks env_index

    # ------------------------------------------------------------------ input checks
    def _check_mask(self, env_mask: torch.Tensor | None) -> torch.Tensor:
        if env_mask is None:
            return torch.ones(self.n_envs, dtype=torch.bool, device=self.device)
        mask = torch.as_tensor(env_mask, device=self.device)
        if mask.shape != (self.n_envs,) or mask.dtype != torch.bool:
            raise ValueError(
                f"env_mask must be a bool tensor of shape ({self.n_envs},), got {mask.dtype} {tuple(mask.shape)}"
            )
        return mask

    def _check_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """The actions int64[B, N] checked (:func:`~sb3_marl.envs.base.check_joint_actions`) against the
        availability of this time step and the envs to reset; outside the compiled stages of :meth:`_advance`."""
        return check_joint_actions(actions, self._avail, stopped=self._needs_reset)

    # ------------------------------------------------------------------ dynamics
    def _apply_orders(self, actions: torch.Tensor) -> None:
        """Turn the agents' actions into SC2 orders (stop, move 2 cells, attack / heal unit); an attack order the
        unit's weapon cannot carry out (``_refused_orders``) is rejected and the unit keeps its previous order."""
        n = self.n_agents
        pos = self.unit_pos[:, :n]
        is_move = (actions >= 2) & (actions < N_ACTIONS_NO_ATTACK)
        direction = self._moves[(actions - 2).clamp(0, 3)]
        goal = torch.where(is_move.unsqueeze(-1), pos + self.move_amount * direction, self._goal[:, :n])
        walking = is_move
        enemy = actions - N_ACTIONS_NO_ATTACK
        # a medivac's "attack j" heals ally j
        target = enemy + (torch.where(self._ally_medivac, 0, n) if self._mmm else n)
        target = torch.where(actions >= N_ACTIONS_NO_ATTACK, target, -1)
        if self._refused_orders is not None:
            agents = torch.arange(n, device=actions.device)
            refused = (enemy >= 0) & self._refused_orders[agents, enemy.clamp(min=0)]
            goal = torch.where(refused.unsqueeze(-1), self._goal[:, :n], goal)
            walking = torch.where(refused, self._walking[:, :n], walking)
            target = torch.where(refused, self._target[:, :n], target)
        self._goal[:, :n], self._walking[:, :n], self._target[:, :n] = goal, walking, target

    def _aim_at_allies(self) -> None:
        """2c_vs_64zg: the enemies' attack order targets the ally group; aim at the centre of the living allies."""
        alive = (self.unit_health[:, : self.n_agents] > 0).float().unsqueeze(-1)
        centre = (self.unit_pos[:, : self.n_agents] * alive).sum(1) / alive.sum(1).clamp(min=1)
        self._goal[:, self.n_agents :] = centre[:, None, :]

    def _game_loop(self, restart: torch.Tensor) -> None:
        """One SC2 game loop (1/16 game-second) for all units of all envs.

        :param restart: weapon cooldown (game loops) of units that fire in this loop, jitter included: float[B, U].
        """
        pos, health = self.unit_pos, self.unit_health
        alive = health > 0
        dist = _pairwise_distance(pos, pos)  # [B, U, U]
        edge = dist - self._radius_sum
        target = self._acquire(alive, edge)
        engaged = target >= 0
        tgt = target.clamp(min=0)
        d_target = edge.gather(2, tgt.unsqueeze(-1)).squeeze(-1)
        in_range = engaged & (d_target <= self._reach)

        self._cd = self._cd.sub(1.0).clamp_(min=0.0)
        fire = in_range & (self._cd <= 0)
        if not self._all_armed:
            fire &= self._has_weapon
        self._cd = torch.where(fire, restart, self._cd)
        struck = self._apply_damage(fire, tgt, pos, edge)
        acted = fire
        if self._has_healer:
            acted = acted | self._heal(in_range, tgt)
        self.unit_attack_target = torch.where(acted, target, self.unit_attack_target)
        if self._has_bane:
            self.unit_health = self.unit_health.masked_fill(fire & self._is_bane, 0.0)

        self._move(alive, engaged, in_range, tgt, d_target, dist, edge)
        self._regenerate(struck)
        dead = self.unit_health <= 0
        self.unit_health = self.unit_health.clamp(min=0.0)
        if self._has_shields:
            self.unit_shield = self.unit_shield.masked_fill(dead, 0.0)
        self._target = target.masked_fill(dead | dead.gather(1, tgt), -1)  # dead units neither have nor are targets

    def _acquire(self, alive: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
        """Targets after this loop's auto-targeting of the attack-moving enemies (allies keep their orders).

        ``self._target`` never names a dead unit and dead units have no target (:meth:`_game_loop` clears both).
        """
        n, target = self.n_agents, self._target
        enemy, edge = target[:, n:], edge[:, n:]  # rows: enemies i, columns: every unit j
        tgt = enemy.clamp(min=0).unsqueeze(-1)
        alive_j = alive.unsqueeze(1)
        # unit j attacks enemy i: j targets i and i is within j's weapon range
        attacked_by = (target.unsqueeze(1) == self._enemy_rows).logical_and_(edge <= self._reach)
        near = edge <= self._enemy_scan
        candidate = (near | attacked_by).logical_and_(self._enemy_can_hit).logical_and_(alive_j)
        if self._has_healer:
            damaged = (self.unit_health < self.unit_health_max).unsqueeze(1)
            candidate |= self._enemy_heals & alive_j & damaged & near
        # non-candidates score >= _NO_CANDIDATE (arithmetic: torch.where is slow on large CPU tensors)
        score = (edge + self._enemy_non_threat).add_(candidate.logical_not_().float().mul_(2 * _NO_CANDIDATE))
        best_score, best = score.min(dim=-1)
        # keep a valid target within reach, unless it cannot shoot back and a threat is available
        current_limit = torch.where(best_score >= _NON_THREAT_PENALTY, _NO_CANDIDATE, _NON_THREAT_PENALTY)
        alive_i = alive[:, n:]
        keep = (
            (score.gather(2, tgt).squeeze(-1) < current_limit)
            .logical_and_(enemy >= 0)
            .logical_and_(edge.gather(2, tgt).squeeze(-1) <= self._enemy_reach)
            .logical_and_(alive_i)
        )
        auto = torch.where(keep, enemy, torch.where((best_score < _NO_CANDIDATE).logical_and_(alive_i), best, -1))
        return torch.cat([target[:, :n], auto], 1)

    def _apply_damage(
        self, fire: torch.Tensor, tgt: torch.Tensor, pos: torch.Tensor, edge: torch.Tensor
    ) -> torch.Tensor:
        """Apply this loop's hits; return which units took damage (bool[B, U])."""
        if not (self._has_line or self._has_bane):
            return self._apply_shot_damage(fire, tgt)
        primary = (tgt.unsqueeze(-1) == self._arange_u).logical_and_(fire.unsqueeze(-1))  # [b, i, j]: i shoots j
        hits = primary * self._n_hits[:, None]
        if self._has_line:
            hits = hits + self._line_splash(fire & self._is_line, tgt, pos)
        if self._has_bane:
            alive = (self.unit_health > 0).unsqueeze(1)
            burst = (edge + self.unit_radius[:, None] <= self._bane_radius) & self._can_hit & alive
            hits = torch.where((fire & self._is_bane).unsqueeze(-1), burst.float(), hits)
        active = [hits > k for k in range(2 if self._double_hits else 1)]
        raw = hits * self._hit_damage
        per_hit = self._hit_damage
        # shield left before attacker i's first hit on j: hits on one target land in unit index order
        shield_before = (self.unit_shield.unsqueeze(1) - (raw.cumsum(1) - raw)).clamp_(min=0.0)
        life_loss = torch.zeros_like(self.unit_health)
        shield_loss = torch.zeros_like(self.unit_shield)
        for k, hit_k in enumerate(active):
            if k:
                shield_before = (shield_before - per_hit).clamp_(min=0.0)
            to_life = torch.where(
                shield_before > 0, (per_hit - shield_before - self._armor).clamp_(min=0.0), self._life_per_hit
            )
            life_loss += torch.where(hit_k, to_life, self._zero).sum(1)
            shield_loss += torch.where(hit_k, torch.minimum(shield_before, per_hit), self._zero).sum(1)
        self.unit_shield = self.unit_shield - shield_loss
        self.unit_health = self.unit_health - life_loss
        return (life_loss + shield_loss) > 0

    def _apply_shot_damage(self, fire: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Damage of single-target shots (no splash), summed per target: shields absorb first, then life armor.

        Exact when the hits landing on one target in one loop have equal damage (one attacker, or attackers of one
        type); for mixed weapons the shield-breaking hit is located as if every hit had the mean damage, which can
        shift the life damage by the target's armor (1).
        """
        row = torch.where(fire, self._shot_row_offset + tgt, len(self._shot_rows) - 1)
        if not self._has_shields:
            life = torch.zeros_like(self.unit_health).scatter_add_(1, tgt, self._shot_rows.view(-1).take(row))
            self.unit_health = self.unit_health - life
            return life > 0
        per_shot = self._shot_rows.index_select(0, row.view(-1)).view(self.n_envs, self.n_units, 3)
        raw, n_hits, no_shield_life = (
            torch.zeros_like(per_shot).scatter_add_(1, tgt.unsqueeze(-1).expand(-1, -1, 3), per_shot).unbind(-1)
        )
        shield = self.unit_shield
        mean_hit = raw / n_hits.clamp(min=1.0)
        absorbed = torch.minimum((shield / mean_hit.clamp(min=1e-6)).floor_(), n_hits)  # hits stopped by the shield
        left = shield - absorbed * mean_hit  # shield met by the next hit
        breaking = (left > 0) & (absorbed < n_hits)
        life = torch.where(breaking, (mean_hit - left - self._armor).clamp(min=0.0), self._zero) + (
            n_hits - absorbed - breaking.float()
        ) * (mean_hit - self._armor).clamp(min=0.5)
        life = torch.where(shield > 0, life, no_shield_life)
        shield_loss = torch.minimum(shield, raw)
        self.unit_shield = shield - shield_loss
        self.unit_health = self.unit_health - life
        return (life + shield_loss) > 0

    def _line_splash(self, firing: torch.Tensor, tgt: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Extra hits of Colossus lances: units crossing a 2.8 x 0.3 line centred on the target, across the shot."""
        tpos = pos.gather(1, tgt.unsqueeze(-1).expand(-1, -1, 2))
        axis = tpos - pos
        axis = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True).clamp(min=1e-6)  # along the shot
        rel = pos.unsqueeze(1) - tpos.unsqueeze(2)  # [b, i, j]: unit j relative to i's target
        along = (rel * axis.unsqueeze(2)).sum(-1).abs()
        across = (rel[..., 0] * axis[..., 1:2] - rel[..., 1] * axis[..., 0:1]).abs()
        radius = self.unit_radius
        inside = (along <= 0.15 + radius) & (across <= 1.4 + radius)
        not_primary = tgt.unsqueeze(-1) != self._arange_u
        alive = (self.unit_health > 0).unsqueeze(1)
        mask = inside & not_primary & self._can_hit & alive & firing.unsqueeze(-1)
        return mask.float() * self._n_hits[:, None]

    def _heal(self, in_range: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Medivac healing of this loop; returns which units healed."""
        missing = (self.unit_health_max - self.unit_health).gather(1, tgt)
        is_heal = in_range & (self._heal_rate > 0) & (self.unit_health.gather(1, tgt) > 0)
        amount = torch.minimum(torch.minimum(self._heal_rate, self._energy * 3.0), missing) * is_heal
        self.unit_health = self.unit_health.scatter_add(1, tgt, amount)
        self._energy = self._energy - amount / 3.0
        return amount > 0

    def _move(
        self,
        alive: torch.Tensor,
        engaged: torch.Tensor,
        in_range: torch.Tensor,
        tgt: torch.Tensor,
        d_target: torch.Tensor,
        dist: torch.Tensor,
        edge: torch.Tensor,
    ) -> None:
        """Walk toward targets, move points and attack points; separate overlaps; respect the pathing grid.

        Overlaps are measured at the start of the loop (``dist`` and ``edge`` distances between units i and j).
        """
        pos = self.unit_pos
        walk = self._walking & ~engaged
        chase = engaged & ~in_range
        tpos = pos.gather(1, tgt.unsqueeze(-1).expand(-1, -1, 2))
        vec = torch.where(chase.unsqueeze(-1), tpos, self._goal) - pos
        length = torch.linalg.vector_norm(vec, dim=-1)
        remaining = torch.where(chase, d_target - self._reach + 0.01, length)
        step = torch.where((chase | walk) & alive, torch.minimum(self._speed, remaining).clamp_(min=0.0), self._zero)
        arrived = walk & (length <= self._speed) & self.unit_is_ally
        self._walking = self._walking & ~arrived
        # push overlapping ground units apart (half the overlap each, all of it against a static unit):
        # sum_j push_ij (p_i - p_j) = p_i sum_j push_ij - (push @ p)_i
        alive_f = alive.float().unsqueeze(-1)
        push = edge.clamp(max=0.0).mul_(self._neg_push_share).div_(dist.clamp(min=1e-6)).mul_(alive_f.mT)
        shove = (pos * push.sum(2, keepdim=True) - torch.bmm(push, pos)).mul_(alive_f)
        heading = vec / length.clamp(min=1e-6).unsqueeze(-1)
        if self._path_dist is not None:
            heading = self._path_heading(pos, pos + vec, heading)
        new = pos + heading * step.unsqueeze(-1) + shove
        self.unit_pos = self._walkable(pos, new)

    def _path_heading(self, pos: torch.Tensor, dest: torch.Tensor, straight: torch.Tensor) -> torch.Tensor:
        """Heading of ground units on maps with obstacles: straight at ``dest`` while one cell ahead on that line
        is closer to it along walkable paths, otherwise the first step of the shortest grid path."""
        cells = MAP_SIZE * MAP_SIZE
        src = _cell_index(pos)
        dst = _cell_index(dest)
        ahead = _cell_index(pos + straight)
        straight_ok = self._path_dist[dst * cells + ahead] < self._path_dist[dst * cells + src]
        step = self._path_next[src * cells + dst].long()
        use_path = (step >= 0) & ~straight_ok & self._ground_target
        return torch.where(use_path.unsqueeze(-1), self._step_dirs[step.clamp(min=0)], straight)

    def _walkable(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """Keep ground units on walkable cells (sliding along a blocked axis) and every unit inside the map."""
        if self._grid_box is not None:  # the walkable area is a rectangle: clamp ground units into it
            return torch.maximum(torch.minimum(new, self._box_high), self._box_low)
        new = new.clamp(0.0, MAP_SIZE - 1e-3)
        slide_x = torch.stack([new[..., 0], old[..., 1]], -1)
        slide_y = torch.stack([old[..., 0], new[..., 1]], -1)
        out = old
        for cand in (slide_y, slide_x, new):  # the last ok candidate wins: new, else slide along x, else along y
            cells = cand.long()
            ok = self._grid_flat[cells[..., 0] * MAP_SIZE + cells[..., 1]] | self._is_air
            out = torch.where(ok.unsqueeze(-1), cand, out)
        return out

    def _regenerate(self, struck: torch.Tensor) -> None:
        if not (self._has_shields or self._has_regen or self._has_healer):
            return
        alive = self.unit_health > 0
        if self._has_shields:
            self._since_damage = torch.where(struck, 0.0, self._since_damage + 1.0)
            regen = alive & (self._since_damage >= _SHIELD_REGEN_DELAY)
            self.unit_shield = torch.where(
                regen, torch.minimum(self.unit_shield + _SHIELD_REGEN_RATE, self.unit_shield_max), self.unit_shield
            )
        if self._has_regen:
            self.unit_health = torch.where(
                alive, torch.minimum(self.unit_health + self._life_regen, self.unit_health_max), self.unit_health
            )
        if self._has_healer:
            self._energy = torch.minimum(self._energy + self._energy_regen, self._energy_max)

    # ------------------------------------------------------------------ reward, termination
    def _reward_and_termination(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        n, cfg = self.n_agents, self.reward_cfg
        hs = self.unit_health + self.unit_shield
        dead = self.unit_health <= 0
        newly_dead = dead & ~self._dead_counted
        delta = torch.where(newly_dead, self._prev_hs, self._prev_hs - hs) * ~self._dead_counted
        deaths = newly_dead.float()
        self._dead_counted = dead
        self._prev_hs = hs
        delta_enemy = delta[:, n:].sum(1) + cfg["reward_death_value"] * deaths[:, n:].sum(1)
        if cfg["reward_only_positive"]:
            reward = delta_enemy.abs()
        else:
            neg = cfg["reward_negative_scale"]
            ally_loss = neg * delta[:, :n].sum(1) + cfg["reward_death_value"] * neg * deaths[:, :n].sum(1)
            reward = delta_enemy - ally_loss

        alive = ~dead
        n_ally, n_enemy = alive[:, :n].sum(1), alive[:, n:].sum(1)
        lost = (n_ally == 0) & (n_enemy > 0)
        won = (n_ally > 0) & (n_enemy == 0)
        if self._mmm:
            lost = lost | ((alive[:, :n] & ~self._ally_medivac).sum(1) == 0)
            won = won | ((n_enemy == 1) & (alive[:, n:] & self._enemy_medivac).any(1))
        won = won & ~lost
        draw = (n_ally == 0) & (n_enemy == 0) & ~lost & ~won
        ended = lost | won | draw
        timeout = ~ended & (self.episode_steps >= self.episode_limit)
        terminated = ended | timeout
        if cfg["reward_sparse"]:
            reward = won.float() - lost.float()
        else:
            reward = reward + cfg["reward_win"] * won + cfg["reward_defeat"] * lost
        if cfg["reward_scale"]:
            reward = reward / (self.max_reward / cfg["reward_scale_rate"])
        self._stats += torch.stack([won.sum(), terminated.sum(), timeout.sum()])
        info = {
            "battle_won": won,
            "episode_limit": timeout,
            "dead_allies": dead[:, :n].sum(1),
            "dead_enemies": dead[:, n:].sum(1),
        }
        return reward.float(), terminated, info

    # ------------------------------------------------------------------ observations
    def _cells_ok(self, cells: torch.Tensor, table: torch.Tensor, outside: float | bool) -> torch.Tensor:
        """``table`` (flattened [32, 32]) at integer cells [..., 2]; ``outside`` where a cell leaves the map."""
        inside = ((cells >= 0) & (cells < MAP_SIZE)).all(-1)
        flat = cells.clamp(0, MAP_SIZE - 1)
        values = table[flat[..., 0] * MAP_SIZE + flat[..., 1]]
        return torch.where(inside, values, torch.as_tensor(outside, dtype=values.dtype, device=values.device))

    def _avail_actions(self) -> torch.Tensor:
        """SMAC availability rules (§5.1): bool[B, N, A]."""
        n, b = self.n_agents, self.n_envs
        pos = self.unit_pos[:, :n]
        alive = self.unit_health[:, :n] > 0
        probe = (pos.unsqueeze(2) + self._moves * (self.move_amount / 2)).trunc().long()  # SMAC's int(): -0.5 -> 0
        can_move = self._cells_ok(probe, self.pathing_grid.flatten(), False)
        shoot = self._shootable(pos)
        noop_stop = torch.stack([~alive, alive], -1)
        avail = torch.cat([noop_stop, can_move & alive.unsqueeze(-1), shoot & alive.unsqueeze(-1)], -1)
        return avail.view(b, n, self.n_actions)

    def _shootable(self, pos: torch.Tensor) -> torch.Tensor:
        """Attack (or, for MMM medivacs, heal) availability bool[B, N, E]: target alive and centre distance <= 6."""
        n, e = self.n_agents, self.n_enemies
        enemy_ok = (self.unit_health[:, n:] > 0).unsqueeze(1)
        dist_e = _pairwise_distance(pos, self.unit_pos[:, n:])
        shoot = enemy_ok & (dist_e <= SHOOT_RANGE)
        if self._mmm:
            m = min(n, e)
            ally_ok = (self.unit_health[:, :m] > 0) & ~self._ally_medivac[:m]
            dist_a = _pairwise_distance(pos, self.unit_pos[:, :m])
            heal = torch.zeros_like(shoot)
            heal[..., :m] = ally_ok.unsqueeze(1) & (dist_a <= SHOOT_RANGE)
            shoot = torch.where(self._ally_medivac[:, None], heal, shoot)
        return shoot

    def _unit_table(self, ally: bool) -> torch.Tensor:
        """Health / shield fractions and type one-hot of allies or enemies: float[B, n, f]."""
        n = self.n_agents
        sl = slice(0, n) if ally else slice(n, None)
        parts = [(self.unit_health[:, sl] / self.unit_health_max[sl]).unsqueeze(-1)]
        if self.layout.shield_bits_ally if ally else self.layout.shield_bits_enemy:
            parts.append((self.unit_shield[:, sl] / self.unit_shield_max[sl].clamp(min=1e-6)).unsqueeze(-1))
        type_onehot = self._ally_type if ally else self._enemy_type
        parts.append(type_onehot.expand(self.n_envs, -1, -1))
        return torch.cat(parts, -1)

    def _observations(self, avail: torch.Tensor) -> torch.Tensor:
        """SMAC observations float32[B, N, O] (layout in :mod:`sb3_marl.envs.layout`)."""
        n, b, flags, layout = self.n_agents, self.n_envs, self.flags, self.layout
        pos = self.unit_pos
        alive_u = self.unit_health > 0
        agent_alive = alive_u[:, :n]
        rel = pos.unsqueeze(1) - pos[:, :n].unsqueeze(2)  # [B, N, U, 2]
        dist = torch.linalg.vector_norm(rel, dim=-1)
        visible = (dist < SIGHT_RANGE) & alive_u.unsqueeze(1)
        geo = torch.cat([dist.unsqueeze(-1), rel], -1) / SIGHT_RANGE  # d/9, dx/9, dy/9

        move = [avail[..., 2:N_ACTIONS_NO_ATTACK].float()]
        cells = pos[:, :n].floor().long()
        if flags.obs_pathing_grid:
            around = cells.unsqueeze(2) + self._pathing_offsets
            move.append(self._cells_ok(around, self._grid_flat.float(), 1.0))
        if flags.obs_terrain_height:
            around = torch.cat([cells.unsqueeze(2) + self._pathing_offsets, cells.unsqueeze(2)], 2)
            move.append(self._cells_ok(around, self._height_flat, 1.0))
        enemy_parts = [avail[..., N_ACTIONS_NO_ATTACK:].float().unsqueeze(-1), geo[:, :, n:]]
        if flags.obs_all_health:
            enemy_parts.append(self._unit_table(False).unsqueeze(1).expand(-1, n, -1, -1))
        elif self.params.unit_type_bits:
            enemy_parts.append(self._enemy_type.expand(b, n, -1, -1))
        enemy = torch.cat(enemy_parts, -1) * visible[:, :, n:].unsqueeze(-1)

        ally_all = self._unit_table(True)
        ally_parts = [torch.ones(b, n, n, 1, device=self.device), geo[:, :, :n]]
        if flags.obs_all_health:
            ally_parts.append(ally_all.unsqueeze(1).expand(-1, n, -1, -1))
        elif self.params.unit_type_bits:
            ally_parts.append(self._ally_type.expand(b, n, -1, -1))
        if flags.obs_last_action:
            ally_parts.append(self._last_action.unsqueeze(1).expand(-1, n, -1, -1))
        ally = torch.cat(ally_parts, -1) * visible[:, :, :n].unsqueeze(-1)
        ally = ally[:, torch.arange(n, device=self.device)[:, None], self._others]

        own = [ally_all if layout.own_health else self._ally_type.expand(b, -1, -1)]
        if flags.obs_timestep_number:
            own.append(torch.zeros(b, n, 1, device=self.device))
        obs = torch.cat(move + [enemy.flatten(2), ally.flatten(2)] + own, -1) * agent_alive.unsqueeze(-1)
        if flags.obs_timestep_number:
            t = (self.episode_steps.float() / self.episode_limit).view(b, 1, 1).expand(b, n, 1)
            obs = torch.cat([obs, t], -1)
        return obs

    def _state(self) -> torch.Tensor:
        """SMAC global states float32[B, S]."""
        if self.flags.obs_instead_of_state:
            return self._observations(self._avail_actions()).reshape(self.n_envs, -1)
        return torch.cat([part.flatten(1) for part in self.state_dict().values()], -1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """SMAC's ``get_state_dict()`` for every env: ``allies`` [B, N, nf_al], ``enemies`` [B, E, nf_en], and
        ``last_action`` [B, N, A] / ``timestep`` [B, 1] when the corresponding state flags are set (new tensors:
        ``last_action`` is a copy of the one the next observations are built from)."""
        n, flags = self.n_agents, self.flags
        alive = self.unit_health > 0
        centred = (self.unit_pos - MAP_SIZE / 2) / MAP_SIZE
        cd = torch.where(self._cd_is_energy, self._energy[:, :n], self._cd[:, :n]) / self._max_cd
        ally_table = self._unit_table(True)
        enemy_table = self._unit_table(False)
        ally = torch.cat([ally_table[..., :1], cd.unsqueeze(-1), centred[:, :n], ally_table[..., 1:]], -1)
        enemy = torch.cat([enemy_table[..., :1], centred[:, n:], enemy_table[..., 1:]], -1)
        parts = {"allies": ally * alive[:, :n].unsqueeze(-1), "enemies": enemy * alive[:, n:].unsqueeze(-1)}
        if flags.state_last_action:
            parts["last_action"] = self._last_action.clone()
        if flags.state_timestep_number:
            parts["timestep"] = (self.episode_steps.float() / self.episode_limit).unsqueeze(-1)
        return parts
