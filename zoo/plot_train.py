"""Learning curves from the runs' ``evaluations.npz``: win rate and return against env steps, one panel per map.

Each curve is one algorithm and one kind of evaluation (clean, or under ``zoo/train.py --eval-attack`` at its budget,
read from the run's ``args.yml`` / ``config.yml``): the mean over its runs (seeds) of the per-evaluation mean, with a
band of one standard deviation across runs. Runs are cut to the evaluation steps they all have (a note names the runs
that limit them and the evaluations dropped). Runs made with ``-uuid`` (``<map>_<id>_<uuid4>``) are read too; runs
without evaluations are skipped with a note.

Example::

    python zoo/plot_train.py -a qmix fgsm -e 3m 2s3z -f logs -o curves.png
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable so `zoo.*` resolves
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sb3_marl.common.validation import finite_array, is_finite_number
from zoo.utils import (
    ALGOS,
    ZooArgumentParser,
    floats_read,
    map_name_argument,
    one_line,
    paper_epsilon,
    read_run_yaml,
    run_folders,
    save_figure,
)

METRICS = ("win rate", "return")


def _evaluations(data: np.lib.npyio.NpzFile, path: Path) -> dict[str, np.ndarray]:
    """``timesteps`` and the per-evaluation win rate (from ``wins``, or SB3's ``successes``) and mean return of one
    run, checked as a hand-edited file may break them: finite numbers, ``timesteps`` 1-D and strictly increasing (one
    evaluation per step, in order: the curves are drawn and aligned by step), the episodes of one evaluation per row.

    :raises ValueError, TypeError: naming the array and what is wrong.
    """
    key = "wins" if "wins" in data.files else "successes"
    if key not in data.files:
        raise SystemExit(f"{path} has no wins/successes array (arrays: {data.files})")
    timesteps = finite_array("timesteps", data["timesteps"], "the env step of each evaluation")
    if timesteps.ndim != 1:
        raise ValueError(f"timesteps has shape {timesteps.shape}: expected the env step of each evaluation (1-D)")
    later = np.diff(timesteps) > 0
    if not later.all():
        i = int(np.argmin(later))
        raise ValueError(
            f"timesteps are not strictly increasing: evaluation {i + 1} at step {timesteps[i]}, evaluation {i + 2} at "
            f"step {timesteps[i + 1]} (one evaluation per step, in order)"
        )
    metrics = {}
    expected = f"(evaluations, episodes) = ({len(timesteps)}, >= 1) as timesteps has {len(timesteps)} evaluations"
    for metric, name in (("win rate", key), ("return", "results")):
        values = finite_array(name, data[name], expected)
        if values.ndim != 2 or len(values) != len(timesteps) or values.shape[1] == 0:
            raise ValueError(f"{name} has shape {values.shape}: expected {expected}")
        metrics[metric] = np.asarray(values, dtype=float).mean(axis=1)
    return {"timesteps": timesteps, **metrics}


def evaluation_label(run: Path, env_name: str) -> str:
    """What a run's evaluations measured: ``"clean"``, or ``"under <attack> ε=<budget>"`` from the ``--eval-attack``
    of its ``<run>/<env>/args.yml`` (clean when the file is missing) and the budget the run used, as ``zoo/train.py``
    decides it: ``--eval-epsilon``, else the run's ``config.yml`` ``epsilon``, else the paper's for the map."""
    settings = run / env_name
    args = read_run_yaml(settings / "args.yml")
    attack = args.get("eval_attack") or "none"
    if attack == "none":
        return "clean"
    epsilon, source = args.get("eval_epsilon"), (settings / "args.yml", "eval_epsilon")
    if epsilon is None:
        epsilon = read_run_yaml(settings / "config.yml").get("epsilon", paper_epsilon(env_name))
        source = (settings / "config.yml", "epsilon")
    epsilon = floats_read(epsilon)  # 1e-1, which YAML 1.1 reads as a string
    if not (is_finite_number(epsilon) and epsilon > 0):
        raise SystemExit(f"{source[0]}: {source[1]}={epsilon!r} must be a finite number > 0 (the attack's budget)")
    return f"under {attack} ε={epsilon:g}"


def load_runs(folder: Path, algo: str, env_name: str) -> list[dict[str, np.ndarray]]:
    """``timesteps``, one array per metric, the ``evaluation`` label (:func:`evaluation_label`) and the run
    ``folder`` of every run ``<folder>/<algo>/<env>_<id>[_<uuid>]/evaluations.npz``; a run without evaluations is
    skipped with a note, an unreadable file ends in one line naming it."""
    runs = []
    for _, run in run_folders(folder / algo, env_name, with_uuid=True):
        path = run / "evaluations.npz"
        if not path.is_file():
            continue
        try:
            with np.load(path) as data:
                if np.size(data["timesteps"]) == 0:
                    print(f"Note: skipping {path}: it holds no evaluations")
                    continue
                runs.append(_evaluations(data, path))
        except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise SystemExit(f"Cannot read {path}: {one_line(exc)}") from None
        runs[-1]["evaluation"] = evaluation_label(run, env_name)
        runs[-1]["folder"] = str(run)
    return runs


def cut_note(runs: list[dict[str, np.ndarray]], steps: np.ndarray, name: str) -> str | None:
    """The note naming the runs whose evaluation steps limit the curve ``name`` (``steps``: those all runs share)
    and the evaluations the others lose; None when no run loses any."""
    dropped = {run["folder"]: len(run["timesteps"]) - len(steps) for run in runs}
    if not any(dropped.values()):
        return None
    limiting = [run["folder"] for run in runs if len(run["timesteps"]) == len(steps)] or [
        min(runs, key=lambda run: len(run["timesteps"]))["folder"]
    ]
    lost = ", ".join(f"{folder}: {n}" for folder, n in dropped.items() if n)
    return (
        f"Note: {name}: cut to the {len(steps)} evaluation steps (up to {int(steps[-1])}) that "
        f"{', '.join(limiting)} {'has' if len(limiting) == 1 else 'have'}; evaluations dropped: {lost}"
    )


def aggregate(runs: list[dict[str, np.ndarray]], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timesteps, mean over runs, std over runs) of ``metric`` at the evaluation steps every run has (runs cut
    short or evaluated more often contribute those steps only); ``SystemExit`` when the runs share none."""
    steps = runs[0]["timesteps"]
    for run in runs[1:]:
        steps = np.intersect1d(steps, run["timesteps"])
    if len(steps) == 0:
        grids = "; ".join(f"{run['folder']}: {run['timesteps'][:4].tolist()}" for run in runs)
        raise SystemExit(
            f"the runs were evaluated at different steps (first ones: {grids}): plot them separately (move the runs "
            "that do not line up, e.g. continued with -i or evaluated at another --eval-freq, to another folder)"
        )
    values = np.stack([run[metric][np.searchsorted(run["timesteps"], steps)] for run in runs])
    return steps, values.mean(axis=0), values.std(axis=0)


def plot_curves(folder: Path, algos: list[str], envs: list[str], output: Path) -> Path:
    """Draw the curves of every (algo, map) that has runs into ``output`` (PNG); ``SystemExit`` when none has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(METRICS), len(envs), figsize=(4.5 * len(envs), 3.2 * len(METRICS)), squeeze=False)
    found = False
    for col, env_name in enumerate(envs):
        for algo in algos:
            groups: dict[str, list[dict[str, np.ndarray]]] = {}
            for run in load_runs(folder, algo, env_name):  # runs evaluated alike share a curve
                groups.setdefault(str(run["evaluation"]), []).append(run)
            found = found or bool(groups)
            for evaluation, runs in groups.items():
                name = algo if evaluation == "clean" else f"{algo} {evaluation}"
                for row, metric in enumerate(METRICS):
                    steps, mean, std = aggregate(runs, metric)
                    note = cut_note(runs, steps, f"{env_name} {name}") if row == 0 else None
                    if note:
                        print(note)
                    ax = axes[row, col]
                    label = f"{name} ({len(runs)} run{'s' * (len(runs) > 1)})"
                    marker = "o" if len(steps) < 3 else None  # a line through one point draws nothing
                    ax.plot(steps, mean, marker=marker, label=label)
                    ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        for row, metric in enumerate(METRICS):
            axes[row, col].set_title(f"{env_name}: {metric}")
            axes[row, col].set_xlabel("env steps")
            axes[row, col].grid(alpha=0.3)
        axes[0, col].set_ylim(-0.02, 1.02)
        if axes[0, col].lines:
            axes[0, col].legend(fontsize="small")
    if not found:
        plt.close(fig)
        raise SystemExit(f"No evaluations.npz for algos {algos} and maps {envs} under {folder}")
    fig.tight_layout()
    return save_figure(fig, output)


def main(argv: list[str] | None = None) -> Path:
    """Parse ``argv`` and write the plot; returns its path."""
    parser = ZooArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-a", "--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS), help="algorithms")
    parser.add_argument("-e", "--env", nargs="+", required=True, type=map_name_argument, help="SMAC maps")
    parser.add_argument("-f", "--exp-folder", default="logs", help="log folder of the runs")
    parser.add_argument(
        "-o",
        "--output",
        default="",
        help="image file, e.g. .png, .pdf, .svg (default: <exp-folder>/learning_curves.png)",
    )
    args = parser.parse_args(argv)
    output = Path(args.output) if args.output else Path(args.exp_folder) / "learning_curves.png"
    path = plot_curves(Path(args.exp_folder), args.algos, args.env, output)
    print(f"Saved {path}")
    return path


if __name__ == "__main__":
    main()
