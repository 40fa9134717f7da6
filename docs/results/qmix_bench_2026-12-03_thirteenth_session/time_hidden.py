"""One 2s3z training update (32 full-length episodes) with a GRU of 64 and of 128 units, alternating.

    OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks \
        python docs/results/qmix_bench_2026-12-03_thirteenth_session/time_hidden.py   # from the repository root

Prints the median wall time of each (loss, backward, optimizer step) and their ratio.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from bench_qmix import _full_batch

from sb3_marl import QMIX
from sb3_marl.envs import make_env


def update_ms(model: QMIX, batch: dict[str, torch.Tensor]) -> float:
    """Wall time of one update (TD loss, backward, optimizer step) in ms."""
    start = time.perf_counter()
    loss, _ = model._td_loss(batch)
    model.policy.optimizer.zero_grad()
    loss.backward()
    model.policy.optimizer.step()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    torch.set_num_threads(1)
    models = {
        hidden: QMIX(
            make_env("2s3z", n_envs=1, seed=0),
            seed=0,
            device="cpu",
            optimizer_class="adam",
            td_lambda=0.6,
            policy_kwargs={"rnn_hidden_dim": hidden},
        )
        for hidden in (64, 128)
    }
    batch = _full_batch(models[64], 32)
    for model in models.values():  # warm-up
        update_ms(model, batch)
    times = np.median([[update_ms(models[64], batch), update_ms(models[128], batch)] for _ in range(8)], axis=0)
    print(
        f"2s3z update batch 32x{batch['obs'].shape[1]}: hidden 64 {times[0]:.1f} ms, hidden 128 {times[1]:.1f} ms, "
        f"ratio x{times[1] / times[0]:.2f} (median of 8 alternating runs)"
    )


if __name__ == "__main__":
    main()
