"""Learned attacks (ATLA, PA-AD) against vanilla QMIX, and the defences ATLAQMIX / PAADQMIX under every attack.

On one SMAC map of the built-in simulator: trains vanilla QMIX (205k env steps, clean observations), trains a
fresh PA-AD attacker and a fresh ATLA attacker against it, then trains PAADQMIX and ATLAQMIX (405k victim env
steps each) and tests each of them under no attack, FGSM, and ATLA / PA-AD attackers trained against *that*
model. Every cell: greedy victim, all agents attacked at every step, ``--n-eval-episodes`` episodes; printed as
win rate and return mean ± std, with the wall time of each training. Goal on 3m: PA-AD against vanilla QMIX
<= 0.1 win rate (paper: 0.00).

The paper's setting on 3m (hours on a CPU)::

    python benchmarks/bench_learned_attacks.py --map 3m

A smoke run::

    python benchmarks/bench_learned_attacks.py --map 3m --qmix-steps 2000 --robust-steps 2000 \\
        --attacker-steps 1000 --phase-steps 500 --n-eval-episodes 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sb3_marl import ATLAQMIX, PAADQMIX, QMIX, train_attacker
from sb3_marl.attacks import FGSM, BaseAttack
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.envs.make_env import make_env
from zoo.enjoy import paper_epsilon


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--map", default="3m", help="SMAC map name (paper: 2m_vs_1z, 3m, 3s_vs_3z, 2s3z)")
    parser.add_argument("--epsilon", type=float, default=None, help="l-inf budget (default: 0.05 on 2s3z, else 0.2)")
    parser.add_argument("--qmix-steps", type=int, default=205_000, help="env steps of vanilla QMIX")
    parser.add_argument("--robust-steps", type=int, default=405_000, help="victim env steps of ATLAQMIX / PAADQMIX")
    parser.add_argument("--phase-steps", type=int, default=20_000, help="env steps per victim and per adversary phase")
    parser.add_argument("--attacker-steps", type=int, default=100_000, help="env steps of each test-time attacker")
    parser.add_argument("--n-envs", type=int, default=8, help="episodes simulated as one batch")
    parser.add_argument("--n-eval-episodes", type=int, default=32, help="test episodes per model and attack")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and of the test envs")
    parser.add_argument("--device", default="auto", help="torch device (auto, cpu, cuda)")
    parser.add_argument("--qmix-model", type=Path, default=None, help="reuse this trained QMIX instead of training")
    parser.add_argument("--save-dir", type=Path, default=None, help="save the trained models there")
    return parser.parse_args()


def director_kwargs(steps: int) -> dict[str, Any]:
    """The director's QMIX settings: exploration annealed over the first half of its budget."""
    return {"exploration_timesteps": max(steps // 2, 1), "batch_size": 32}


def timed(label: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - start:.0f} s")
    return result


def evaluate(model: QMIX, attack: BaseAttack | None, args: argparse.Namespace) -> str:
    env = make_env(args.map, n_envs=args.n_envs, seed=args.seed + 1000, device=model.device)
    win_rate, mean, std = evaluate_policy(model, env, args.n_eval_episodes, attack=attack)
    return f"{win_rate:5.2f}  {mean:7.3f} ± {std:6.3f}"


def learned_attacks(model: QMIX, epsilon: float, args: argparse.Namespace, name: str) -> dict[str, BaseAttack]:
    """Fresh ATLA and PA-AD attackers trained against the frozen ``model``."""
    common = {"epsilon": epsilon, "total_timesteps": args.attacker_steps, "n_envs": args.n_envs, "seed": args.seed}
    return {
        "ATLA": timed(f"ATLA attacker vs {name}", train_attacker, model, "atla", **common),
        "PA-AD": timed(
            f"PA-AD attacker vs {name}", train_attacker, model, "paad",
            adversary_kwargs=director_kwargs(args.attacker_steps), **common,
        ),
    }


def main() -> None:
    args = parse_args()
    epsilon = args.epsilon if args.epsilon is not None else paper_epsilon(args.map)
    common = {"n_envs": args.n_envs, "seed": args.seed, "device": args.device}
    print(f"map {args.map}, epsilon {epsilon}, {args.n_eval_episodes} test episodes per cell")

    if args.qmix_model is not None:
        vanilla = QMIX.load(args.qmix_model, env=args.map, device=args.device)
    else:
        vanilla = timed("Vanilla QMIX training", QMIX(args.map, **common).learn, args.qmix_steps)
    models = {"Vanilla QMIX": vanilla}
    alternating = {"victim_phase_timesteps": args.phase_steps, "adversary_phase_timesteps": args.phase_steps}
    models["ATLA"] = timed(
        "ATLAQMIX training", ATLAQMIX(args.map, epsilon=epsilon, **alternating, **common).learn, args.robust_steps
    )
    models["PA-AD"] = timed(
        "PAADQMIX training",
        PAADQMIX(
            args.map, epsilon=epsilon, adversary_kwargs=director_kwargs(args.phase_steps), **alternating, **common
        ).learn,
        args.robust_steps,
    )
    if args.save_dir is not None:
        for name, model in models.items():
            model.save(args.save_dir / f"{name.lower().replace(' ', '_').replace('-', '')}_{args.map}.zip")

    columns = ["No Attack", "FGSM", "ATLA", "PA-AD"]
    print(f"\n{'model':14s} | " + " | ".join(f"{c + ' win  reward':28s}" for c in columns))
    for name, model in models.items():
        bounds = {"obs_low": model.env.obs_low, "obs_high": model.env.obs_high, "seed": args.seed}
        attacks: dict[str, BaseAttack | None] = {"No Attack": None, "FGSM": FGSM(epsilon, **bounds)}
        attacks.update(learned_attacks(model, epsilon, args, name))
        cells = [evaluate(model, attacks[column], args) for column in columns]
        print(f"{name:14s} | " + " | ".join(f"{cell:28s}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
