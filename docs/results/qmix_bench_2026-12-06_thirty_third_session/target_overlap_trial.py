"""One-off trial (thirty-third session, not adopted): the target network's forward pass in a worker thread.

QMIX's loss runs the online agent network (with gradients) and the target agent network (without) over the same
batch; the second needs nothing from the first until the bootstrap. This script times one update (loss, backward)
of a map's ``hyperparams/qmix.yml`` settings on a full-length random batch (``bench_qmix._full_batch``), cut to
150 and 60 steps, in one of three modes, and saves the loss and gradients to compare them bit for bit:

* ``A``: the loss as ``QMIX._td_loss`` computes it (the baseline);
* ``B``: the target network's forward pass (and the advantage-learning gap) in a worker thread, run with
  ``threads`` torch threads in both;
* ``C``: as ``B``, but the worker sets one torch thread for itself while the main thread keeps ``threads``.

Run from the repository root, one process per mode, alone on the machine::

    OMP_NUM_THREADS=2 python docs/results/qmix_bench_2026-12-06_thirty_third_session/target_overlap_trial.py \\
        2m_vs_1z 2 A     # map, torch threads, mode
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from bench_qmix import _full_batch, yml_model  # noqa: E402

from sb3_marl.qmix.qmix import previous_actions_onehot  # noqa: E402


def median_ms(function: Callable[[], None], repeats: int = 20) -> float:
    """Median wall time of ``function`` in milliseconds, after two warm-up calls."""
    function()
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def target_side(model, batch, obs, last_action):  # noqa: ANN001, ANN201
    """The target network's Q-values and the advantage-learning gap (no gradients; grad mode is per thread)."""
    with torch.no_grad():
        target_q = model.policy.q_values_sequence(obs, last_action, target=True)
        gap = model._target_action_gap(batch, target_q) if model.advantage_learning > 0 else None
    return target_q, gap


def overlapped_loss(model, batch, pool: ThreadPoolExecutor) -> torch.Tensor:  # noqa: ANN001
    """``QMIX._td_loss`` (uniform replay) with :func:`target_side` in ``pool``'s worker beside the online pass."""
    policy = model.policy
    obs, actions = batch["obs"], batch["actions"]
    last_action = previous_actions_onehot(actions, policy.n_actions)
    pending = pool.submit(target_side, model, batch, obs, last_action)
    q = policy.q_values_sequence(obs, last_action)
    q_taken = q[:, :-1].gather(-1, actions[:, :-1].unsqueeze(-1)).squeeze(-1)
    q_tot = policy.mix(q_taken, batch["state"][:, :-1])
    target_q, gap = pending.result()
    with torch.no_grad():
        target_q_tot, greedy_next = model._bootstrap_values(batch, target_q, q.detach())
        reward = batch["reward"][:, :-1]
        if model.advantage_learning > 0.0:
            reward = reward - model.advantage_learning * gap
        targets = model._targets(batch, reward, target_q_tot, greedy_next)
    mask = batch["filled"][:, :-1].float()
    n_filled = mask.sum().clamp(min=1.0)
    loss = model._regression_loss((q_tot - targets) * mask) / n_filled
    if model.lower_bound_coef > 0.0:
        with torch.no_grad():
            returns = model._episode_returns(batch, reward, target_q_tot)
        shortfall = (returns - q_tot).clamp(min=0.0) * mask
        loss = loss + model.lower_bound_coef * model._regression_loss(shortfall) / n_filled
    return loss


def main() -> None:
    map_name, threads, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(threads)
    pool = ThreadPoolExecutor(1, initializer=(lambda: torch.set_num_threads(1)) if mode == "C" else None)
    model, _ = yml_model(map_name, 0, False)
    policy = model.policy

    def loss_of(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model._td_loss(batch)[0] if mode == "A" else overlapped_loss(model, batch, pool)

    saved = {}
    for length in (150, 60):
        batch = {key: value[:, : length + 1] for key, value in _full_batch(model, model.batch_size).items()}

        def update(batch: dict[str, torch.Tensor] = batch) -> None:
            loss = loss_of(batch)
            policy.optimizer.zero_grad()
            loss.backward()

        update()
        saved[length] = [loss_of(batch).detach()] + [param.grad.clone() for param in policy.online_parameters()]
        timings = [round(median_ms(update), 1) for _ in range(2)]
        print(f"{map_name} T={length} mode={mode} threads={threads}: loss+backward {timings} ms", flush=True)
    torch.save(saved, f"grads_{map_name}_{mode}_{threads}.pt")


if __name__ == "__main__":
    main()
