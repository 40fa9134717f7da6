"""State-adversarial attacks: perturb each attacked agent's observation inside an l∞ ball of radius epsilon."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sb3_marl.attacks.base import BaseAttack
from sb3_marl.attacks.gradient import FGSM, PGD, GradientAttack
from sb3_marl.attacks.learned import ATLAAttack, LearnedAttack, PAADAttack
from sb3_marl.attacks.noise import RandomNoise
from sb3_marl.common.validation import constructor_keywords

#: attack names accepted by :func:`make_attack` (lower case) and the classes they build
ATTACKS: dict[str, type[BaseAttack]] = {"fgsm": FGSM, "pgd": PGD, "randomnoise": RandomNoise, "random": RandomNoise}


#: the learned attacks' names: the zoo's and their classes' (as their get_params() gives them), lower case
LEARNED_ATTACK_NAMES = ("atla", "paad", "atlaattack", "paadattack")


def make_attack(spec: str | Mapping[str, Any], **kwargs: Any) -> BaseAttack:
    """Build an attack from a name (``"fgsm"``, ``"pgd"``, ``"random"``) or from :meth:`BaseAttack.get_params`.

    The learned attacks (:class:`ATLAAttack`, :class:`PAADAttack`) are not built here: they need their trained
    adversary (``train_attacker``, or the ``attack`` of an ``ATLAQMIX`` / ``PAADQMIX``).

    :param spec: attack name (case-insensitive) or a settings dict with a ``"name"`` key.
    :param kwargs: constructor arguments (``epsilon``, ...); they override those in ``spec``.
    """
    if isinstance(spec, BaseAttack) or not isinstance(spec, str | Mapping):
        raise TypeError(
            f"make_attack(spec={spec!r}): give an attack name ({sorted(ATTACKS)}) or the settings dict of "
            "get_params(); an attack object is used as it is"
        )
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = str(params.pop("name", "")).lower()
    if name in LEARNED_ATTACK_NAMES:
        raise ValueError(
            f"attack {name!r} is a learned attack: it needs its trained adversary, which its settings do not hold; "
            "train one with sb3_marl.robust.train_attacker (or use the attack of an ATLAQMIX / PAADQMIX)"
        )
    if name not in ATTACKS:
        raise ValueError(
            f"unknown attack {name!r}; allowed: {sorted(ATTACKS)} (an attack class of your own is given as an object, "
            "attack=MyAttack(...); a model saved with one loads with custom_objects={'attack': MyAttack(...)})"
        )
    try:
        return ATTACKS[name](**{**params, **kwargs})
    except TypeError as error:  # a missing or unknown setting
        settings = [name for name in constructor_keywords(ATTACKS[name])[0] if name != "self"]
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
