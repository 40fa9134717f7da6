"""sb3-marl: Stable-Baselines3-style robust cooperative multi-agent RL on SMAC."""

from sb3_marl.qmix import QMIX
from sb3_marl.robust import ATLAQMIX, PAADQMIX, RegularizedQMIX, RobustQMIXFGSM, train_attacker
from sb3_marl.version import __version__

__all__ = ["ATLAQMIX", "PAADQMIX", "QMIX", "RegularizedQMIX", "RobustQMIXFGSM", "__version__", "train_attacker"]
