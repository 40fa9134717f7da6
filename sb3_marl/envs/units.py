"""StarCraft II unit statistics used by the built-in SMAC simulator.

All numbers are the stock SC2 values (API dump of patch 5.0.3, see ``smac-spec.md`` §7) in **Normal** game
speed units: distances in map cells, speeds in cells per game-second, times in game-seconds; one game-second is
16 game loops.  SMAC's allies are the ``*_RL`` copies of these units, which differ only where
:func:`unit_stats` overrides them (Hydralisk_RL has 80 life, Medivac_RL moves at 2.75).

Approximations (documented, not verifiable without the SC2 binary):

* weapons hit instantly (no damage point, no projectile travel time) and units turn instantly;
* the Zealot_RL radius is assumed 0.5 like the stock Zealot;
* medivac healing is continuous at 9 life per game-second for 1 energy per 3 life, with no 5-energy threshold;
* the Colossus "Thermal Lances" line splash is a 2.8 x 0.3 rectangle centred on the target, perpendicular to the
  attack line (the SMAClite reading of the SC2 effect);
* the baneling splash hits every opposing ground unit whose circle reaches within 2.2 of the baneling's centre.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: SC2 game loops per Normal-speed game-second.
LOOPS_PER_SECOND = 16.0


@dataclass(frozen=True)
class UnitStats:
    """Static description of one SC2 unit type.

    :param name: lower-case unit name (``"marine"``, ``"stalker"``, ...).
    :param sc2_type_id: SC2's default unit-type id (used by SMAC's enemy type one-hot).
    :param race: ``"T"``, ``"P"`` or ``"Z"``.
    :param health: maximum life.
    :param shield: maximum shield (0 for non-Protoss units).
    :param armor: life armor (shield armor is 0: no upgrades in SMAC).
    :param radius: collision radius in cells.
    :param speed: movement speed in cells per Normal game-second (0 for static structures).
    :param attributes: SC2 attributes (``"light"``, ``"armored"``, ``"biological"``, ...).
    :param is_air: flying unit (ignores the pathing grid and ground collisions).
    :param damage: damage per hit before bonus and armor (0: no weapon).
    :param attacks: hits per shot (Zealot and Colossus: 2).
    :param bonus: extra damage per hit against units with ``bonus_attribute``.
    :param bonus_attribute: the attribute the bonus applies to.
    :param cooldown: weapon period in Normal game-seconds.
    :param weapon_range: weapon range in cells, edge to edge.
    :param hits_ground: the weapon can target ground units.
    :param hits_air: the weapon can target air units.
    :param splash: ``""`` (none), ``"line"`` (Colossus) or ``"baneling"`` (suicide area burst).
    :param splash_radius: baneling burst radius in cells.
    :param heal_rate: life healed per Normal game-second (medivac), 0 otherwise.
    :param heal_range: heal range in cells, edge to edge.
    :param energy_max: maximum energy (medivac), 0 otherwise.
    :param energy_start: energy at spawn.
    :param energy_regen: energy per Normal game-second.
    :param life_regen: life regenerated per Normal game-second (Zerg).
    :param smac_max_cooldown: SMAC's normalisation constant of the state's cooldown feature (game loops; energy
        for the medivac), ``unit_max_cooldown`` in ``starcraft2.py``.
    """

    name: str
    sc2_type_id: int
    race: str
    health: float
    shield: float
    armor: float
    radius: float
    speed: float
    attributes: frozenset[str]
    is_air: bool = False
    damage: float = 0.0
    attacks: int = 1
    bonus: float = 0.0
    bonus_attribute: str = ""
    cooldown: float = 1.0
    weapon_range: float = 0.0
    hits_ground: bool = True
    hits_air: bool = False
    splash: str = ""
    splash_radius: float = 0.0
    heal_rate: float = 0.0
    heal_range: float = 0.0
    energy_max: float = 0.0
    energy_start: float = 0.0
    energy_regen: float = 0.0
    life_regen: float = 0.0
    smac_max_cooldown: float = 15.0

    @property
    def has_weapon(self) -> bool:
        """Whether the unit can deal damage."""
        return self.damage > 0

    @property
    def is_healer(self) -> bool:
        """Whether the unit heals instead of attacking."""
        return self.heal_rate > 0

    @property
    def cooldown_loops(self) -> float:
        """Weapon period in game loops."""
        return self.cooldown * LOOPS_PER_SECOND

    def hit_damage(self, target: UnitStats) -> float:
        """Damage of one hit on ``target`` before armor and shields (bonus included, as in SC2)."""
        bonus = self.bonus if self.bonus_attribute in target.attributes else 0.0
        return self.damage + bonus

    def can_target(self, target: UnitStats) -> bool:
        """Whether this unit's weapon (or heal) can be aimed at ``target`` at all."""
        if not (self.has_weapon or self.is_healer):
            return False
        return self.hits_air if target.is_air else self.hits_ground


def life_damage(hit: float, armor: float) -> float:
    """Life lost to one hit of ``hit`` damage (bonus included) on a unit with ``armor``: at least 0.5 in SC2."""
    return max(hit - armor, 0.5)


_ZERG_REGEN = 0.2734

UNITS: dict[str, UnitStats] = {
    u.name: u
    for u in (
        UnitStats(
            "marine",
            48,
            "T",
            45,
            0,
            0,
            0.375,
            2.25,
            frozenset({"light", "biological"}),
            damage=6,
            cooldown=0.8608,
            weapon_range=5,
            hits_air=True,
            smac_max_cooldown=15,
        ),
        UnitStats(
            "marauder",
            51,
            "T",
            125,
            0,
            1,
            0.5625,
            2.25,
            frozenset({"armored", "biological"}),
            damage=10,
            bonus=10,
            bonus_attribute="armored",
            cooldown=1.5,
            weapon_range=6,
            smac_max_cooldown=25,
        ),
        UnitStats(
            "medivac",
            54,
            "T",
            150,
            0,
            1,
            0.75,
            2.5,
            frozenset({"armored", "mechanical"}),
            is_air=True,
            hits_ground=True,
            heal_rate=9.0,
            heal_range=4,
            energy_max=200,
            energy_start=50,
            energy_regen=0.5625,
            smac_max_cooldown=200,
        ),
        UnitStats(
            "stalker",
            74,
            "P",
            80,
            80,
            1,
            0.625,
            2.9531,
            frozenset({"armored", "mechanical"}),
            damage=13,
            bonus=5,
            bonus_attribute="armored",
            cooldown=1.87,
            weapon_range=6,
            hits_air=True,
            smac_max_cooldown=35,
        ),
        UnitStats(
            "zealot",
            73,
            "P",
            100,
            50,
            1,
            0.5,
            2.25,
            frozenset({"light", "biological"}),
            damage=8,
            attacks=2,
            cooldown=1.2,
            weapon_range=0.1,
            smac_max_cooldown=22,
        ),
        UnitStats(
            "colossus",
            4,
            "P",
            200,
            150,
            1,
            1.0,
            2.25,
            frozenset({"armored", "mechanical", "massive"}),
            damage=10,
            attacks=2,
            bonus=5,
            bonus_attribute="light",
            cooldown=1.5,
            weapon_range=7,
            splash="line",
            smac_max_cooldown=24,
        ),
        UnitStats(
            "zergling",
            105,
            "Z",
            35,
            0,
            0,
            0.375,
            2.9531,
            frozenset({"light", "biological"}),
            damage=5,
            cooldown=0.696,
            weapon_range=0.1,
            life_regen=_ZERG_REGEN,
            smac_max_cooldown=11,
        ),
        UnitStats(
            "baneling",
            9,
            "Z",
            30,
            0,
            0,
            0.375,
            2.5,
            frozenset({"biological"}),
            damage=16,
            bonus=19,
            bonus_attribute="light",
            cooldown=1.0,
            weapon_range=0.25,
            splash="baneling",
            splash_radius=2.2,
            life_regen=_ZERG_REGEN,
            smac_max_cooldown=1,
        ),
        UnitStats(
            "hydralisk",
            107,
            "Z",
            90,
            0,
            0,
            0.625,
            2.25,
            frozenset({"light", "biological"}),
            damage=12,
            cooldown=0.825,
            weapon_range=5,
            hits_air=True,
            life_regen=_ZERG_REGEN,
            smac_max_cooldown=10,
        ),
        UnitStats(
            "spine_crawler",
            98,
            "Z",
            300,
            0,
            2,
            1.125,
            0.0,
            frozenset({"armored", "biological", "structure"}),
            damage=25,
            bonus=5,
            bonus_attribute="armored",
            cooldown=1.85,
            weapon_range=7,
            life_regen=_ZERG_REGEN,
            smac_max_cooldown=15,
        ),
    )
}

#: Fields where SMAC's ``*_RL`` ally copies differ from the stock unit (map ``UnitData.xml``).
_RL_OVERRIDES: dict[str, dict[str, float]] = {"hydralisk": {"health": 80.0}, "medivac": {"speed": 2.75}}


def unit_stats(name: str, ally: bool) -> UnitStats:
    """Stats of unit ``name``: the SMAC ``*_RL`` copy when ``ally`` is True, the stock SC2 unit otherwise."""
    if name not in UNITS:
        raise ValueError(f"Unknown unit type {name!r}; known types: {sorted(UNITS)}")
    stats = UNITS[name]
    if ally and name in _RL_OVERRIDES:
        stats = dataclasses.replace(stats, **_RL_OVERRIDES[name])
    return stats
