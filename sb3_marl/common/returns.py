"""Returns and advantages computed backward in time over whole rollouts or episodes (QMIX's TD(lambda) targets,
MAPPO's generalised advantage estimates)."""

from __future__ import annotations

import torch


def backward_recurrence(offset: torch.Tensor, decay: torch.Tensor, final: torch.Tensor) -> torch.Tensor:
    """``G_t = offset_t + decay_t G_{t+1}`` for ``t = T-1 .. 0`` with ``G_T = final``: one fused multiply-add per time
    step (a Python loop over the T time steps; every other operation is done for all steps at once).

    Runs without autograd (it writes into a preallocated tensor): call it under ``torch.no_grad()``, as targets are.
    Where ``decay_t`` is 0 the later ``G`` are multiplied by 0, so they must be finite.

    :param offset: float[B, T, ...].
    :param decay: float[B, T, ...], broadcastable to ``offset``.
    :param final: float[B, ...]: ``G_T``.
    :return: ``G`` float[B, T, ...], the shape of ``offset``.
    """
    offset, decay = torch.broadcast_tensors(offset, decay)
    offset, decay = offset.movedim(1, 0).contiguous(), decay.movedim(1, 0).contiguous()  # time first: [T, B, ...]
    returns = torch.empty((offset.shape[0] + 1, *offset.shape[1:]), dtype=offset.dtype, device=offset.device)
    returns[-1] = final
    for t in range(offset.shape[0] - 1, -1, -1):
        torch.addcmul(offset[t], decay[t], returns[t + 1], out=returns[t])
    return returns[:-1].movedim(0, 1)
