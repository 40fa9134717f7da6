"""Throughput of the built-in SMAC simulator: env-steps per second with random valid actions.

    python benchmarks/bench_env.py                       # 3m and 2s3z, n_envs 1, 8, 64, 1024, CPU
    python benchmarks/bench_env.py --device cuda --maps 3m --n-envs 1024 8192
    python benchmarks/bench_env.py --compile --compare-eager --maps 3m --n-envs 8   # compiled vs eager, one run

Actions are sampled on the device from the availability masks; finished envs are reset in place.  Prints one line
per (map, n_envs): the median env-steps/s (n_envs x steps / wall time) of ``--repeats`` timed runs, after 5 warm-up
steps (which include compiling or loading the compiled step with ``--compile``), and the memory the setting added:
the growth of the process's resident memory from before the env was built to after its runs (CPU), or the peak of
CUDA memory allocated during the setting. With ``--compile --compare-eager`` an eager env of the same setting is timed
in the same process, its runs alternating with the compiled env's, and the line gives both and their ratio. With
``--compile`` the line ends with the wall time of the warm-up steps: the step's compile on a machine's first run of
that setting, later a load from torch's on-disk cache (``TORCHINDUCTOR_CACHE_DIR=$(mktemp -d)`` times a first run).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import psutil
import torch

from sb3_marl.envs import SMACSimulator
from sb3_marl.envs.base import batch_seed
from sb3_marl.envs.maps import MAP_NAMES
from zoo.utils import resolve_device


class Stepper:
    """An env of one setting stepped with random available actions (the timed work)."""

    def __init__(self, map_name: str, n_envs: int, device: str, seed: int, compile: bool) -> None:
        self.env = SMACSimulator(map_name, n_envs=n_envs, device=device, seed=seed, compile=compile)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.n_envs, self.device = n_envs, device
        _, _, self.avail = self.env.reset()
        start = time.perf_counter()
        self.run(5)  # warm-up (compiles the step, or loads it from torch's cache, with compile)
        self.warm_up_s = time.perf_counter() - start  #: seconds of the 5 warm-up steps

    def run(self, steps: int) -> None:
        for _ in range(steps):
            actions = torch.multinomial(self.avail.flatten(0, 1).float(), 1, generator=self.generator)
            _, _, self.avail, _, terminated, _ = self.env.step(actions.view(self.n_envs, -1))
            if terminated.any():
                _, _, self.avail = self.env.reset(terminated)

    def timed_rate(self, steps: int) -> float:
        """Env-steps per second of ``steps`` batched steps."""
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.run(steps)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        return self.n_envs * steps / (time.perf_counter() - start)


def measure(args: argparse.Namespace, map_name: str, n_envs: int) -> str:
    """The result line of one (map, n_envs) setting."""
    gc.collect()
    if args.compile:
        torch._dynamo.reset()  # each setting compiles afresh: no compile cache limit turns later settings eager
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    rss_before = psutil.Process().memory_info().rss
    first = "compiled" if args.compile else "eager"
    steppers = {first: Stepper(map_name, n_envs, args.device, args.seed, args.compile)}
    if args.compare_eager:
        steppers["eager"] = Stepper(map_name, n_envs, args.device, args.seed, compile=False)
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(args.repeats):  # alternating, so that a slower spell of the machine hits both alike
        for name, stepper in steppers.items():
            rates[name].append(stepper.timed_rate(args.steps))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    line = f"{map_name:>10} n_envs={n_envs:>6}  " + "  ".join(
        f"{name} {rate:>12,.0f} env-steps/s" for name, rate in medians.items()
    )
    if args.compare_eager:
        line += f"  compiled/eager x{medians['compiled'] / medians['eager']:.2f}"
    if args.compile:
        line += f"  warm-up {steppers['compiled'].warm_up_s:.1f} s"
    line += f"  RSS added {(psutil.Process().memory_info().rss - rss_before) / 2**20:,.0f} MiB"
    if args.device.startswith("cuda"):
        line += f"  peak CUDA {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB"
    return line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", nargs="+", default=["3m", "2s3z"], help="SMAC map names")
    parser.add_argument("--n-envs", nargs="+", type=int, default=[1, 8, 64, 1024], help="batch sizes")
    parser.add_argument("--steps", type=int, default=200, help="batched steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (the median is printed)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, auto (cuda when available)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the envs and of the random actions")
    parser.add_argument("--compile", action="store_true", help="SMACSimulator(compile=True): torch.compile'd step")
    parser.add_argument(
        "--compare-eager", action="store_true", help="with --compile: also time an eager env of each setting"
    )
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad settings before anything runs (a later setting would fail after the earlier ones had run)."""
    unknown = [name for name in args.maps if name not in MAP_NAMES]
    if unknown:
        parser.error(f"unknown map(s) {unknown}; known: {', '.join(MAP_NAMES)}")
    for flag, values in (("--n-envs", args.n_envs), ("--steps", [args.steps]), ("--repeats", [args.repeats])):
        if min(values) < 1:
            parser.error(f"{flag} must be >= 1, got {values if len(values) > 1 else values[0]}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    try:  # a device torch does not know, or this machine lacks, failed in the first setting's env or memory stats
        args.device = resolve_device(args.device)
    except SystemExit as error:
        parser.error(str(error))
    try:
        batch_seed(args.seed, max(args.n_envs))
    except ValueError as error:
        parser.error(f"--seed: {error}")
    if args.compare_eager and not args.compile:
        parser.error("--compare-eager compares the compiled step with the eager one: give --compile too")


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    check_args(parser, args)
    torch.set_num_threads(args.threads)
    print(
        f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} steps={args.steps} "
        f"repeats={args.repeats} seed={args.seed} compile={args.compile}"
    )
    for map_name in args.maps:
        for n_envs in args.n_envs:
            print(measure(args, map_name, n_envs), flush=True)


if __name__ == "__main__":
    main()
