"""QMIX, the algorithm every robust variant builds on."""

from sb3_marl.qmix.qmix import QMIX

__all__ = ["QMIX"]
