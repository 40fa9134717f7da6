"""State-adversarial attacks: perturb each attacked agent's observation inside an l∞ ball of radius epsilon."""

from __future__ import annotations

import inspect
from typing import Any

from sb3_marl.attacks.base import BaseAttack
from sb3_marl.attacks.gradient import FGSM, PGD, GradientAttack
from sb3_marl.attacks.learned import ATLAAttack, LearnedAttack, PAADAttack
from sb3_marl.attacks.noise import RandomNoise

#: attack names accepted by :func:`make_attack` (lower case) and the classes they build
ATTACKS: dict[str, type[BaseAttack]] = {"fgsm": FGSM, "pgd": PGD, "randomnoise": RandomNoise, "random": RandomNoise}


def make_attack(spec: str | dict[str, Any], **kwargs: Any) -> BaseAttack:
    """Build an attack from a name (``"fgsm"``, ``"pgd"``, ``"random"``) or from :meth:`BaseAttack.get_params`.

    :param spec: attack name (case-insensitive) or a settings dict with a ``"name"`` key.
    :param kwargs: constructor arguments (``epsilon``, ...); they override those in ``spec``.
    """
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = str(params.pop("name", "")).lower()
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; allowed: {sorted(ATTACKS)}")
    try:
        return ATTACKS[name](**{**params, **kwargs})
    except TypeError as error:  # a missing or unknown setting
        settings = list(inspect.signature(ATTACKS[name]).parameters)
        raise ValueError(f"bad settings for attack {name!r} ({error}); it takes {settings}") from None


__all__ = [
    "ATTACKS",
    "FGSM",
    "PGD",
    "ATLAAttack",
    "BaseAttack",
    "GradientAttack",
    "LearnedAttack",
    "PAADAttack",
    "RandomNoise",
    "make_attack",
]
