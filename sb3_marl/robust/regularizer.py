"""The hinge policy regulariser of SA-DQN (Zhang et al. 2020) for recurrent per-agent Q-networks (paper eq. 5).

For one agent at one step, with clean observation ``o``, recurrent state ``h`` and clean greedy action
``a* = argmax_a Q(o, h, a)`` over the available actions::

    R(o) = max( max_{õ in B_ε(o)} [ max_{a != a*} Q(õ, h, a) - Q(õ, h, a*) ], -c )

The inner maximisation is solved approximately by gradient attacks: each proposes one õ per agent (e.g. PGD on
the margin, :class:`~sb3_marl.attacks.PGD` with ``objective="margin"``, and the FGSM corner of eq. 3) and the
largest margin among the proposals is kept, agent by agent. This module reports the hinge shifted by ``c``,
``max(margin + c, 0) = R + c``, which has the same gradient as ``R`` and is exactly 0 when every action other
than ``a*`` stays at least ``c`` below it at every proposal; it exceeds ``c`` when one of the proposed perturbations
flips the greedy action (a flip the proposals miss goes unseen).
Agents with a single available action (e.g. dead ones, which only have no-op) contribute 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sb3_marl.attacks.base import BaseAttack
from sb3_marl.attacks.gradient import action_margin
from sb3_marl.common.validation import finite_float
from sb3_marl.policies.qmix_policy import greedy_actions


def hinge_regularizer(
    policy: nn.Module,
    obs: torch.Tensor,
    avail_actions: torch.Tensor,
    last_action_onehot: torch.Tensor,
    hidden: torch.Tensor,
    attacks: Sequence[BaseAttack],
    hinge_c: float,
) -> torch.Tensor:
    """Per-agent regulariser ``max(max_{õ} margin(õ) + c, 0)``, float[K, N], differentiable w.r.t. the policy.

    :param policy: the Q-network (``q_values(obs, last_action_onehot, hidden) -> (q, hidden_next)``).
    :param obs: clean observations float[K, N, O] (``K`` independent (episode, step) rows).
    :param avail_actions: bool[K, N, A].
    :param last_action_onehot: float[K, N, A].
    :param hidden: recurrent state before each row's step, float[K, N, H]; treated as a constant.
    :param attacks: the inner maximisers, all with budget ε (e.g. a PGD with ``objective="margin"`` and an FGSM);
        per agent the largest margin among their proposals counts.
    :param hinge_c: the hinge floor ``c`` (> 0).
    :raises TypeError, ValueError: ``attacks`` is not a non-empty sequence of attacks sharing one epsilon, or
        ``hinge_c`` not a finite number > 0.
    """
    _check_attacks(attacks)
    hinge_c = finite_float("hinge_c", hinge_c, 0.0, low_open=True)
    hidden = hidden.detach()
    avail_actions = avail_actions.bool()
    with torch.no_grad():
        greedy = greedy_actions(policy.q_values(obs, last_action_onehot, hidden)[0], avail_actions)
    margins = []
    for attack in attacks:
        perturbed = attack.perturb(policy, obs, avail_actions, last_action_onehot, hidden)
        q_perturbed, _ = policy.q_values(perturbed, last_action_onehot, hidden)
        margins.append(action_margin(q_perturbed, avail_actions, greedy))
    worst = torch.stack(margins).amax(dim=0)
    return torch.relu(worst + hinge_c)


def _check_attacks(attacks: Sequence[BaseAttack]) -> None:
    """A TypeError or ValueError naming ``attacks`` unless it is a non-empty sequence of attacks sharing one epsilon
    (Python-level checks only: this runs at every update)."""
    if isinstance(attacks, BaseAttack | str) or not isinstance(attacks, Sequence):
        raise TypeError(
            f"attacks={attacks!r} must be a sequence of attacks, e.g. [PGD(epsilon, objective='margin'), FGSM(epsilon)]"
        )
    if not attacks:
        raise ValueError("hinge_regularizer needs at least one attack to propose perturbed observations")
    for attack in attacks:
        if not isinstance(attack, BaseAttack):
            raise TypeError(f"attacks holds {attack!r}: each must be an attack object (a BaseAttack, e.g. FGSM(0.2))")
    epsilons = [attack.epsilon for attack in attacks]
    if not all(math.isclose(epsilon, epsilons[0], rel_tol=1e-6) for epsilon in epsilons):
        raise ValueError(
            f"attacks have epsilons {epsilons}: the regulariser's ball has one radius; give them one epsilon"
        )
