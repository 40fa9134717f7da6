"""The seed sweep run on the lent 16-core machine (twentieth session): ``bench_qmix.py`` once per (arm, seed), one
single-thread training per core, each arm a copy of the repository whose ``hyperparams/qmix.yml`` entry for the map
gets extra lines. Results are appended to ``$OUT/results.txt`` as trainings end; at ``--deadline`` seconds the ones
still running are stopped and listed. Run by ``device_run.sh``; kept as the record of how ``device_3s_vs_3z_sweep.txt``
was made (tidied for the linter after the run: names and imports only)."""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARMS = {  # arm name -> (map, extra lines for that map's yml entry)
    "base3s": ("3s_vs_3z", ""),
    "eps3s": ("3s_vs_3z", "  optimizer_kwargs: {eps: !!float 1e-5}\n"),
    "big3s": (
        "3s_vs_3z",
        "  optimizer_kwargs: {eps: !!float 1e-5}\n"
        "  policy_kwargs: {rnn_hidden_dim: 128, mixing_embed_dim: 32, hypernet_embed: 64}\n",
    ),
    "base2s3z": ("2s3z", ""),
}


def make_arm(name: str) -> Path:
    """A copy of the repository with the arm's yml lines (made once per arm)."""
    map_name, extra = ARMS[name]
    tree = Path("/tmp") / f"arm_{name}"
    if not tree.exists():
        shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", ".whl", ".sweep", "docs", "tests"))
        yml = tree / "hyperparams" / "qmix.yml"
        text = yml.read_text()
        anchor = f"{map_name}:\n  <<: *default\n"
        assert anchor in text, anchor
        yml.write_text(text.replace(anchor, anchor + extra, 1))
    return tree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", nargs="+", required=True, help="arm:seed")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--deadline", type=float, default=560, help="seconds from start")
    parser.add_argument("--timesteps", type=int, default=0)
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.txt"
    start = time.time()
    pending = [job.split(":") for job in args.jobs]
    running = []
    site = os.environ.get("PYTHONPATH", "")
    while pending or running:
        while pending and len(running) < args.workers:
            arm, seed = pending.pop(0)
            tree = make_arm(arm)
            env = {**os.environ, "PYTHONPATH": f"{tree}:{site}", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            command = [sys.executable, "bench_qmix.py", "--skip-update-timing", "--threads", "1"]
            command += ["--wide-test-episodes", "256", "--maps", ARMS[arm][0], "--seeds", seed]
            command += ["--timesteps", str(args.timesteps)]
            log = open(out / f"log_{arm}_{seed}.tmp", "w")  # noqa: SIM115 (closed when the training ends)
            proc = subprocess.Popen(command, cwd=tree / "benchmarks", env=env, stdout=log, stderr=subprocess.STDOUT)
            running.append((arm, seed, proc, log, time.time()))
        time.sleep(2)
        for item in list(running):
            arm, seed, proc, log, _ = item
            if proc.poll() is not None:
                log.close()
                text = Path(log.name).read_text()
                lines = [line for line in text.splitlines() if "seed=" in line and "win_rate=" in line]
                with results.open("a") as file:
                    if proc.returncode == 0 and lines:
                        file.write(f"{arm} t={time.time() - start:.0f}s {lines[0]}\n")
                    else:
                        file.write(f"{arm} seed={seed} FAILED rc={proc.returncode}: {text[-1500:]!r}\n")
                running.remove(item)
        if time.time() - start > args.deadline:
            with results.open("a") as file:
                for arm, seed, proc, _, started in running:
                    proc.kill()
                    file.write(f"{arm} seed={seed} UNFINISHED after {time.time() - started:.0f}s\n")
                for arm, seed in pending:
                    file.write(f"{arm} seed={seed} NOT STARTED\n")
            break
    for tmp in out.glob("log_*.tmp"):
        tmp.unlink()


if __name__ == "__main__":
    main()
