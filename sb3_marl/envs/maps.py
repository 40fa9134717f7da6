"""Registry of the 23 SMAC maps: sizes, limits, races, compositions, spawn points, enemy orders, walkable grids.

Values come from ``smac/env/starcraft2/maps/smac_maps.py`` and the decoded ``.SC2Map`` files (``smac-spec.md`` §6
and Appendix A).  Every map is 32 x 32 cells.

Approximations:

* SC2 places the units of a group "in the nearest free spots" around the group's single spawn point; the exact
  engine placement is unknown, so :func:`spawn_layout` packs each group greedily around its point (closest free,
  walkable, non-overlapping spot on a 1/8-cell lattice, in creation order).  Positions are the same every episode.
* Walkable grids are the map cell flags (``.`` walkable); ``#`` (painted unwalkable) and the few cells with another
  flag value (``o``, column x = 31 below y = 8) are unwalkable.  Terrain height is not available:
  :func:`terrain_height` returns 0.5 on walkable cells and 1 elsewhere.
* Enemy order on 2c_vs_64zg ("attack the ally unit group") is modelled as an attack-move toward the centre of the
  living allies, re-aimed every step.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

import numpy as np

from sb3_marl.envs.units import UnitStats, unit_stats

#: Side of every SMAC map, in cells.
MAP_SIZE = 32

_GRIDS: dict[str, tuple[str, ...]] = {
    "standard": (  # the 13 marine / MMM / stalker-zealot maps
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "###############################o",
        "###############################o",
        "###############################o",
        "###############################o",
        "###############################o",
        "###############################o",
        "###############################o",
        "###############################o",
    ),
    "2c_vs_64zg": (  # 2c_vs_64zg
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "########................########",
        "########................########",
        "##............................##",
        "##............................##",
        "................................",
        "................................",
        "....########################....",
        "....########################....",
        "................................",
        "................................",
        "##............................##",
        "##............................##",
        "####........................####",
        "####........................####",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
    ),
    "octagon": (  # 2m_vs_1z, bane_vs_bane
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "##########............##########",
        "##########............##########",
        "########................########",
        "########................########",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "######....................######",
        "########................########",
        "########................########",
        "##########............##########",
        "##########............##########",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
        "################################",
    ),
    "2s_vs_1sc": (  # 2s_vs_1sc
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "..........########..............",
        "..........########..............",
        "........####....####............",
        "........####....####............",
        "......####........####..........",
        "......####........####..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......##............##..........",
        "......################..........",
        "......################..........",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
    ),
    "open": (  # 3s_vs_3z, 3s_vs_4z, 3s_vs_5z
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "...............................o",
        "...............................o",
        "...............................o",
        "...............................o",
        "...............................o",
        "...............................o",
        "...............................o",
        "...............................o",
    ),
    "6h_vs_8z": (  # 6h_vs_8z
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "........##############..........",
        "........##############..........",
        "......####..........####........",
        "......####..........####........",
        "......##..............##........",
        "......##..............##........",
        "......##..............##........",
        "......##..............##........",
        "......##..............##........",
        "......##..............##........",
        "......##..............##........",
        "......##..............##........",
        "......####..........####........",
        "......####..........####........",
        "........##############..........",
        "........##############..........",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
        "................................",
    ),
    "corridor": (  # corridor
        "################################",
        "################################",
        "####################..........##",
        "####################..........##",
        "##################............##",
        "##################............##",
        "################..............##",
        "################..............##",
        "##############................##",
        "##############................##",
        "############..................##",
        "############..................##",
        "############..................##",
        "############..................##",
        "##############..............####",
        "##############..............####",
        "##############............######",
        "##############............######",
        "############..##################",
        "############..##################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "################################",
        "################################",
    ),
    "so_many_baneling": (  # so_many_baneling
        "################################",
        "################################",
        "######################........##",
        "######################........##",
        "####################..........##",
        "####################..........##",
        "####################..........##",
        "####################..........##",
        "################..............##",
        "################..............##",
        "##############............######",
        "##############............######",
        "##############............######",
        "##############............######",
        "##########..........############",
        "##########..........############",
        "########............############",
        "########............############",
        "########............############",
        "########............############",
        "####............################",
        "####............################",
        "####............################",
        "####............################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##..........####################",
        "##......########################",
        "##......########################",
        "################################",
        "################################",
    ),
}

Point = tuple[float, float]


@dataclass(frozen=True)
class SpawnGroup:
    """``count`` units of type ``unit`` created together at ``point`` (x, y) by the map script."""

    unit: str
    count: int
    point: Point


@dataclass(frozen=True)
class MapParams:
    """One entry of SMAC's ``map_param_registry`` plus the map-file facts the simulator needs.

    :param name: map name (``"3m"``).
    :param n_agents: number of RL-controlled allies.
    :param n_enemies: number of enemy units.
    :param limit: episode limit in agent steps.
    :param a_race: ally race (``"T"``, ``"P"``, ``"Z"``).
    :param b_race: enemy race.
    :param unit_type_bits: length of the unit-type one-hot in obs and state.
    :param map_type: SMAC's map type (decides the type one-hot order and special rules such as MMM's medivacs).
    :param allies: ally spawn groups in the map script's creation order.
    :param enemies: enemy spawn groups in creation order (which is also the enemy index order).
    :param attack: enemy order: ``"point"`` (attack-move to ``attack_points[0]``), ``"segment"`` (attack-move to a
        uniformly random point between the two ``attack_points``, drawn per episode), ``"ally_group"`` (toward the
        living allies) or ``"none"`` (static enemies).
    :param attack_points: the points used by ``attack``.
    :param grid: key of the walkable grid.
    """

    name: str
    n_agents: int
    n_enemies: int
    limit: int
    a_race: str
    b_race: str
    unit_type_bits: int
    map_type: str
    allies: tuple[SpawnGroup, ...]
    enemies: tuple[SpawnGroup, ...]
    attack: str = "point"
    attack_points: tuple[Point, ...] = ((9.0, 16.0),)
    grid: str = "standard"

    @property
    def ally_type_order(self) -> tuple[str, ...]:
        """Ally unit types in SMAC's id order (agents are sorted by this order, then x, then y)."""
        return _ALLY_TYPE_ORDER.get(self.map_type, tuple(dict.fromkeys(g.unit for g in self.allies)))

    @property
    def enemy_type_order(self) -> tuple[str, ...]:
        """Enemy unit types in the order of SMAC's enemy type one-hot (zealot first on stalker/zealot maps)."""
        return _ENEMY_TYPE_ORDER.get(self.map_type, self.ally_type_order)


_ALLY_TYPE_ORDER = {
    "stalkers_and_zealots": ("stalker", "zealot"),
    "colossi_stalkers_zealots": ("colossus", "stalker", "zealot"),
    "MMM": ("marauder", "marine", "medivac"),
    "bane": ("baneling", "zergling"),
}
_ENEMY_TYPE_ORDER = {"stalkers_and_zealots": ("zealot", "stalker")}

_ALLY_SPAWN: Point = (9.0, 16.0)
_ENEMY_SPAWN: Point = (23.0, 16.0)


def _standard(
    name: str, limit: int, race: str, bits: int, map_type: str, allies: dict[str, int], enemies: dict[str, int]
) -> MapParams:
    """A map of the standard layout: allies at (9, 16), enemies at (23, 16) attack-moving to (9, 16)."""
    return MapParams(
        name,
        sum(allies.values()),
        sum(enemies.values()),
        limit,
        race,
        race,
        bits,
        map_type,
        tuple(SpawnGroup(u, n, _ALLY_SPAWN) for u, n in allies.items()),
        tuple(SpawnGroup(u, n, _ENEMY_SPAWN) for u, n in enemies.items()),
    )


def _marines(n_allies: int, n_enemies: int, limit: int) -> MapParams:
    name = f"{n_allies}m" if n_allies == n_enemies else f"{n_allies}m_vs_{n_enemies}m"
    return _standard(name, limit, "T", 0, "marines", {"marine": n_allies}, {"marine": n_enemies})


def _stalkers_zealots(name: str, limit: int, allies: dict[str, int], enemies: dict[str, int]) -> MapParams:
    return _standard(name, limit, "P", 2, "stalkers_and_zealots", allies, enemies)


def _stalkers_vs_zealots(n_zealots: int, limit: int) -> MapParams:
    params = _standard(f"3s_vs_{n_zealots}z", limit, "P", 0, "stalkers", {"stalker": 3}, {"zealot": n_zealots})
    return MapParams(**{**params.__dict__, "grid": "open"})


_CORNER_ATTACK: tuple[Point, ...] = ((4.47, 4.3298),)
_MAPS: tuple[MapParams, ...] = (
    _marines(3, 3, 60),
    _marines(8, 8, 120),
    _marines(25, 25, 150),
    _marines(5, 6, 70),
    _marines(8, 9, 120),
    _marines(10, 11, 150),
    _marines(27, 30, 180),
    _standard(
        "MMM",
        150,
        "T",
        3,
        "MMM",
        {"marine": 7, "marauder": 2, "medivac": 1},
        {"marine": 7, "marauder": 2, "medivac": 1},
    ),
    _standard(
        "MMM2",
        180,
        "T",
        3,
        "MMM",
        {"marine": 7, "marauder": 2, "medivac": 1},
        {"marine": 8, "marauder": 3, "medivac": 1},
    ),
    _stalkers_zealots("2s3z", 120, {"stalker": 2, "zealot": 3}, {"stalker": 2, "zealot": 3}),
    _stalkers_zealots("3s5z", 150, {"stalker": 3, "zealot": 5}, {"stalker": 3, "zealot": 5}),
    _stalkers_zealots("3s5z_vs_3s6z", 170, {"stalker": 3, "zealot": 5}, {"stalker": 3, "zealot": 6}),
    _stalkers_vs_zealots(3, 150),
    _stalkers_vs_zealots(4, 200),
    _stalkers_vs_zealots(5, 250),
    _standard(
        "1c3s5z",
        180,
        "P",
        3,
        "colossi_stalkers_zealots",
        {"colossus": 1, "stalker": 3, "zealot": 5},
        {"colossus": 1, "stalker": 3, "zealot": 5},
    ),
    MapParams(
        "2m_vs_1z",
        2,
        1,
        150,
        "T",
        "P",
        0,
        "marines",
        (SpawnGroup("marine", 1, (13.0, 12.0)), SpawnGroup("marine", 1, (19.0, 12.0))),
        (SpawnGroup("zealot", 1, (16.0, 19.0)),),
        attack="segment",
        attack_points=((13.0, 12.0), (19.0, 12.0)),
        grid="octagon",
    ),
    MapParams(
        "corridor",
        6,
        24,
        400,
        "P",
        "Z",
        0,
        "zealots",
        (SpawnGroup("zealot", 6, (19.0397, 19.1198)),),
        (SpawnGroup("zergling", 24, (27.91, 28.24)),),
        attack_points=_CORNER_ATTACK,
        grid="corridor",
    ),
    MapParams(
        "6h_vs_8z",
        6,
        8,
        150,
        "Z",
        "P",
        0,
        "hydralisks",
        (SpawnGroup("hydralisk", 6, (14.5998, 9.49)),),
        (SpawnGroup("zealot", 8, (14.41, 16.7597)),),
        attack_points=((14.5998, 9.49),),
        grid="6h_vs_8z",
    ),
    MapParams(
        "2s_vs_1sc",
        2,
        1,
        300,
        "P",
        "Z",
        0,
        "stalkers",
        (SpawnGroup("stalker", 1, (11.1208, 10.338)), SpawnGroup("stalker", 1, (16.976, 10.3662))),
        (SpawnGroup("spine_crawler", 1, (13.92, 20.0397)),),
        attack="none",
        attack_points=(),
        grid="2s_vs_1sc",
    ),
    MapParams(
        "so_many_baneling",
        7,
        32,
        100,
        "P",
        "Z",
        0,
        "zealots",
        (SpawnGroup("zealot", 7, (11.469, 12.0234)),),
        (SpawnGroup("baneling", 32, (27.91, 28.24)),),
        attack_points=_CORNER_ATTACK,
        grid="so_many_baneling",
    ),
    MapParams(
        "bane_vs_bane",
        24,
        24,
        200,
        "Z",
        "Z",
        2,
        "bane",
        (SpawnGroup("zergling", 20, (16.0, 11.0)), SpawnGroup("baneling", 4, (16.0, 8.0))),
        (SpawnGroup("zergling", 20, (16.0, 21.0)), SpawnGroup("baneling", 4, (16.0, 24.0))),
        attack_points=((16.0, 8.0),),
        grid="octagon",
    ),
    MapParams(
        "2c_vs_64zg",
        2,
        64,
        400,
        "P",
        "Z",
        0,
        "colossus",
        (SpawnGroup("colossus", 1, (16.0, 16.0)), SpawnGroup("colossus", 1, (16.0, 16.0))),
        (SpawnGroup("zergling", 64, (16.0, 9.0)),),
        attack="ally_group",
        attack_points=(),
        grid="2c_vs_64zg",
    ),
)

_REGISTRY: dict[str, MapParams] = {m.name: m for m in _MAPS}
#: Names of the 23 SMAC maps.
MAP_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_map_params(map_name: str) -> MapParams:
    """Parameters of SMAC map ``map_name``; raises ``ValueError`` naming the closest known map and listing them all
    otherwise (a ``TypeError`` for a name that is no string)."""
    if not isinstance(map_name, str):
        raise TypeError(f"map_name={map_name!r} must be a SMAC map name (a str such as '3m')")
    if map_name not in _REGISTRY:
        by_case = {name.lower(): name for name in MAP_NAMES}
        close = by_case.get(map_name.lower()) or next(iter(difflib.get_close_matches(map_name, MAP_NAMES, n=1)), None)
        hint = f" Did you mean {close!r}?" if close else ""
        raise ValueError(f"Unknown SMAC map {map_name!r}.{hint} Known maps: {', '.join(MAP_NAMES)}")
    return _REGISTRY[map_name]


@functools.cache
def pathing_grid(grid: str) -> np.ndarray:
    """Walkable cells of grid ``grid`` as bool[32, 32] indexed ``[x, y]`` (SMAC's ``pathing_grid`` convention)."""
    rows = _GRIDS[grid]  # row 0 of the ASCII art is y = 31
    walkable = np.array([[c == "." for c in row] for row in rows], dtype=bool)
    grid_xy = walkable[::-1].T.copy()
    grid_xy.setflags(write=False)
    return grid_xy


def terrain_height(grid: str) -> np.ndarray:
    """Approximate terrain height in [0, 1] as float32[32, 32] indexed ``[x, y]`` (see the module docstring)."""
    return np.where(pathing_grid(grid), 0.5, 1.0).astype(np.float32)


@dataclass(frozen=True)
class SpawnLayout:
    """Start positions and types of all units: allies in SMAC agent order, then enemies in creation order."""

    ally_units: tuple[str, ...]
    enemy_units: tuple[str, ...]
    ally_positions: np.ndarray  # float64[n_agents, 2]
    enemy_positions: np.ndarray  # float64[n_enemies, 2]


def _pack_group(
    stats: UnitStats, count: int, point: Point, walkable: np.ndarray, placed: list[tuple[float, float, float, bool]]
) -> list[tuple[float, float]]:
    """Greedy placement of ``count`` units in the closest free spots around ``point`` (appends to ``placed``)."""
    step = 0.125
    offsets = np.arange(-64, 65) * step
    cand = np.stack(np.meshgrid(point[0] + offsets, point[1] + offsets, indexing="ij"), -1).reshape(-1, 2)
    order = np.lexsort((cand[:, 1], cand[:, 0], np.round(np.hypot(*(cand - point).T), 6)))
    cand = cand[order]
    r = stats.radius
    inside = np.all((cand >= r) & (cand <= MAP_SIZE - r), axis=1)
    cells = np.clip(cand.astype(int), 0, MAP_SIZE - 1)
    ok = inside & (stats.is_air | walkable[cells[:, 0], cells[:, 1]])
    cand = cand[ok]
    out = []
    for _ in range(count):
        free = np.ones(len(cand), dtype=bool)
        for x, y, radius, air in placed:
            if air == stats.is_air:
                free &= np.hypot(cand[:, 0] - x, cand[:, 1] - y) >= r + radius - 1e-9
        x, y = cand[np.argmax(free)]
        placed.append((float(x), float(y), r, stats.is_air))
        out.append((float(x), float(y)))
    return out


@functools.cache
def spawn_layout(map_name: str) -> SpawnLayout:
    """Deterministic start positions of map ``map_name`` (see the module docstring for the packing rule)."""
    params = get_map_params(map_name)
    walkable = pathing_grid(params.grid)
    sides = []
    for groups, ally in ((params.allies, True), (params.enemies, False)):
        placed: list[tuple[float, float, float, bool]] = []
        units = [
            (g.unit, pos)
            for g in groups
            for pos in _pack_group(unit_stats(g.unit, ally), g.count, g.point, walkable, placed)
        ]
        sides.append(units)
    rank = {u: i for i, u in enumerate(params.ally_type_order)}
    allies = sorted(sides[0], key=lambda item: (rank[item[0]], item[1][0], item[1][1]))
    return SpawnLayout(
        ally_units=tuple(u for u, _ in allies),
        enemy_units=tuple(u for u, _ in sides[1]),
        ally_positions=np.array([p for _, p in allies], dtype=np.float64).reshape(-1, 2),
        enemy_positions=np.array([p for _, p in sides[1]], dtype=np.float64).reshape(-1, 2),
    )


#: Grids whose walkable area is not convex: ground units need paths around the obstacles there.
NON_CONVEX_GRIDS = frozenset({"2c_vs_64zg", "corridor", "so_many_baneling", "6h_vs_8z", "2s_vs_1sc"})
#: The 8 grid steps (dx, dy) used by :func:`path_tables`.
GRID_STEPS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]])


@functools.cache
def path_tables(grid: str) -> tuple[np.ndarray, np.ndarray]:
    """Shortest walking paths on grid ``grid`` between all pairs of cells (8-connected, no corner cutting).

    :return: ``(distance, next_step)``: ``distance[dst, src]`` float32[1024, 1024] is the path length in cells
        from cell ``src`` to cell ``dst`` (cell index ``x * 32 + y``; inf when unreachable), and
        ``next_step[src, dst]`` int8[1024, 1024] is the index into :data:`GRID_STEPS` of the first step (-1 when
        ``src == dst``, unreachable, or unwalkable).
    """
    walkable = pathing_grid(grid)
    size = MAP_SIZE
    padded = np.zeros((size + 2, size + 2), dtype=bool)
    padded[1:-1, 1:-1] = walkable

    def shifted(a: np.ndarray, dx: int, dy: int, fill: float | bool) -> np.ndarray:
        """``out[..., x, y] = a[..., x + dx, y + dy]`` (``fill`` outside the map)."""
        out = np.full_like(a, fill)
        xs, xd = slice(max(dx, 0), size + min(dx, 0)), slice(max(-dx, 0), size + min(-dx, 0))
        ys, yd = slice(max(dy, 0), size + min(dy, 0)), slice(max(-dy, 0), size + min(-dy, 0))
        out[..., xd, yd] = a[..., xs, ys]
        return out

    # a step is allowed between walkable cells; diagonal steps also need both orthogonal cells walkable
    allowed = []
    for dx, dy in GRID_STEPS:
        ok = walkable & shifted(walkable, dx, dy, False)
        if dx and dy:
            ok &= shifted(walkable, dx, 0, False) & shifted(walkable, 0, dy, False)
        allowed.append(ok)
    costs = np.hypot(GRID_STEPS[:, 0], GRID_STEPS[:, 1]).astype(np.float32)
    dist = np.full((size * size, size, size), np.inf, dtype=np.float32)
    cells = np.arange(size * size)
    dist[cells, cells // size, cells % size] = 0.0
    dist[:, ~walkable] = np.inf
    while True:  # Bellman-Ford sweeps over all destinations at once
        best = dist
        for (dx, dy), ok, cost in zip(GRID_STEPS, allowed, costs):
            best = np.minimum(best, np.where(ok, shifted(dist, dx, dy, np.inf) + cost, np.inf))
        if np.array_equal(best, dist):
            break
        dist = best
    options = np.stack(
        [
            np.where(ok, shifted(dist, dx, dy, np.inf) + cost, np.inf)
            for (dx, dy), ok, cost in zip(GRID_STEPS, allowed, costs)
        ]
    )
    next_step = np.argmin(options, axis=0).astype(np.int8)  # [dst, x, y]
    stuck = ~np.isfinite(options.min(axis=0)) | (dist == 0)
    next_step[stuck] = -1
    return dist.reshape(size * size, size * size), next_step.reshape(size * size, size * size).T.copy()
