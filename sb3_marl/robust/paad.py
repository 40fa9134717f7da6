"""PA-AD for QMIX (paper §IV.D, Algorithm 2): alternate a QMIX victim and a QMIX director with an FGSM actor."""

from __future__ import annotations

from sb3_marl.adversaries.adversary_env import TargetActionAdversaryEnv
from sb3_marl.adversaries.director import QMIXDirector
from sb3_marl.attacks.learned import PAADAttack
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.robust.alternating import AlternatingAdversarialQMIX


class PAADQMIX(AlternatingAdversarialQMIX):
    """QMIX trained against a learned PA-AD attacker: a QMIX director picks a target action per agent and a
    targeted FGSM (eq. 7) steers the victim toward it within the ε-ball.

    During victim phases the director acts greedily. The schedule, storage and saving are those of
    :class:`~sb3_marl.robust.alternating.AlternatingAdversarialQMIX`.

    :param env: env instance, SMAC map name, or None (predict-only).
    :param epsilon: l∞ budget (the paper: 0.2, 0.05 on 2s3z).
    :param adversary_kwargs: keyword arguments of the director (:class:`~sb3_marl.qmix.QMIX`'s).
    :param victim_phase_timesteps: victim env steps per victim phase.
    :param adversary_phase_timesteps: director env steps per adversary phase.
    :param qmix_kwargs: every other argument of :class:`~sb3_marl.robust.RobustQMIXFGSM` (``clean_loss_weight``,
        ``attack_probability``) and of :class:`~sb3_marl.qmix.QMIX`.
    """

    adversary_algorithm = QMIXDirector

    def _make_adversary_env(self, env: BatchedMultiAgentEnv) -> TargetActionAdversaryEnv:
        return TargetActionAdversaryEnv(env, self.policy, self.epsilon)

    def _make_learned_attack(self) -> PAADAttack:
        return PAADAttack(self.adversary, self.epsilon, seed=self._attack_seed)
