"""ATLA for QMIX (paper §IV.C, Algorithm 1): alternate a QMIX victim and a MAPPO perturbation adversary."""

from __future__ import annotations

from sb3_marl.adversaries.adversary_env import PerturbationAdversaryEnv
from sb3_marl.adversaries.mappo import MAPPO
from sb3_marl.attacks.learned import ATLAAttack
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.robust.alternating import AlternatingAdversarialQMIX


class ATLAQMIX(AlternatingAdversarialQMIX):
    """QMIX trained against a learned MAPPO adversary that perturbs every agent's observation by ``ε·tanh(u)``.

    During victim phases the adversary *samples* its perturbations (``ATLAAttack(deterministic=False)``), so the
    victim meets the adversary's whole policy; test-time attacks (:func:`~sb3_marl.robust.train_attacker`) use
    its mean. The schedule, storage and saving are those of
    :class:`~sb3_marl.robust.alternating.AlternatingAdversarialQMIX`.

    :param env: env instance, SMAC map name, or None (predict-only).
    :param epsilon: l∞ budget (the paper: 0.2, 0.05 on 2s3z).
    :param adversary_kwargs: keyword arguments of :class:`~sb3_marl.adversaries.MAPPO` (``learning_rate``,
        ``n_steps``, ...).
    :param victim_phase_timesteps: victim env steps per victim phase.
    :param adversary_phase_timesteps: adversary env steps per adversary phase.
    :param qmix_kwargs: every other argument of :class:`~sb3_marl.robust.RobustQMIXFGSM` (``clean_loss_weight``,
        ``attack_probability``) and of :class:`~sb3_marl.qmix.QMIX`.
    """

    adversary_algorithm = MAPPO

    def _make_adversary_env(self, env: BatchedMultiAgentEnv) -> PerturbationAdversaryEnv:
        return PerturbationAdversaryEnv(env, self.policy, self.epsilon)

    def _make_learned_attack(self) -> ATLAAttack:
        return ATLAAttack(self.adversary, self.epsilon, deterministic=False, seed=self._attack_seed)
