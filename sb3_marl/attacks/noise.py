"""Random-noise baseline attack: uniform noise in the l∞ ball."""

from __future__ import annotations

import torch
from torch import nn

from sb3_marl.attacks.base import BaseAttack


class RandomNoise(BaseAttack):
    """Add i.i.d. uniform noise in ``[-epsilon, epsilon]`` to every feature of each attacked agent's observation.

    The victim is not consulted (``policy`` and the other inputs of :meth:`perturb` are ignored); noise comes
    from the attack's seeded generator. Parameters as in :class:`~sb3_marl.attacks.base.BaseAttack`.
    """

    def _perturb(
        self,
        policy: nn.Module,
        obs: torch.Tensor,
        avail_actions: torch.Tensor,
        last_action_onehot: torch.Tensor,
        hidden: torch.Tensor,
        state: torch.Tensor | None,
        target_actions: torch.Tensor | None,
    ) -> torch.Tensor:
        return self.random_point(obs)
