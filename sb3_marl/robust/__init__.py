"""Robust QMIX variants against state-adversarial attacks (one file each)."""

from sb3_marl.robust.fgsm import RobustQMIXFGSM
from sb3_marl.robust.regularized import RegularizedQMIX
from sb3_marl.robust.schedules import StepSchedule

__all__ = ["RegularizedQMIX", "RobustQMIXFGSM", "StepSchedule"]
