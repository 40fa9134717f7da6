"""Throughput of the built-in SMAC simulator: env-steps per second with random valid actions.

    python benchmarks/bench_env.py                       # 3m and 2s3z, n_envs 1, 8, 64, 1024, CPU
    python benchmarks/bench_env.py --device cuda --maps 3m --n-envs 1024 8192
    python benchmarks/bench_env.py --compile --maps 3m --n-envs 1 1024   # torch.compile'd step (slow first step)

Actions are sampled on the device from the availability masks; finished envs are reset in place.  Prints one line
per (map, n_envs) with env-steps/s (n_envs x steps / wall time) and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from sb3_marl.envs import SMACSimulator


def bench(map_name: str, n_envs: int, n_steps: int, device: str, seed: int, compile: bool = False) -> float:
    """Env-steps per second of ``n_steps`` batched steps of ``n_envs`` envs (after 5 warm-up steps, which include
    the compilation when ``compile``)."""
    env = SMACSimulator(map_name, n_envs=n_envs, device=device, seed=seed, compile=compile)
    gen = torch.Generator(device=device).manual_seed(seed)
    _, _, avail = env.reset()

    def run(steps: int) -> torch.Tensor:
        nonlocal avail
        for _ in range(steps):
            actions = torch.multinomial(avail.flatten(0, 1).float(), 1, generator=gen).view(n_envs, -1)
            _, _, avail, _, terminated, _ = env.step(actions)
            if terminated.any():
                _, _, avail = env.reset(terminated)
        return avail

    run(5)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(n_steps)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n_envs * n_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", nargs="+", default=["3m", "2s3z"], help="SMAC map names")
    parser.add_argument("--n-envs", nargs="+", type=int, default=[1, 8, 64, 1024], help="batch sizes")
    parser.add_argument("--steps", type=int, default=200, help="timed batched steps per measurement")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="SMACSimulator(compile=True): torch.compile'd step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} steps={args.steps} "
        f"compile={args.compile}"
    )
    for map_name in args.maps:
        for n_envs in args.n_envs:
            rate = bench(map_name, n_envs, args.steps, args.device, args.seed, args.compile)
            peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            line = f"{map_name:>10} n_envs={n_envs:>6}  {rate:>12,.0f} env-steps/s  peak RSS {peak_mib:,.0f} MiB"
            if args.device.startswith("cuda"):
                line += f"  peak CUDA {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB"
            print(line, flush=True)


if __name__ == "__main__":
    main()
