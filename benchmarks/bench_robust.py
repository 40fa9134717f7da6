"""Vanilla QMIX vs RobustQMIXFGSM vs RegularizedQMIX under no attack, random noise, FGSM and PGD.

Trains the three models on one SMAC map of the built-in simulator with the paper's budgets (vanilla QMIX 205k
env steps on clean observations; the two defences 405k, RegularizedQMIX starting from the vanilla model), then
prints, for every model and attack, the win rate and the episode return (mean ± std) over greedy test episodes
with every agent attacked at every step (paper §V, Table I protocol for the gradient attacks).

Example (the paper's setting on 3m; a reduced smoke run is ``--qmix-steps 2000 --robust-steps 2000``)::

    python benchmarks/bench_robust.py --map 3m --epsilon 0.2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sb3_marl import QMIX, RegularizedQMIX, RobustQMIXFGSM
from sb3_marl.attacks import FGSM, PGD, BaseAttack, RandomNoise
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.envs.make_env import make_env
from zoo.enjoy import paper_epsilon


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--map", default="3m", help="SMAC map name (paper: 2m_vs_1z, 3m, 3s_vs_3z, 2s3z)")
    parser.add_argument("--epsilon", type=float, default=None, help="l-inf budget (default: 0.05 on 2s3z, else 0.2)")
    parser.add_argument("--qmix-steps", type=int, default=205_000, help="env steps of vanilla QMIX")
    parser.add_argument("--robust-steps", type=int, default=405_000, help="env steps of each defence")
    parser.add_argument("--n-envs", type=int, default=8, help="training episodes simulated as one batch")
    parser.add_argument("--n-eval-episodes", type=int, default=32, help="test episodes per model and attack")
    parser.add_argument("--pgd-steps", type=int, default=10, help="steps of the PGD test attack")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and of the test envs")
    parser.add_argument("--device", default="auto", help="torch device (auto, cpu, cuda)")
    parser.add_argument("--save-dir", type=Path, default=None, help="save the trained models there")
    parser.add_argument("--qmix-model", type=Path, default=None, help="reuse this trained QMIX instead of training")
    return parser.parse_args()


def train_models(args: argparse.Namespace, epsilon: float) -> dict[str, QMIX]:
    """Train (or load) vanilla QMIX, then RobustQMIXFGSM and RegularizedQMIX; print each one's wall time."""
    common = {"n_envs": args.n_envs, "seed": args.seed, "device": args.device}
    models: dict[str, QMIX] = {}
    start = time.perf_counter()
    if args.qmix_model is not None:
        models["Vanilla QMIX"] = QMIX.load(args.qmix_model, env=args.map, device=args.device)
    else:
        models["Vanilla QMIX"] = QMIX(args.map, **common).learn(args.qmix_steps)
    print(f"Vanilla QMIX ready in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    models["FGSM"] = RobustQMIXFGSM(args.map, epsilon=epsilon, **common).learn(args.robust_steps)
    print(f"RobustQMIXFGSM trained in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    regularized = RegularizedQMIX(args.map, epsilon=epsilon, pretrained=models["Vanilla QMIX"], **common)
    models["Policy Regularization"] = regularized.learn(args.robust_steps)
    print(f"RegularizedQMIX trained in {time.perf_counter() - start:.0f} s")
    if args.save_dir is not None:
        for name, model in models.items():
            model.save(args.save_dir / f"{name.lower().replace(' ', '_')}_{args.map}.zip")
    return models


def make_test_attacks(
    epsilon: float, pgd_steps: int, obs_low: torch.Tensor, obs_high: torch.Tensor, seed: int
) -> dict[str, BaseAttack | None]:
    """The test columns: no attack, uniform noise, FGSM and PGD, all agents attacked at every step."""
    bounds = {"obs_low": obs_low, "obs_high": obs_high, "seed": seed}
    return {
        "No Attack": None,
        "Random": RandomNoise(epsilon, **bounds),
        "FGSM": FGSM(epsilon, **bounds),
        f"PGD-{pgd_steps}": PGD(epsilon, n_steps=pgd_steps, **bounds),
    }


def main() -> None:
    args = parse_args()
    epsilon = args.epsilon if args.epsilon is not None else paper_epsilon(args.map)
    print(f"map={args.map} epsilon={epsilon} qmix_steps={args.qmix_steps} robust_steps={args.robust_steps}")
    models = train_models(args, epsilon)
    env = make_env(args.map, n_envs=min(args.n_eval_episodes, 32), seed=args.seed + 1, device=models["FGSM"].device)
    attacks = make_test_attacks(epsilon, args.pgd_steps, env.obs_low, env.obs_high, args.seed)
    print(f"\n{args.n_eval_episodes} greedy test episodes per cell: win rate, return mean ± std")
    print(f"{'model':<22}" + "".join(f"{name:>26}" for name in attacks))
    for model_name, model in models.items():
        cells = []
        for attack in attacks.values():
            env.reset(seed=args.seed + 1)
            win_rate, mean_return, std_return = evaluate_policy(model, env, args.n_eval_episodes, attack=attack)
            cells.append(f"{win_rate:.2f}  {mean_return:7.3f}±{std_return:6.3f}")
        print(f"{model_name:<22}" + "".join(f"{cell:>26}" for cell in cells))


if __name__ == "__main__":
    main()
