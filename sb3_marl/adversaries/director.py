"""The PA-AD director: a QMIX whose agents pick a target action per attacked victim agent.

It is plain :class:`~sb3_marl.qmix.QMIX` trained on a
:class:`~sb3_marl.adversaries.adversary_env.TargetActionAdversaryEnv`: its observations are the clean observations
of the agents it attacks, its state the global state, its actions the victim's action indices (available = the
victim's available actions) and its reward minus the victim team's reward (paper §IV.D, Algorithm 2). The
targeted FGSM actor (eq. 7) inside the env turns its targets into observation perturbations.
"""

from __future__ import annotations

from sb3_marl.adversaries.adversary_env import TargetActionAdversaryEnv
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.qmix import QMIX


class QMIXDirector(QMIX):
    """QMIX over target actions (see the module docstring).

    :param env: a :class:`TargetActionAdversaryEnv` wrapping the victim, or None (predict-only / load).
    :param kwargs: the keyword arguments of :class:`~sb3_marl.qmix.QMIX`.
    """

    battle_won_is_a_loss = True  # its env's battle_won is the victim's

    def _attach_env(self, env: BatchedMultiAgentEnv) -> None:
        """Refuse any env but a :class:`TargetActionAdversaryEnv` (in the constructor, ``set_env`` and ``load``)."""
        if not isinstance(env, TargetActionAdversaryEnv):
            raise ValueError(
                f"QMIXDirector trains on a TargetActionAdversaryEnv wrapping the victim, got {type(env).__name__}"
            )
        super()._attach_env(env)
