"""Policy-regularised QMIX (paper §IV.B, SA-DQN's hinge regulariser): TD loss + κ·L_reg, collection under FGSM."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sb3_marl.attacks import FGSM, PGD, BaseAttack
from sb3_marl.attacks.gradient import GradientAttack
from sb3_marl.common.base_class import BaseMultiAgentAlgorithm
from sb3_marl.common.schedules import (
    SaveableSchedule,
    StepSchedule,
    check_schedule_range,
    make_schedule,
    schedule_to_dict,
)
from sb3_marl.common.validation import finite_float, flag, whole_number
from sb3_marl.envs.base import BatchedMultiAgentEnv
from sb3_marl.qmix import QMIX
from sb3_marl.qmix.qmix import previous_actions_onehot
from sb3_marl.robust.fgsm import RobustQMIXFGSM
from sb3_marl.robust.regularizer import hinge_regularizer


class RegularizedQMIX(RobustQMIXFGSM):
    """QMIX fine-tuned from a trained model under FGSM with the hinge policy regulariser (paper eqs. 5-6).

    Collection and the TD loss are those of :class:`~sb3_marl.robust.RobustQMIXFGSM` (agents act and train on
    FGSM-perturbed observations). The loss adds ``κ · L_reg`` with::

        L_reg = mean over filled (episode, step) of  Σ_agents max(max_{õ in B_ε(o)} max_{a≠a*} Q(õ,a) − Q(õ,a*) + c, 0)

    (with prioritized replay each step's term weighs its episode's importance weight, as in the TD loss)

    where ``o`` is the clean observation, ``a*`` the clean greedy available action, and the agent's recurrent
    state is the one it had in the episode (from the observations it acted on) and is held fixed. The inner max
    is the larger margin of a PGD on the margin (``reg_pgd_steps`` steps, random start) and, with
    ``reg_fgsm_candidate``, of the FGSM point of eq. 3, agent by agent. The ``+ c`` shift makes the floor ``−c``
    of eq. 5 contribute exactly 0; it changes no gradient (see :mod:`sb3_marl.robust.regularizer`).

    :param env: env instance, SMAC map name, or None (predict-only).
    :param epsilon: l∞ budget of the FGSM collection attack and of the regulariser's ball.
    :param pretrained: the trained QMIX to start from: a model file path, a :class:`~sb3_marl.qmix.QMIX`
        (any subclass) or None (start from scratch). Its network settings (``policy_kwargs``, ``mixer``) must
        match this model's; online and target weights are copied, the optimizer starts fresh. Only a path is
        recorded in the saved settings (a model object is recorded as None).
    :param kappa: weight κ of the regulariser: a number, a schedule of progress remaining
        (:class:`~sb3_marl.common.schedules.StepSchedule`, SB3's ``ConstantSchedule`` / ``LinearSchedule``) or
        its settings dict; None is the paper's ``StepSchedule(0.0, 0.1, 0.5)``: 0 for the first half of the
        training's steps, then 0.1 (progress as the learning rate's: a ``learn()`` call continued with
        ``reset_num_timesteps=False`` goes on over the summed budget).
    :param hinge_c: the hinge floor ``c`` (> 0; paper: 10).
    :param reg_pgd_steps: PGD steps of the regulariser's inner maximisation (step size ``2.5 ε / steps``,
        random start).
    :param reg_fgsm_candidate: also try the FGSM point (the test-time attack of the paper) in the inner
        maximisation. PGD alone, from a random start, can miss the corner of the ball FGSM picks: on 3m (ε 0.2,
        seed 0) the PGD-only model won 1.00 under PGD but 0.03 under FGSM.
    :param attack: the collection attack (see :class:`~sb3_marl.robust.RobustQMIXFGSM`; default FGSM(ε)).
    :param qmix_kwargs: every other argument of :class:`~sb3_marl.robust.RobustQMIXFGSM` (``clean_loss_weight``,
        ``attack_probability``) and of :class:`~sb3_marl.qmix.QMIX`.
    """

    def __init__(
        self,
        env: BatchedMultiAgentEnv | str | None,
        epsilon: float = 0.2,
        pretrained: str | Path | QMIX | None = None,
        kappa: float | SaveableSchedule | dict[str, Any] | None = None,
        hinge_c: float = 10.0,
        reg_pgd_steps: int = 5,
        reg_fgsm_candidate: bool = True,
        attack: BaseAttack | str | dict[str, Any] | None = None,
        _init_setup_model: bool = True,
        **qmix_kwargs: Any,
    ) -> None:
        if not (pretrained is None or isinstance(pretrained, QMIX | str | os.PathLike)):
            raise TypeError(
                f"pretrained={pretrained!r} must be the path of a QMIX model file (a str or a pathlib.Path), a QMIX "
                "model or None"
            )
        self.kappa = make_schedule(StepSchedule() if kappa is None else kappa, "kappa")
        check_schedule_range(self.kappa, "kappa", low=0.0)
        self.hinge_c = finite_float("hinge_c", hinge_c, 0.0, low_open=True)
        self.reg_pgd_steps = whole_number("reg_pgd_steps", reg_pgd_steps, 1)
        self.reg_fgsm_candidate = flag("reg_fgsm_candidate", reg_fgsm_candidate)
        super().__init__(env, epsilon=epsilon, attack=attack, _init_setup_model=_init_setup_model, **qmix_kwargs)
        bounds = dict(clip_observations=self.attack.clip_observations, seed=self.attack.seed)
        if self.attack.has_own_bounds:  # else they take the env's, as the collection attack does
            bounds.update(obs_low=self.attack.obs_low, obs_high=self.attack.obs_high)
        margin_pgd = PGD(self.epsilon, n_steps=reg_pgd_steps, objective="margin", **bounds)
        self.reg_attacks: list[GradientAttack] = [margin_pgd]
        if self.reg_fgsm_candidate:
            self.reg_attacks.append(FGSM(self.epsilon, **bounds))
        for attack in self.reg_attacks:
            self._set_env_bounds(attack)
        self.pretrained = None if pretrained is None or isinstance(pretrained, QMIX) else str(pretrained)
        if _init_setup_model and pretrained is not None:
            self._load_pretrained(pretrained)

    def _load_pretrained(self, pretrained: str | Path | QMIX) -> None:
        """Copy the online and target networks of ``pretrained`` into this model's policy (a ValueError when it is no
        QMIX-family team model: another algorithm's file, or a learned adversary such as PA-AD's director)."""
        source = pretrained if isinstance(pretrained, QMIX) else _load_keeping_global_streams(pretrained, self.device)
        given = "pretrained" if isinstance(pretrained, QMIX) else f"pretrained={str(pretrained)!r}"
        if not isinstance(source, QMIX):
            raise ValueError(
                f"{given} is a {type(source).__name__} model file; pretrained needs a QMIX-family model file"
            )
        if source.battle_won_is_a_loss:
            raise ValueError(
                f"{given} is a {type(source).__name__} model, a learned adversary (it plays against its victim's "
                "team): pretrained needs a QMIX-family team model"
            )
        if source.env_shapes != self.env_shapes:
            raise ValueError(f"pretrained model has env shapes {source.env_shapes}, this model {self.env_shapes}")
        try:
            self.policy.load_state_dict(source.policy.state_dict())
        except RuntimeError as error:
            raise ValueError(
                f"pretrained networks do not fit this model (policy_kwargs={source.policy_kwargs}, "
                f"mixer={source.mixer!r} there; {self.policy_kwargs}, {self.mixer!r} here): {error}"
            ) from None

    @classmethod
    def _split_load_overrides(cls, path: Any, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Refuse a ``pretrained`` override: a loaded model has its own networks (``pretrained`` is only read when a
        model is built)."""
        if "pretrained" in overrides:
            raise ValueError(
                f"pretrained={overrides['pretrained']!r}: a loaded model keeps its saved networks (pretrained is only "
                f"read when a model is built); load {path} without it, or build a RegularizedQMIX(env, pretrained=...)"
            )
        return super()._split_load_overrides(path, overrides)

    def _attacks(self) -> list[BaseAttack]:
        return [*super()._attacks(), *self.reg_attacks]

    def _constructor_parameters(self) -> dict[str, Any]:
        return {**super()._constructor_parameters(), "kappa": schedule_to_dict(self.kappa)}

    def _compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, stats = self._td_loss(batch)
        kappa = float(self.kappa(self._current_progress_remaining))
        stats["kappa"] = torch.tensor(kappa)
        if kappa > 0.0:
            reg_loss = self.regularizer_loss(batch)
            loss = loss + kappa * reg_loss
            stats["reg_loss"] = reg_loss.detach()
        return loss, stats

    def regularizer_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``L_reg`` of a sampled batch of episodes (see the class docstring); differentiable w.r.t. the policy."""
        policy = self.policy
        actions = batch["actions"]
        last_action = previous_actions_onehot(actions, policy.n_actions)
        with torch.no_grad():
            hidden = policy.hidden_sequence(self._training_observations(batch), last_action)
        filled = batch["filled"]
        per_agent = hinge_regularizer(
            policy,
            batch["obs"][filled],
            batch["avail_actions"][filled],
            last_action[filled],
            hidden[filled],
            self.reg_attacks,
            self.hinge_c,
        )
        per_step = per_agent.sum(dim=-1)
        if "replay_weights" in batch:  # prioritized replay: importance weights, as the TD loss takes them
            per_step = per_step * batch["replay_weights"].view(-1, 1).expand_as(filled)[filled]
        return per_step.mean()


def _load_keeping_global_streams(path: str | Path, device: torch.device) -> BaseMultiAgentAlgorithm:
    """The model saved at ``path`` (``BaseMultiAgentAlgorithm.load``: of whatever class, which the caller checks)
    without its reseeding of Python's, numpy's and torch's global generators with the saved model's seed (models of
    other seeds would leave the same global stream behind them)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            return BaseMultiAgentAlgorithm.load(path, device=device)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
