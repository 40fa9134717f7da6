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

from collections.abc import Sequence

import torch
from torch import nn

from sb3_marl.attacks.gradient import GradientAttack, action_margin
from sb3_marl.policies.qmix_policy import greedy_actions


def hinge_regularizer(
    policy: nn.Module,
    obs: torch.Tensor,
    avail_actions: torch.Tensor,
    last_action_onehot: torch.Tensor,
    hidden: torch.Tensor,
    attacks: Sequence[GradientAttack],
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
    """
    hidden = hidden.detach()
    avail_actions = avail_actions.bool()
    with torch.no_grad():
        greedy = greedy_actions(policy.q_values(obs, last_action_onehot, hidden)[0], avail_actions)
    if not attacks:
        raise ValueError("hinge_regularizer needs at least one attack to propose perturbed observations")
    margins = []
    for attack in attacks:
        perturbed = attack.perturb(policy, obs, avail_actions, last_action_onehot, hidden)
        q_perturbed, _ = policy.q_values(perturbed, last_action_onehot, hidden)
        margins.append(action_margin(q_perturbed, avail_actions, greedy))
    worst = torch.stack(margins).amax(dim=0)
    return torch.relu(worst + hinge_c)
