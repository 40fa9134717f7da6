"""Robust QMIX variants against state-adversarial attacks (one file each)."""

from sb3_marl.common.schedules import StepSchedule
from sb3_marl.robust.atla import ATLAQMIX
from sb3_marl.robust.fgsm import RobustQMIXFGSM
from sb3_marl.robust.paad import PAADQMIX
from sb3_marl.robust.regularized import RegularizedQMIX
from sb3_marl.robust.train_attacker import train_attacker

__all__ = ["ATLAQMIX", "PAADQMIX", "RegularizedQMIX", "RobustQMIXFGSM", "StepSchedule", "train_attacker"]
