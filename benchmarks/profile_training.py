"""Where a QMIX training spends its time: cProfile of a short run with a map's settings of hyperparams/qmix.yml.

    python benchmarks/profile_training.py --map 2m_vs_1z --timesteps 30000            # compiled simulator step
    python benchmarks/profile_training.py --map 3m --timesteps 20000 --top 40 --eager

Prints the wall time and the functions that took the most time themselves (cProfile's ``tottime``). The map trains with
its entry of hyperparams/qmix.yml (``default`` for a map without one). The wall time includes cProfile's own overhead
and, unless ``--eager``, compiling the simulator step (or loading it from torch's on-disk cache: a commit that changes
the simulator compiles afresh once). Run it from two commits to see what a change to the update or the collection
costs; the figures depend on the machine and its load, so compare runs made one after the other on a quiet machine.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch
from bench_qmix import yml_model

from sb3_marl.envs.maps import MAP_NAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--map", default="2m_vs_1z", help="SMAC map (its hyperparams/qmix.yml entry, else default)")
    parser.add_argument("--timesteps", type=int, default=30_000, help="env steps to train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=25, help="functions to print")
    parser.add_argument("--eager", action="store_true", help="do not torch.compile the simulator step")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    if args.map not in MAP_NAMES:
        parser.error(f"unknown map {args.map!r}; known: {', '.join(MAP_NAMES)}")
    for flag, value, low in (
        ("--timesteps", args.timesteps, 1),
        ("--top", args.top, 1),
        ("--threads", args.threads, 1),
    ):
        if value < low:
            parser.error(f"{flag} must be >= {low}, got {value}")
    if not 0 <= args.seed <= 2**32 - 64:
        parser.error(f"--seed must be in [0, 2**32 - 64], got {args.seed}")
    torch.set_num_threads(args.threads)
    model, _ = yml_model(args.map, args.seed, compile_step=not args.eager)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model.learn(args.timesteps)
    profiler.disable()
    print(
        f"{args.map} seed={args.seed} steps={model.num_timesteps} wall={time.perf_counter() - start:.1f}s "
        f"compile={not args.eager} threads={args.threads}"
    )
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
