"""Train (or tune with Optuna) a QMIX-family agent on a SMAC map, RL Baselines3 Zoo style.

Examples::

    python zoo/train.py --algo qmix --env 3m
    python zoo/train.py --algo fgsm --env 2s3z --eval-attack fgsm -P
    python zoo/train.py --algo qmix --env 3m -optimize --n-trials 20 --n-seeds-per-trial 3
    python zoo/train.py --algo qmix --env 3m -optimize --storage postgresql+psycopg2://user:pw@host/db --study-name s
    python zoo/train.py --algo qmix --env 3m --trial-id 7   # the settings of trial 7 of the default study
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable so `zoo.*` resolves
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sb3_marl.common.validation import MAX_SEED
from zoo.utils import (
    ALGOS,
    ATTACK_NAMES,
    StoreDict,
    ZooArgumentParser,
    add_hyperparams_flag,
    check_attack_budget,
    check_compile_backend,
    map_name_argument,
    set_num_threads,
    unwritable_folder,
)

EVAL_ATTACKS = ["none", *ATTACK_NAMES]


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags (names and defaults of rl-zoo3's ``train.py`` where they exist)."""
    parser = ZooArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", required=True, choices=list(ALGOS), help="algorithm")
    parser.add_argument("--env", required=True, type=map_name_argument, help="SMAC map name, e.g. 3m")
    parser.add_argument(
        "-n", "--n-timesteps", type=int, default=-1, help="env steps (overrides the yaml; -1: the yaml's)"
    )
    parser.add_argument("-f", "--log-folder", default="logs", help="log folder")
    parser.add_argument("--seed", type=int, default=-1, help="random seed (negative: drawn at random, then saved)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--n-envs", type=int, default=-1, help="episodes simulated as one batch (overrides the yaml; -1: the yaml's)"
    )
    parser.add_argument("-tb", "--tensorboard-log", default="", help="TensorBoard folder (default: the run folder)")
    parser.add_argument("--eval-freq", type=int, default=25_000, help="evaluate every N env steps (<= 0: never)")
    parser.add_argument("--eval-episodes", type=int, default=32, help="episodes per evaluation")
    parser.add_argument(
        "--n-eval-envs",
        type=int,
        default=-1,
        help="evaluation episodes simulated as one batch (-1: as many as training, at most --eval-episodes)",
    )
    parser.add_argument("--eval-attack", default="none", choices=EVAL_ATTACKS, help="attack during evaluation")
    parser.add_argument(
        "--eval-epsilon",
        type=float,
        default=None,
        help="budget of --eval-attack (default: the algo's epsilon, else the paper's: 0.05 on 2s3z, 0.2 elsewhere)",
    )
    parser.add_argument("--save-freq", type=int, default=-1, help="checkpoint every N env steps (<= 0: never)")
    parser.add_argument(
        "--save-replay-buffer", action="store_true", help="save the replay buffer with the model and checkpoints"
    )
    parser.add_argument("-i", "--trained-agent", default="", help="model .zip to continue training")
    add_hyperparams_flag(
        parser, "overrides, key:value with yaml values, e.g. learning_rate:1e-3 policy_kwargs:'{rnn_hidden_dim: 128}'"
    )
    parser.add_argument(
        "--env-kwargs",
        nargs="+",
        action=StoreDict,
        help="make_env keywords, key:value with yaml values, added to the yaml's env_kwargs (e.g. reward_sparse:true)",
    )
    parser.add_argument("--backend", default="sim", choices=["sim", "sc2"], help="built-in simulator or real SMAC")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the simulator's step (sim backend): collection several times faster after a one-time "
        "compilation per map and n_envs (about half a minute; torch caches it on disk for later runs)",
    )
    parser.add_argument(
        "--num-threads",
        type=int,
        default=-1,
        help="torch threads (-1: torch's default, one per core; 1 can be faster for these small networks when other "
        "processes share the cores)",
    )
    parser.add_argument("-P", "--progress", action="store_true", help="show a progress bar")
    parser.add_argument(
        "-uuid", "--uuid", action="store_true", help="append _<uuid4> to the run folder's name (as RL Zoo)"
    )
    parser.add_argument("--verbose", type=int, default=1, help="0: quiet, 1: info, 2: debug")
    parser.add_argument(
        "--log-interval", type=int, default=-1, help="dump the logs every N finished episodes (-1: the algo's default)"
    )
    parser.add_argument("--pretrained", default="", help="regularized: QMIX to start from (default: latest qmix run)")
    parser.add_argument("-conf", "--conf-file", default="", help="yaml file (default: hyperparams/<algo>.yml)")
    tuning = parser.add_argument_group("hyperparameter optimisation (Optuna)")
    tuning.add_argument("-optimize", "--optimize-hyperparameters", action="store_true", help="run an Optuna study")
    tuning.add_argument("--n-trials", type=int, default=500, help="trials run by this worker")
    tuning.add_argument(
        "--max-total-trials",
        type=int,
        default=None,
        help="trials of the study in all (complete, pruned or running), across workers",
    )
    tuning.add_argument("--n-jobs", type=int, default=1, help="trials in parallel (threads)")
    tuning.add_argument("--sampler", default="tpe", choices=["tpe", "random"], help="Optuna sampler")
    tuning.add_argument("--pruner", default="median", choices=["median", "halving", "none"], help="Optuna pruner")
    tuning.add_argument(
        "--storage",
        default=None,
        help="Optuna storage: a database URL, or a file path ending in .log for a journal file "
        "(default: SQLite in the log folder)",
    )
    tuning.add_argument("--study-name", default=None, help="study name (default: <algo>_<env>)")
    tuning.add_argument(
        "--trial-id",
        type=int,
        default=None,
        help="train with the settings of this trial (its number) of the study in --storage / --study-name",
    )
    tuning.add_argument("--no-optim-plots", action="store_true", help="do not write Optuna's plots after a study")
    tuning.add_argument("--n-startup-trials", type=int, default=10, help="random trials before TPE / pruning")
    tuning.add_argument("--n-evaluations", type=int, default=4, help="intermediate evaluations per seed of a trial")
    tuning.add_argument("--n-seeds-per-trial", type=int, default=1, help="seeds per trial (objective: mean win rate)")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject values argparse cannot check by itself, with one line each."""
    if args.seed > MAX_SEED:
        parser.error(f"--seed must be at most {MAX_SEED} (numpy's range; negative: drawn at random), got {args.seed}")
    for flag, value in (("-n/--n-timesteps", args.n_timesteps), ("--n-envs", args.n_envs)):
        if value == 0 or value < -1:
            parser.error(f"{flag} must be >= 1 or -1 (the yaml's), got {value}")
    if args.verbose < 0:
        parser.error(f"--verbose must be >= 0 (0: quiet, 1: info, 2: debug), got {args.verbose}")
    if args.log_interval == 0 or args.log_interval < -1:
        parser.error(f"--log-interval must be >= 1 or -1 (the algo's default), got {args.log_interval}")
    if args.n_eval_envs == 0 or args.n_eval_envs < -1:
        parser.error(f"--n-eval-envs must be >= 1 or -1 (as many as training), got {args.n_eval_envs}")
    if args.n_eval_envs > args.eval_episodes:
        parser.error(f"--n-eval-envs {args.n_eval_envs} is more than --eval-episodes {args.eval_episodes}")
    for name in ("eval_episodes", "n_trials", "n_jobs", "n_evaluations", "n_seeds_per_trial"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    check_attack_budget(parser, "--eval-epsilon", args.eval_epsilon)
    for flag, folder in (("-f/--log-folder", args.log_folder), ("-tb/--tensorboard-log", args.tensorboard_log)):
        if folder and (problem := unwritable_folder(Path(folder))):
            parser.error(f"{flag} {folder!r}: {problem}")
    if args.pretrained and args.algo != "regularized":
        parser.error("--pretrained only applies to --algo regularized")
    if args.pretrained and args.trained_agent:
        parser.error("--pretrained has no effect with -i/--trained-agent (the loaded model has its weights)")
    if args.eval_epsilon is not None and args.eval_attack == "none":
        parser.error("--eval-epsilon is the budget of --eval-attack, which is none")
    check_compile_backend(parser, args)
    if args.trained_agent and args.optimize_hyperparameters:
        parser.error("-i/--trained-agent and -optimize cannot be combined")
    if args.max_total_trials is not None and args.max_total_trials < 1:
        parser.error(f"--max-total-trials must be >= 1, got {args.max_total_trials}")
    if args.trial_id is not None and args.trial_id < 0:
        parser.error(f"--trial-id must be a trial number >= 0, got {args.trial_id}")
    if args.trial_id is not None and args.optimize_hyperparameters:
        parser.error("--trial-id trains with one trial's settings; it cannot be combined with -optimize")
    if args.n_startup_trials < 0:
        parser.error(f"--n-startup-trials must be >= 0, got {args.n_startup_trials}")
    note_unused_flags(parser, args)


#: flags of a training run that -optimize does not use: (flag as printed, its field)
OPTIMIZE_IGNORES = (
    ("--eval-freq", "eval_freq"),
    ("--save-freq", "save_freq"),
    ("--save-replay-buffer", "save_replay_buffer"),
    ("-tb", "tensorboard_log"),
    ("-P", "progress"),
    ("--log-interval", "log_interval"),
    ("-uuid", "uuid"),
)
#: flags only the evaluations use (a training's with --eval-freq > 0, or -optimize's trials)
EVALUATION_FLAGS = (
    ("--eval-episodes", "eval_episodes"),
    ("--eval-attack", "eval_attack"),
    ("--eval-epsilon", "eval_epsilon"),
    ("--n-eval-envs", "n_eval_envs"),
)
#: flags only -optimize uses (--trial-id reads --storage and --study-name too)
TUNING_FLAGS = (
    ("--n-trials", "n_trials"),
    ("--max-total-trials", "max_total_trials"),
    ("--n-jobs", "n_jobs"),
    ("--sampler", "sampler"),
    ("--pruner", "pruner"),
    ("--no-optim-plots", "no_optim_plots"),
    ("--n-startup-trials", "n_startup_trials"),
    ("--n-evaluations", "n_evaluations"),
    ("--n-seeds-per-trial", "n_seeds_per_trial"),
)
STUDY_FLAGS = (("--storage", "storage"), ("--study-name", "study_name"))


def note_unused_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Print one note per group of flags given (not at their defaults) that the other flags make do nothing; RL Zoo
    users pass them out of habit, so they are not refused."""
    groups = []  # (flags, the note with {flags} for those given)
    if args.optimize_hyperparameters:
        reason = "each trial evaluates --n-evaluations times, saves no model and writes no logs"
        groups.append((OPTIMIZE_IGNORES, f"-optimize ignores {{flags}} ({reason})"))
    else:
        study = () if args.trial_id is not None else STUDY_FLAGS
        groups.append(((*TUNING_FLAGS, *study), "{flags} only apply to -optimize (an Optuna study): unused"))
        if args.eval_freq <= 0:
            groups.append((EVALUATION_FLAGS, f"--eval-freq {args.eval_freq} turns evaluations off: {{flags}} unused"))
    for flags, note in groups:
        given = [flag for flag, name in flags if getattr(args, name) != parser.get_default(name)]
        if given:
            print("Note: " + note.format(flags=", ".join(given)))


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and train or tune."""
    from zoo.exp_manager import ExperimentManager

    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    set_num_threads(parser, args)
    if args.seed < 0:
        args.seed = int(np.random.randint(2**31 - 1))
    print(f"Seed: {args.seed}")
    manager = ExperimentManager(args)
    if args.optimize_hyperparameters:
        manager.hyperparameters_optimization()
        return
    model = manager.setup_experiment()
    try:
        manager.learn(model)
        manager.save_trained_model(model)
    finally:
        manager.close(model)


if __name__ == "__main__":
    main()
