"""Reproduce the paper's cross-attack table (Table I) end to end: train every model, attack it, tabulate.

For each map, method and seed the model is trained with the zoo's hyperparameters (``hyperparams/<method>.yml``;
finished runs of the log folder with the same seed and budget are reused; ``regularized`` starts from the ``qmix``
model of the same map and seed, trained first when missing). Then every model is tested under every attack
(``atla`` and ``paad``: an attacker trained against that model first, ``--attacker-timesteps`` env steps):
win rate and return mean ± std over ``--n-eval-episodes`` greedy episodes. Each cell is cached in
``<out>/cells/`` as soon as it is done, and learned attackers next to their model, so an interrupted run resumes
where it stopped. Outputs in ``--out``: ``results.json``, ``table.md`` (the paper's layout), ``heatmap.png``, and
``epsilon_sweep.png`` with several ``--epsilons``, and ``comparison.md`` (our win rates beside the paper's Table I);
a run with failed or interrupted jobs writes ``results.partial.json``, ``table.partial.md``, ... instead, keeping
the last complete run's. An ``--out`` holds the results of one setting of the flags that decide the cells
(``--n-eval-episodes``, ``--attacker-timesteps``, ``--timesteps-scale``, ``-params``, ``--no-clip``; recorded in
``<out>/settings.json``): a run with others is refused, one with the same may add maps, methods, attacks, budgets.

Independent jobs (training per map × method × seed, then evaluation per cell) run on a ``concurrent.futures``
executor: a process pool (``--n-jobs``), or a Dask cluster (``--executor dask --scheduler-address tcp://host:8786``,
workers sharing the file system; see docs/results/README.md).

Examples::

    python zoo/benchmark.py -f logs --out docs/results/paper --seed 0            # the paper's table, full budgets
    python zoo/benchmark.py --maps 3m --timesteps-scale 0.02 --attacker-timesteps 2000 --out /tmp/smoke
    python zoo/benchmark.py --maps 3m --methods qmix fgsm --attacks none fgsm pgd random --epsilons 0.05 0.1 0.2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable so `zoo.*` resolves
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sb3_marl.common.base_class import constructor_defaults
from zoo.benchmark_jobs import (
    DEPENDENCIES,
    EVAL_SEED_OFFSET,
    TEST_ATTACKS,
    CellJob,
    TrainJob,
    atomic_write_json,
    check_training_settings,
    code_revision,
    evaluate_cell,
    read_json,
    train_model,
    training_env_kwargs,
)
from zoo.paper_table import PAPER_ATTACKS, PAPER_MAPS, PAPER_METHODS, comparison_markdown
from zoo.plot_heatmap import load_table, plot_heatmap
from zoo.utils import (
    ALGOS,
    LEARNED_ATTACKS,
    ZooArgumentParser,
    accepted_kwargs,
    add_hyperparams_flag,
    hyperparams_entry,
    map_name_argument,
    paper_epsilon,
    resolve_device,
    unwritable_folder,
)

#: an upper bound on the envs of one batch a job builds (the yml's training n_envs, at most 16; test envs, 8)
MAX_BATCH_ENVS = 64

#: row and column labels of the paper's Table I
METHOD_LABELS = {
    "qmix": "Vanilla QMIX",
    "fgsm": "FGSM",
    "regularized": "Policy Regularization",
    "atla": "ATLA",
    "paad": "PA-AD",
}
ATTACK_LABELS = {
    "none": "No attack",
    "fgsm": "FGSM",
    "atla": "ATLA",
    "paad": "PA-AD",
    "random": "Random noise",
    "pgd": "PGD",
}


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The command-line flags; ``description`` replaces this module's docstring in ``--help`` (a preset script's)."""
    parser = ZooArgumentParser(description=description or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--maps", nargs="+", type=map_name_argument, default=list(PAPER_MAPS), help="SMAC maps (default: the paper's)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(PAPER_METHODS),
        choices=PAPER_METHODS,
        help="training methods (zoo algorithm names)",
    )
    parser.add_argument(
        "--attacks",
        nargs="+",
        default=list(PAPER_ATTACKS),
        choices=TEST_ATTACKS,
        help="test-time attacks (the paper's: none fgsm atla paad; extra: random pgd)",
    )
    parser.add_argument("-f", "--log-folder", default="logs", help="zoo log folder: trained models are read and saved")
    parser.add_argument(
        "--out",
        default="logs/benchmark",
        help="folder of the results (JSON, Markdown, PNG, cells), of one setting of --n-eval-episodes, "
        "--attacker-timesteps, --timesteps-scale, -params and --no-clip",
    )
    parser.add_argument("--seed", type=int, default=0, help="first training seed")
    parser.add_argument("--n-seeds", type=int, default=1, help="seeds seed..seed+K-1 per map and method")
    parser.add_argument("--n-eval-episodes", type=int, default=32, help="test episodes per cell")
    parser.add_argument(
        "--attacker-timesteps",
        type=int,
        default=50_000,
        help="env steps of each learned (ATLA, PA-AD) test-time attacker",
    )
    parser.add_argument(
        "--timesteps-scale",
        type=float,
        default=1.0,
        help="multiplies every training budget of the yaml files (e.g. 0.02 for a smoke run); -params budgets are "
        "taken as given",
    )
    parser.add_argument(
        "--epsilons",
        nargs="+",
        type=float,
        default=None,
        help="attack budgets to sweep (default: the paper's, 0.2 and 0.05 on 2s3z)",
    )
    parser.add_argument(
        "--n-attacked",
        nargs="+",
        type=int,
        default=None,
        help="numbers M of attacked agents, drawn at random among the live agents each step (default: all agents)",
    )
    parser.add_argument(
        "--no-clip",
        dest="clip_observations",
        action="store_false",
        help="test attacks do not clip perturbed observations to SMAC's feature ranges (default: "
        "they do, as the training attacks; learned attackers are trained with clipping)",
    )
    add_hyperparams_flag(
        parser,
        "overrides of the training settings, key:value (yaml values), for each method that takes the key",
        default={},
    )
    parser.add_argument(
        "--executor",
        default="process",
        choices=["process", "dask"],
        help="process: a local process pool of --n-jobs; dask: a dask.distributed cluster",
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel jobs of the process pool")
    parser.add_argument(
        "--scheduler-address", default=None, help="Dask scheduler, e.g. tcp://host:8786 (default: a local Dask cluster)"
    )
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads per job")
    parser.add_argument("--device", default="cpu", help="torch device of training and tests")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the simulator's step in every job: collection several times faster after "
        "a one-time compilation per map (about half a minute, cached on disk by torch); results are "
        "the same up to float rounding, and models and cells are reused either way",
    )
    parser.add_argument("--verbose", type=int, default=1, help="0: quiet, 1: a line per job, 2: training logs too")
    return parser


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject bad values with one line naming the value and what is allowed; drop repeated list entries."""
    from sb3_marl.common.validation import MAX_SEED
    from sb3_marl.envs import get_map_params

    args.maps, args.methods, args.attacks = _unique(args.maps), _unique(args.methods), _unique(args.attacks)
    for name in ("n_seeds", "n_eval_episodes", "attacker_timesteps", "n_jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.timesteps_scale < float("inf"):
        parser.error(f"--timesteps-scale must be a finite number > 0, got {args.timesteps_scale}")
    if args.torch_threads < 1:
        parser.error(f"--torch-threads must be >= 1, got {args.torch_threads}")
    if args.verbose < 0:
        parser.error(f"--verbose must be >= 0 (0: quiet, 1: a line per job, 2: training logs too), got {args.verbose}")
    if args.epsilons is not None:
        bad = [eps for eps in args.epsilons if not 0 < eps < float("inf")]
        if bad:
            parser.error(f"--epsilons must be > 0, got {bad}")
        args.epsilons = _unique(args.epsilons)
        names = [f"{eps:g}" for eps in args.epsilons]  # the files of cells and attackers are named so
        alike = sorted({name for name in names if names.count(name) > 1})
        if alike:
            parser.error(f"--epsilons {args.epsilons}: values that read alike to 6 digits ({alike}) are one setting")
    if args.n_attacked is not None:
        args.n_attacked = _unique(args.n_attacked)
        for map_name in args.maps:
            n_agents = get_map_params(map_name).n_agents
            bad = [m for m in args.n_attacked if not 1 <= m <= n_agents]
            if bad:
                parser.error(
                    f"--n-attacked {bad} impossible on {map_name}: it has {n_agents} agents (allowed 1..{n_agents})"
                )
    if args.executor != "dask" and args.scheduler_address:
        parser.error("--scheduler-address only applies to --executor dask")
    if args.executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            parser.error("--executor dask needs dask.distributed: pip install 'dask[distributed]'")
        if args.scheduler_address is not None and (problem := scheduler_address_problem(args.scheduler_address)):
            parser.error(f"--scheduler-address {args.scheduler_address!r}: {problem}; expected tcp://host:port")
    last_seed, highest = args.seed + args.n_seeds - 1, MAX_SEED + 1 - EVAL_SEED_OFFSET - MAX_BATCH_ENVS
    if args.seed < 0 or last_seed > highest:
        parser.error(
            f"seeds {args.seed}..{last_seed} (--seed, --n-seeds) must lie in 0..{highest} (the test envs of seed s "
            f"play s + {EVAL_SEED_OFFSET} + b for env b, and env seeds are unsigned 32-bit)"
        )
    try:
        args.device = resolve_device(args.device)
    except SystemExit as exc:
        parser.error(str(exc))
    for flag, folder, subfolders in (("--out", args.out, ("", "cells")), ("-f", args.log_folder, ("",))):
        if not folder:  # Path("") is the current folder
            parser.error(f"{flag} '': an empty path; name a folder")
        for subfolder in subfolders:  # checked now: runs are written when their training starts, cells after it
            if problem := unwritable_folder(Path(folder, subfolder)):
                parser.error(f"{flag} {folder!r}: {problem}")
    methods = trained_methods(args)
    if "pretrained" in args.hyperparams:  # train.py's --pretrained (the job's) would win over it unsaid
        parser.error(
            f"-params pretrained:{args.hyperparams['pretrained']}: regularized starts from the qmix model of its map "
            "and seed that the benchmark trains (or reuses from -f); train or place that model instead"
        )
    unused = [key for key in args.hyperparams if not any(method_hyperparams(m, {key: None}) for m in methods)]
    if unused:
        parser.error(f"-params {unused}: no method of {methods} takes them")
    for job in train_jobs(args, args.torch_threads):  # each method's settings on each map, before hours of training
        if job.seed != args.seed:
            continue
        try:
            check_training_settings(job)
        except RuntimeError as exc:
            if not args.compile:
                raise
            parser.error(f"--compile: {' '.join(str(exc).split())}")
        except (ValueError, TypeError, SystemExit) as exc:
            parser.error(
                f"{job.method} on {job.map_name} refuses its settings (hyperparams/{job.method}.yml with -params): "
                f"{' '.join(str(exc).split())}"
            )
    if args.epsilons is None:
        off_paper = [
            f"{method} on {map_name} trains at epsilon={eps:g}"
            for map_name in args.maps
            for method in methods
            if (eps := training_epsilon(method, map_name, args.hyperparams)) not in (None, paper_epsilon(map_name))
        ]
        if off_paper:
            parser.error(
                f"{'; '.join(off_paper)} but the cells would test at the paper's (0.2; 0.05 on 2s3z): the paper "
                "tests at the training budget; pass --epsilons to choose the test budgets"
            )


def trained_methods(args: argparse.Namespace) -> list[str]:
    """The methods asked for, after the ones they start from (qmix before regularized)."""
    return _unique([dep for method in args.methods if (dep := DEPENDENCIES.get(method))] + args.methods)


def training_epsilon(method: str, map_name: str, hyperparams: dict[str, Any]) -> float | None:
    """The l∞ budget ``method`` trains with on ``map_name`` (``-params``, else its yaml entry, else the algorithm's
    default); None for methods without one (vanilla QMIX)."""
    settings = {
        **constructor_defaults(ALGOS[method].load()),
        **hyperparams_entry(method, map_name),
        **method_hyperparams(method, hyperparams),
    }
    return None if settings.get("epsilon") is None else float(settings["epsilon"])


def method_hyperparams(method: str, hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The ``-params`` entries that apply to ``method``: its algorithm's constructor keywords and the zoo's own keys
    (``n_timesteps``, ``n_envs``, ``env_kwargs``), so that ``-params hinge_c:5`` reaches ``regularized`` but not the
    ``qmix`` model it starts from."""
    from zoo.exp_manager import ZOO_KEYS

    allowed = accepted_kwargs(ALGOS[method].load())
    return {key: value for key, value in hyperparams.items() if allowed is None or key in allowed or key in ZOO_KEYS}


def scheduler_address_problem(address: str) -> str | None:
    """Why ``address`` is no Dask scheduler address (``tcp://host:port``, or another protocol of dask.distributed's:
    ``tls://``, ``inproc://`` of a cluster in this process...), or None; checked without connecting."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)  # no protocol: tcp, as dask.distributed takes it
    if scheme not in registry.backends:
        return f"unknown protocol {scheme!r} (dask.distributed has {', '.join(sorted(registry.backends))})"
    if scheme == "inproc":
        return None
    try:
        host, port = parse_host_port(location)
    except ValueError as exc:
        return str(exc)
    if not host:
        return "no host"
    return None if 1 <= port <= 65535 else f"port {port} outside 1..65535"


# ---------------------------------------------------------------------------------------------------------------------
# The settings of an --out
#: the settings that decide what the cells and tables hold beyond the cells' file names (map, method, seed, attack,
#: ε, M), by their flag: an ``--out`` holds the results of one value of each, recorded in its :data:`SETTINGS_FILE`
OUT_SETTINGS = {
    "n_eval_episodes": "--n-eval-episodes",
    "attacker_timesteps": "--attacker-timesteps",
    "timesteps_scale": "--timesteps-scale",
    "hyperparams": "-params",
    "clip_observations": "--no-clip",
}
#: the file of ``--out`` that records its :data:`OUT_SETTINGS`, written before the first job
SETTINGS_FILE = "settings.json"


def out_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The :data:`OUT_SETTINGS` of a run's configuration (``vars(args)``, or the ``config`` of a results.json), as
    JSON values; ``attacker_timesteps`` only with a learned attack, the only cells it decides."""
    settings = {key: config[key] for key in OUT_SETTINGS if key in config}
    if not set(config.get("attacks") or ()) & set(LEARNED_ATTACKS):
        settings.pop("attacker_timesteps", None)
    return json.loads(json.dumps(settings))


def check_out_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an ``--out`` holding results of other settings (:data:`OUT_SETTINGS`, :func:`recorded_settings`) than
    ``args`` (through :func:`check_args`), with one line naming them: this run would replace its cells and tables."""
    try:
        recorded = recorded_settings(Path(args.out))
    except ValueError as exc:
        parser.error(f"--out {args.out!r}: {exc}")
    if differences := settings_differences(recorded, out_settings(vars(args))):
        parser.error(
            f"--out {args.out!r} holds the results of other settings ({'; '.join(differences)}), which this run "
            "would replace; pass another --out for these settings"
        )


def recorded_settings(out: Path) -> dict[str, Any]:
    """The settings the results in ``out`` were computed with: its :data:`SETTINGS_FILE`, else (outputs written
    before that file was) those of its results.json; empty for a folder without results.

    :raises ValueError: naming the settings file when it holds no JSON object.
    """
    path = out / SETTINGS_FILE
    if path.exists():
        recorded = read_json(path)
        if not isinstance(recorded, dict):
            raise ValueError(f"{path} is no JSON object: it records the settings of the results there; restore it")
        return recorded
    results = read_json(out / OUTPUT_FILES["json"])
    config = results.get("config") if isinstance(results, dict) else None
    return out_settings(config) if isinstance(config, dict) else {}


def settings_differences(recorded: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """The settings (:func:`out_settings`) that ``recorded`` and ``settings`` both have with other values, each as
    ``"<recorded> there, <setting> here"`` in flags."""
    return [
        f"{_as_flags(key, recorded[key])} there, {_as_flags(key, settings[key])} here"
        for key in OUT_SETTINGS
        if key in recorded and key in settings and recorded[key] != settings[key]
    ]


def _as_flags(key: str, value: Any) -> str:
    """A setting of :data:`OUT_SETTINGS` as the flags that give it."""
    if key == "clip_observations" and isinstance(value, bool):
        return "clipped attacks" if value else "--no-clip"
    if key == "hyperparams" and isinstance(value, dict):
        pairs = [f"{name}:{json.dumps(setting)}" for name, setting in sorted(value.items())]
        return f"-params {' '.join(pairs)}" if pairs else "no -params"
    return f"{OUT_SETTINGS[key]} {value}"


# ---------------------------------------------------------------------------------------------------------------------
# Plan
@dataclass(frozen=True)
class Setting:
    """One attack setting of the table: budget ε (None: the paper's for each map) and attacked agents (None: all)."""

    epsilon: float | None
    n_attacked: int | None

    def label(self) -> str:
        eps = "the paper's (0.2; 0.05 on 2s3z)" if self.epsilon is None else f"{self.epsilon:g}"
        agents = "all agents" if self.n_attacked is None else f"{self.n_attacked} agent(s) drawn each step"
        return f"ε = {eps}, attacked: {agents}"

    def epsilon_for(self, map_name: str) -> float:
        return paper_epsilon(map_name) if self.epsilon is None else self.epsilon


def settings_of(args: argparse.Namespace) -> list[Setting]:
    """Every (ε, M) combination asked for."""
    return [Setting(eps, m) for eps in (args.epsilons or [None]) for m in (args.n_attacked or [None])]


def train_jobs(args: argparse.Namespace, torch_threads: int) -> list[TrainJob]:
    """One job per map × method × seed, plus the models the methods depend on (qmix for regularized)."""
    return [
        TrainJob(
            map_name,
            method,
            seed,
            args.log_folder,
            args.timesteps_scale,
            tuple(sorted(method_hyperparams(method, args.hyperparams).items())),
            device=args.device,
            torch_threads=torch_threads,
            verbose=max(args.verbose - 1, 0),
            compile_env=args.compile,
        )
        for map_name in args.maps
        for method in trained_methods(args)
        for seed in range(args.seed, args.seed + args.n_seeds)
    ]


def cell_jobs(args: argparse.Namespace, job: TrainJob, model_path: str, torch_threads: int) -> list[CellJob]:
    """The cells of one trained model: every attack under every setting (``none`` once), in the env the model was
    trained in (its ``env_kwargs``)."""
    env_kwargs = tuple(sorted(training_env_kwargs(job).items()))
    cells = {}
    for setting in settings_of(args):
        for attack in args.attacks:
            clean = attack == "none"
            cell = CellJob(
                job.map_name,
                job.method,
                job.seed,
                model_path,
                attack,
                epsilon=0.0 if clean else setting.epsilon_for(job.map_name),
                n_attacked=None if clean else setting.n_attacked,
                n_eval_episodes=args.n_eval_episodes,
                attacker_timesteps=args.attacker_timesteps,
                cells_folder=str(Path(args.out) / "cells"),
                device=args.device,
                torch_threads=torch_threads,
                clip_observations=clean or args.clip_observations,
                compile_env=args.compile,
                env_kwargs=env_kwargs,
            )
            cells[cell.path] = cell
    return list(cells.values())


# ---------------------------------------------------------------------------------------------------------------------
# Execution: a two-stage DAG (train, then evaluate) on an existing executor
class InlineExecutor(Executor):
    """Runs each job as it is submitted, in the calling thread, so that Ctrl-C stops the job running (a worker
    thread would finish every queued training first). A job's error is its future's, as in a pool."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except (Exception, SystemExit) as exc:  # the zoo reports bad settings with SystemExit
            future.set_exception(exc)
        return future


@contextmanager
def open_executor(args: argparse.Namespace) -> Iterator[Executor]:
    """A ``concurrent.futures`` executor: the calling thread (``--n-jobs 1``), a spawn process pool, or Dask's."""
    if args.executor == "dask":
        from distributed import Client  # installed: checked by check_args

        try:
            client = Client(args.scheduler_address)
        except OSError as exc:  # TimeoutError included
            if args.scheduler_address is None:
                raise
            raise SystemExit(
                f"--scheduler-address {args.scheduler_address!r}: no Dask scheduler answers there "
                f"({' '.join(str(exc).split())}); start one (dask scheduler) or give its tcp://host:port"
            ) from None
        with client:
            yield client.get_executor(pure=False)  # every job runs, even one equal to an earlier one
    elif args.n_jobs == 1:
        yield InlineExecutor()
    else:  # spawn: forked children would inherit torch's thread pools
        with ProcessPoolExecutor(args.n_jobs, mp_context=multiprocessing.get_context("spawn")) as executor:
            yield executor


@dataclass
class RunLog:
    """What a run did: models and cells (computed or reused), the jobs that failed, whether Ctrl-C stopped it."""

    models: dict[tuple[str, str, int], dict[str, Any]]
    cells: list[dict[str, Any]]
    failures: list[str]
    interrupted: bool = False


def run_jobs(
    executor: Executor,
    jobs: list[TrainJob],
    cells_of: Callable[[TrainJob, str], list[CellJob]],
    evaluated_methods: list[str],
    report: Callable[[str], None] = print,
) -> RunLog:
    """Train the models (each dependent one once its dependency is done) and evaluate each model's cells as soon as
    the model is ready. A failed job is reported and skipped; its dependents are not run. Ctrl-C cancels the jobs
    not started and returns what is done (``interrupted``)."""
    log = RunLog({}, [], [])
    blocked = [job for job in jobs if job.method in DEPENDENCIES]
    pending: dict[Future, TrainJob | CellJob] = {}

    def submit(function: Callable[[Any], dict[str, Any]], job: TrainJob | CellJob) -> None:
        pending[executor.submit(function, job)] = job

    def record(job: TrainJob | CellJob, future: Future) -> dict[str, Any] | None:
        """Log a finished job's result (or its failure); returns the result."""
        try:
            result = future.result()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # one failed job must not lose the others' results
            # (a process worker hands back the KeyboardInterrupt it got as its future's exception)
            log.failures.append(f"{job}: {type(exc).__name__}: {exc}")
            report(f"FAILED {job}: {type(exc).__name__}: {exc}")
            return None
        if isinstance(job, CellJob):
            log.cells.append(result)
            report(_cell_line(job, result))
        else:
            log.models[job.key] = result
            report(_model_line(job, result))
        return result

    def follow(job: TrainJob | CellJob, future: Future) -> None:
        """Record a finished job and submit what waited for it."""
        result = record(job, future)
        if result is None or isinstance(job, CellJob):
            return
        for dependent in [d for d in blocked if (d.map_name, DEPENDENCIES[d.method], d.seed) == job.key]:
            blocked.remove(dependent)
            submit(train_model, replace(dependent, pretrained=result["path"]))
        if job.method in evaluated_methods:
            for cell in cells_of(job, result["path"]):
                submit(evaluate_cell, cell)

    try:
        for job in jobs:
            if job.method not in DEPENDENCIES:
                submit(train_model, job)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                follow(pending.pop(future), future)
    except KeyboardInterrupt:
        for future in pending:  # Dask's executor has no cancel_futures
            future.cancel()
        executor.shutdown(wait=False)
        for future, job in pending.items():  # finished before the interrupt: kept, but nothing more is started
            if future.done() and not future.cancelled():
                record(job, future)
        log.interrupted = True
        report(f"Interrupted: {len(log.models)} model(s) and {len(log.cells)} cell(s) done; the other jobs cancelled")
        return log
    log.failures += [f"{job}: not run, its {DEPENDENCIES[job.method]} model failed" for job in blocked]
    return log


def _model_line(job: TrainJob, result: dict[str, Any]) -> str:
    done = f"trained in {result['wall_s']:.1f} s" if result["trained"] else "reused"
    passed_over = "".join(f"; not reused, does not load: {problem}" for problem in result.get("not_reused", []))
    return (
        f"model {job.map_name} {job.method} seed {job.seed} ({result['n_timesteps']} steps): {done} {result['path']}"
        f"{passed_over}"
    )


def _cell_line(job: CellJob, result: dict[str, Any]) -> str:
    where = "cached" if result.get("cached") else f"{result['wall_s']:.1f} s"
    replaced = f"; replaced the invalid cached cell {result['replaced']}" if "replaced" in result else ""
    return (
        f"cell {job.map_name} {job.method} seed {job.seed} {job.attack} eps {job.epsilon:g} M "
        f"{job.n_attacked or 'all'}: win {result['win_rate']:.2f}, return {result['mean_reward']:.2f} ± "
        f"{result['std_reward']:.2f} ({where}){replaced}"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Tables and plots
def aggregate(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group cells over seeds: win rate and return mean ± std. With one seed the return's std is over episodes;
    with several, both spreads are over the seeds' values and ``n_seeds`` says how many."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        s = cell["settings"]
        groups[s["map_name"], s["method"], s["attack"], s["epsilon"], s["n_attacked"]].append(cell)
    rows = []
    for (map_name, method, attack, epsilon, n_attacked), group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        wins = np.array([c["win_rate"] for c in group])
        returns = np.array([c["mean_reward"] for c in group])
        single = len(group) == 1
        rows.append(
            {
                "map": map_name,
                "method": method,
                "attack": attack,
                "epsilon": epsilon,
                "n_attacked": n_attacked,
                "n_seeds": len(group),
                "seeds": sorted(c["settings"]["seed"] for c in group),
                "win_rate": float(wins.mean()),
                "win_rate_std": 0.0 if single else float(wins.std()),
                "mean_reward": float(returns.mean()),
                "std_reward": group[0]["std_reward"] if single else float(returns.std()),
            }
        )
    return rows


def _find(rows: list[dict[str, Any]], map_name: str, method: str, attack: str, setting: Setting) -> dict | None:
    epsilon = 0.0 if attack == "none" else setting.epsilon_for(map_name)
    n_attacked = None if attack == "none" else setting.n_attacked
    for row in rows:
        if (row["map"], row["method"], row["attack"], row["epsilon"], row["n_attacked"]) == (
            map_name,
            method,
            attack,
            epsilon,
            n_attacked,
        ):
            return row
    return None


def _format(row: dict[str, Any] | None, n_seeds: int) -> str:
    """``win rate / return mean ± std`` of a table row, marked ``(n=K)`` when it has K of the ``n_seeds`` seeds."""
    if row is None:
        return "–"
    win = f"{row['win_rate']:.2f}" if row["n_seeds"] == 1 else f"{row['win_rate']:.2f} ± {row['win_rate_std']:.2f}"
    missing = f" (n={row['n_seeds']})" if row["n_seeds"] != n_seeds else ""
    return f"{win} / {row['mean_reward']:.2f} ± {row['std_reward']:.2f}{missing}"


def measured_line(args: argparse.Namespace) -> str:
    """What the cells measured: budgets, learned attackers' steps, test episodes, seeds, clipping."""
    seeds = f"seeds {args.seed}..{args.seed + args.n_seeds - 1}" if args.n_seeds > 1 else f"seed {args.seed}"
    clipping = "clipped to" if args.clip_observations else "NOT clipped to"
    changed = ", ".join(f"{key}={value}" for key, value in sorted(args.hyperparams.items()))
    overrides = f" Settings changed with -params (where a method takes them): {changed}." if changed else ""
    # one learned attacker per model and budget, trained attacking every agent with clipping (train_attacker's
    # defaults), serves the cells of every M and of --no-clip
    shared = []
    if set(args.attacks) & set(LEARNED_ATTACKS):
        if args.n_attacked and any(m is not None for m in args.n_attacked):
            shared.append("every M")
        if not args.clip_observations:
            shared.append("the unclipped test attacks")
    reuse = f", trained attacking every agent with clipping and reused for {' and '.join(shared)}" if shared else ""
    return (
        f"Training budgets × {args.timesteps_scale:g} of hyperparams/*.yml; learned attackers "
        f"{args.attacker_timesteps} env steps{reuse}; {args.n_eval_episodes} test episodes per cell; {seeds}. "
        f"Perturbed observations {clipping} SMAC's feature ranges.{overrides}"
    )


def markdown_table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    """The paper's layout: rows map × method, columns attacks, cell ``win rate / return mean ± std``; one table per
    attack setting."""
    spread = (
        "mean ± std over seeds of the win rate and of the mean return; a cell marked (n=K) has only K seeds' results, "
        "and with one its ± is over that seed's episodes"
        if args.n_seeds > 1
        else f"win rate / return mean ± std over the {args.n_eval_episodes} episodes"
    )
    lines = ["# Cross-attack results (Table I layout)", "", f"{measured_line(args)} Cells: {spread}."]
    header = "| Map | Training method | " + " | ".join(ATTACK_LABELS[a] for a in args.attacks) + " |"
    for setting in settings_of(args):
        lines += ["", f"## {setting.label()}", "", header, "|" + "---|" * (len(args.attacks) + 2)]
        for map_name in args.maps:
            for method in args.methods:
                cells = [
                    _format(_find(rows, map_name, method, attack, setting), args.n_seeds) for attack in args.attacks
                ]
                lines.append(f"| {map_name} | {METHOD_LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def heatmap_records(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records for ``zoo/plot_heatmap.py`` (``map``, ``model``, ``attack``, ``win_rate``), one per table cell."""
    settings = settings_of(args)
    records = []
    for setting in settings:
        for map_name in args.maps:
            for method in args.methods:
                for attack in args.attacks:
                    row = _find(rows, map_name, method, attack, setting)
                    if row is None:
                        continue
                    label = ATTACK_LABELS[attack]
                    if (len(settings) > 1 or setting != Setting(None, None)) and attack != "none":
                        label += f"\nε={row['epsilon']:g} M={row['n_attacked'] or 'all'}"
                    records.append(
                        {
                            "map": map_name,
                            "model": METHOD_LABELS[method],
                            "attack": label,
                            "win_rate": row["win_rate"],
                            "mean_reward": row["mean_reward"],
                        }
                    )
    return list({(r["map"], r["model"], r["attack"]): r for r in records}.values())


def plot_epsilon_sweep(args: argparse.Namespace, rows: list[dict[str, Any]], output: Path) -> Path:
    """Win rate against ε: one panel per map × attack, one line per method (and per M); error bars over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = [a for a in args.attacks if a != "none"]
    fig, axes = plt.subplots(
        len(args.maps), len(attacks), figsize=(3.6 * len(attacks), 2.8 * len(args.maps)), squeeze=False, sharey=True
    )
    for i, map_name in enumerate(args.maps):
        for j, attack in enumerate(attacks):
            ax = axes[i, j]
            for method in args.methods:
                for n_attacked in args.n_attacked or [None]:
                    points = sorted(
                        (r["epsilon"], r["win_rate"], r["win_rate_std"])
                        for r in rows
                        if (r["map"], r["method"], r["attack"], r["n_attacked"])
                        == (map_name, method, attack, n_attacked)
                    )
                    if not points:
                        continue
                    eps, win, std = zip(*points)
                    label = METHOD_LABELS[method] + ("" if n_attacked is None else f", M={n_attacked}")
                    ax.errorbar(
                        eps,
                        win,
                        yerr=std,
                        marker="o",
                        capsize=3,
                        label=label,
                        linestyle="-" if n_attacked is None else "--",
                    )
            ax.set_title(f"{map_name}: {ATTACK_LABELS[attack]}")
            ax.set_xlabel("ε")
            ax.set_ylim(-0.05, 1.05)
            if j == 0:
                ax.set_ylabel("win rate")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


#: the output files of a run in ``--out``, by the key of :func:`write_outputs`' answer (a run with failed or
#: interrupted jobs writes them under other names: :func:`output_file`)
OUTPUT_FILES = {
    "json": "results.json",
    "markdown": "table.md",
    "comparison": "comparison.md",
    "heatmap": "heatmap.png",
    "epsilon_sweep": "epsilon_sweep.png",
}


def output_file(out: Path, key: str, partial: bool) -> Path:
    """The output file ``key`` of :data:`OUTPUT_FILES` in ``out``; a partial run's is ``results.partial.json``,
    ``table.partial.md``, ..."""
    name = Path(OUTPUT_FILES[key])
    return out / (f"{name.stem}.partial{name.suffix}" if partial else name.name)


def write_outputs(
    args: argparse.Namespace, log: RunLog, wall_s: float, report: Callable[[str], None] = print
) -> dict[str, Path]:
    """``results.json``, ``table.md``, ``heatmap.png`` when some cell is done (and ``epsilon_sweep.png``;
    ``comparison.md`` with the paper's Table I win rates beside ours when some cells are the paper's) in ``--out``.
    When jobs failed or were interrupted, their cells are missing: the files are then ``results.partial.json``, ...,
    so that those of the last complete run stay. No other file is replaced or removed: one this run does not draw is
    left as an earlier run with the same settings (:data:`OUT_SETTINGS`) drew it, which ``report`` says. Returns the
    files written."""
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = aggregate(log.cells)
    models = [{"map": k[0], "method": k[1], "seed": k[2], **v} for k, v in sorted(log.models.items())]
    learned = [c["attacker"] for c in log.cells if c["attacker"] and not c.get("cached")]
    results = {
        "config": {key: value for key, value in vars(args).items()},
        "command": " ".join(getattr(sys, "orig_argv", sys.argv)),
        "code": code_revision(),  # of this run; cells and models each record the code that computed them
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "device": args.device,
        },
        "wall_s": wall_s,
        "counts": {
            "models_trained": sum(m["trained"] for m in models),
            "models_reused": sum(not m["trained"] for m in models),
            "cells_computed": sum(not c.get("cached") for c in log.cells),
            "cells_cached": sum(bool(c.get("cached")) for c in log.cells),
            "attackers_trained": sum(a["trained"] for a in learned),
        },
        "models": models,
        "failures": log.failures,
        "table": rows,
        "results": heatmap_records(args, rows),
        "cells": sorted(log.cells, key=lambda c: sorted(c["settings"].items(), key=str)),
    }
    partial = log.interrupted or bool(log.failures)
    paths = {key: output_file(out, key, partial) for key in ("json", "markdown")}
    atomic_write_json(paths["json"], results)
    paths["markdown"].write_text(markdown_table(args, rows))
    comparison = comparison_markdown(rows, {**METHOD_LABELS, **ATTACK_LABELS}, measured_line(args))
    if comparison is not None:
        paths["comparison"] = output_file(out, "comparison", partial)
        paths["comparison"].write_text(comparison)
    if results["results"]:
        labels, attacks, table = load_table(paths["json"])
        paths["heatmap"] = plot_heatmap(
            labels, attacks, table, output_file(out, "heatmap", partial), title="win rate under attack"
        )
    if args.epsilons and len(args.epsilons) > 1 and any(a != "none" for a in args.attacks):
        paths["epsilon_sweep"] = plot_epsilon_sweep(args, rows, output_file(out, "epsilon_sweep", partial))
    # a partial run leaves the complete outputs (its caller says so); a complete one, the partial ones too
    earlier = [output_file(out, key, kind) for key in OUTPUT_FILES for kind in ((True,) if partial else (False, True))]
    left = [path.name for path in earlier if path.is_file() and path not in paths.values()]
    if left:
        report(f"Left as earlier runs with these settings wrote them (not redrawn by this run): {', '.join(left)}")
    return paths


def main(argv: list[str] | None = None, description: str | None = None) -> dict[str, Any]:
    """Parse ``argv``, run the benchmark, write the outputs; returns the results JSON as a dict.

    :param description: the ``--help`` text (None: this module's docstring).
    """
    parser = build_parser(description)
    args = parser.parse_args(argv)
    check_args(parser, args)
    check_out_settings(parser, args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)  # checked by check_args; made before the first job
    except OSError as exc:
        parser.error(f"--out {args.out!r}: cannot create it: {exc.strerror or exc}")
    threads = args.torch_threads
    report = print if args.verbose else (lambda line: None)
    start = time.perf_counter()
    with open_executor(args) as executor:
        # recorded before the first job, so that an interrupted run's cells are not replaced by other settings' either
        atomic_write_json(out / SETTINGS_FILE, {**recorded_settings(out), **out_settings(vars(args))})
        log = run_jobs(
            executor,
            train_jobs(args, threads),
            lambda job, path: cell_jobs(args, job, path, threads),
            args.methods,
            report,
        )
    paths = write_outputs(args, log, time.perf_counter() - start, report)
    results = json.loads(paths["json"].read_text())
    if args.verbose:
        print(paths["markdown"].read_text())
        print(f"Counts: {results['counts']}; wall time {results['wall_s']:.1f} s")
        print("Wrote " + ", ".join(str(p) for p in paths.values()))
    if not (log.interrupted or log.failures):
        return results
    complete = [path.name for key in OUTPUT_FILES if (path := output_file(out, key, False)).is_file()]
    kept = f" ({', '.join(complete)}: the last complete run's, kept)" if complete else ""
    written = f"the finished jobs are in {paths['json'].name} and {paths['markdown'].name}{kept}"
    if log.interrupted:
        print(f"Interrupted: {written}; the same command resumes (models and cells are reused)")
        raise SystemExit(130)
    raise SystemExit(
        f"{len(log.failures)} job(s) failed; {written}; rerun to resume (finished cells are cached):\n"
        + "\n".join(log.failures)
    )


def run_preset(preset: list[str], description: str, argv: list[str] | None = None) -> dict[str, Any]:
    """:func:`main` with the flags ``preset`` first (those of ``argv``, default ``sys.argv[1:]``, come after it, so
    they can override it), for the preset scripts of ``benchmarks/``; their ``--help`` shows ``description``."""
    argv = sys.argv[1:] if argv is None else argv
    return main([*preset, *argv], description=f"{description}\nPreset, before the flags given: {' '.join(preset)}")


if __name__ == "__main__":
    main()
