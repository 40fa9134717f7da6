"""Learned adversaries: the MAPPO perturbation policy (ATLA), the QMIX director (PA-AD) and their envs."""

from sb3_marl.adversaries.adversary_env import AdversaryEnv, PerturbationAdversaryEnv, TargetActionAdversaryEnv
from sb3_marl.adversaries.director import QMIXDirector
from sb3_marl.adversaries.mappo import MAPPO, NonFiniteTrainingError
from sb3_marl.adversaries.policies import MAPPOPolicy

__all__ = [
    "MAPPO",
    "AdversaryEnv",
    "MAPPOPolicy",
    "NonFiniteTrainingError",
    "PerturbationAdversaryEnv",
    "QMIXDirector",
    "TargetActionAdversaryEnv",
]
