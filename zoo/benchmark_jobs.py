"""The benchmark's two kinds of independent jobs, as plain picklable functions of frozen specs.

* :func:`train_model` trains one (map, method, seed) model through the zoo's :class:`~zoo.exp_manager.ExperimentManager`
  with the map's entry of ``hyperparams/<method>.yml``, or returns a finished run of the log folder with the same seed
  and budget;
* :func:`evaluate_cell` evaluates one model under one attack (budget ε, ``M`` attacked agents): learned attackers
  (ATLA, PA-AD) are first trained against that model, or loaded from the model's run folder.

Both are safe to run in separate processes or on separate machines sharing the file system: results are cached in
files written atomically, a new run folder is claimed with an atomic ``mkdir``, and a learned attacker shared by
cells is trained under a file lock. They are what ``zoo/benchmark.py`` sends to a ``concurrent.futures`` executor (a
process pool, or Dask's).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import reprlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from sb3_marl.common.base_class import constructor_defaults, env_shapes
from sb3_marl.common.validation import is_finite_number, whole_number
from sb3_marl.file_util import atomic_path
from zoo.paper_table import PAPER_ATTACKS
from zoo.utils import ALGOS, LEARNED_ATTACKS, hyperparams_entry, load_zoo_model, read_run_yaml, run_folders

#: test attacks of the benchmark: Table I's, in its column order, then the extra ones
TEST_ATTACKS = (*PAPER_ATTACKS, "random", "pgd")
#: methods that start from a trained model of another method with the same map and seed
DEPENDENCIES = {"regularized": "qmix"}
#: test episodes are played on envs seeded ``seed + EVAL_SEED_OFFSET``, apart from the training envs' seeds
EVAL_SEED_OFFSET = 10_000


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (:func:`~sb3_marl.file_util.atomic_path`): a reader, or a
    resumed run after a kill, sees either the previous file or the complete new one."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when the file is missing or unreadable (e.g. a truncated write)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# ---------------------------------------------------------------------------------------------------------------------
# Training
@dataclass(frozen=True)
class TrainJob:
    """One model to train (or to find already trained).

    :param map_name: SMAC map name
    :param method: zoo algorithm name (a key of :data:`zoo.utils.ALGOS`)
    :param seed: training seed
    :param log_folder: zoo log folder (runs go to ``<log_folder>/<method>/<map>_<id>/``)
    :param timesteps_scale: multiplies every ``*_timesteps`` budget of the method (1: the yaml's, i.e. the paper's)
    :param hyperparams: extra ``-params`` overrides for every method, as ``(key, value)`` pairs
    :param pretrained: model file to start from (methods of :data:`DEPENDENCIES`; set once that model exists)
    :param device: torch device
    :param torch_threads: ``torch.set_num_threads`` in the job
    :param verbose: verbosity of the training (0: quiet)
    :param compile_env: ``torch.compile`` the simulator's step (``zoo/train.py --compile``); a runtime choice, not a
        hyperparameter: it does not decide which finished runs are reused
    """

    map_name: str
    method: str
    seed: int
    log_folder: str
    timesteps_scale: float = 1.0
    hyperparams: tuple[tuple[str, Any], ...] = ()
    pretrained: str = ""
    device: str = "cpu"
    torch_threads: int = 1
    verbose: int = 0
    compile_env: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        return self.map_name, self.method, self.seed


def training_budget(job: TrainJob) -> tuple[int, dict[str, Any]]:
    """``(n_timesteps, -params overrides)`` of a job: the yaml's budgets (``*_timesteps``, the algorithm's defaults
    where the yaml has none) times ``timesteps_scale``, then its ``-params`` overrides as given.

    At scale 1 no budget is overridden, so a model trained with ``zoo/train.py`` and the same seed is reused.
    """
    entry = hyperparams_entry(job.method, job.map_name)
    overrides: dict[str, Any] = {}
    if job.timesteps_scale != 1.0:
        budgets = {**constructor_defaults(ALGOS[job.method].load()), **entry}
        for key, value in budgets.items():
            if key.endswith("_timesteps") and key != "n_timesteps" and isinstance(value, (int, float)):
                overrides[key] = max(1, round(float(value) * job.timesteps_scale))
    overrides.update(dict(job.hyperparams))
    given = overrides.pop("n_timesteps", None)
    if given is None:
        return max(1, round(float(entry["n_timesteps"]) * job.timesteps_scale)), overrides
    return whole_number("n_timesteps", given, 1), overrides


#: ``args.yml`` flags of a run that make it another model than the yaml's settings say: such runs are never reused
_NOT_REUSED_IF_SET = ("trained_agent", "trial_id", "optimize_hyperparameters")


def _run_differs(config: dict[str, Any], args: dict[str, Any], wanted: dict[str, Any], job: TrainJob) -> bool:
    """Whether a finished run (its ``config.yml`` and ``args.yml``) is another model than ``job`` asks for.

    Every setting of either side counts: a setting only one side has matches at the algorithm's default (``n_envs``:
    the zoo's 1), so a key added to the yml at its default value does not force a retraining while a run given
    other ``-params`` is not taken for the yaml's model. A run that started from the job's pretrained QMIX has that
    model's network settings (:data:`~zoo.exp_manager.PRETRAINED_ARCHITECTURE`) unless the job sets them.
    """
    from zoo.exp_manager import pretrained_architecture

    if args.get("seed") != job.seed or args.get("backend", "sim") != "sim":
        return True
    if any(args.get(flag) not in (None, "", False) for flag in _NOT_REUSED_IF_SET):
        return True
    defaults = {**constructor_defaults(ALGOS[job.method].load()), "n_envs": 1}
    missing = object()
    # the network settings the run took from its pretrained QMIX, as train.py takes them (unless -params sets them);
    # none when the file cannot be read: the run then differs wherever its settings do
    try:
        inherited = pretrained_architecture(job.pretrained, set(dict(job.hyperparams))) if job.pretrained else {}
    except (OSError, ValueError, KeyError, TypeError):
        inherited = {}
    for key in set(config) | set(wanted):
        ran, asked = config.get(key, defaults.get(key, missing)), wanted.get(key, defaults.get(key, missing))
        if key in inherited:
            asked = inherited[key]
        if key == "pretrained" and isinstance(ran, str) and isinstance(asked, str):
            ran, asked = Path(ran).resolve(), Path(asked).resolve()  # one file, however -f was written
        if ran is missing or ran != asked:
            return True
    return False


def _trained_steps(model: Path) -> int:
    """Env steps a model file was trained for (its saved ``num_timesteps``; 0 if unreadable)."""
    from sb3_marl.common.save_util import load_from_zip_file

    try:
        data, _ = load_from_zip_file(model, load_params=False)
        return int(data["counters"]["num_timesteps"])
    except (ValueError, KeyError, TypeError, OSError):
        return 0


def training_settings(job: TrainJob) -> dict[str, Any]:
    """Every setting the job's model trains with, as ``config.yml`` records them: the yaml entry, the ``-params``
    overrides and the budget (:func:`training_budget`), and the pretrained model when there is one."""
    n_timesteps, overrides = training_budget(job)
    settings = {**hyperparams_entry(job.method, job.map_name), **overrides, "n_timesteps": n_timesteps}
    if job.pretrained:
        settings["pretrained"] = job.pretrained
    return settings


def training_env_kwargs(job: TrainJob) -> dict[str, Any]:
    """The env settings (``env_kwargs``) the job's model trains with: its yaml entry's, or those of ``-params``."""
    return dict(training_settings(job).get("env_kwargs") or {})


def find_trained_model(job: TrainJob, unloadable: list[str] | None = None) -> Path | None:
    """The final model of a finished run of ``job`` in the log folder, or None: the latest run with the job's seed
    whose ``config.yml`` holds exactly the job's hyperparameters (yaml entry, overrides, budget; see
    :func:`_run_differs`).

    A run counts as finished when its ``<map>.zip`` holds the whole budget and loads (weights included): runs killed
    before saving have no model, runs stopped with Ctrl-C (which ``zoo/train.py`` still saves) too few steps, and a
    damaged file does not load; all are ignored, as are runs continued from another model (``-i``), replaying an
    Optuna trial, or on real StarCraft II.

    :param unloadable: when given, gets ``"<model file>: <why it does not load>"`` for each run otherwise finished
        whose model file does not load.
    """
    wanted = training_settings(job)
    for _, run in reversed(run_folders(Path(job.log_folder) / job.method, job.map_name)):  # the latest run first
        model = run / f"{job.map_name}.zip"
        params = run / job.map_name
        if not (model.is_file() and (params / "config.yml").is_file() and (params / "args.yml").is_file()):
            continue
        config, args = read_run_yaml(params / "config.yml"), read_run_yaml(params / "args.yml")
        if _run_differs(config, args, wanted, job) or _trained_steps(model) < wanted["n_timesteps"]:
            continue
        try:  # the settings member alone was read so far: a damaged weights member failed every cell of the model
            load_zoo_model(job.method, model, device="cpu")
        except (OSError, ValueError) as exc:
            if unloadable is not None:
                problem = " ".join(str(exc).split())
                unloadable.append(problem if str(model) in problem else f"{model}: {problem}")
            continue
        return model
    return None


def check_training_settings(job: TrainJob) -> None:
    """Refuse the settings of ``job`` (:func:`training_settings`) that its training would refuse at its start,
    cheaply (without training, and with one env): the budget ``n_timesteps``, the algorithm's constructor checks (the
    class built with ``env=None`` and ``_init_setup_model=False``, as ``load`` builds it; the adversary of ``atla`` /
    ``paad`` likewise, with its ``adversary_kwargs``), the env settings (a one-env batch of the map), what ``learn``
    checks before its first step (the model's ``check_learn_settings``) and the networks' settings (``policy_kwargs``,
    the adversary's: the networks built for the map's sizes, as ``load`` builds them, leaving torch's random state as
    it was); with ``compile_env`` on the CPU, that a C++ compiler is there.

    :raises ValueError, TypeError: with the algorithm's message naming the setting.
    :raises RuntimeError: ``compile_env`` without the C++ compiler torch inductor needs.
    :raises SystemExit: for what the zoo itself refuses (a ``lin_<v>`` schedule it cannot read, an unknown key).
    """
    import torch

    from sb3_marl.envs import make_env
    from zoo.exp_manager import ZOO_KEYS
    from zoo.utils import check_hyperparams, parse_schedule

    settings = {key: parse_schedule(key, value) for key, value in training_settings(job).items()}
    settings.pop("n_timesteps")  # checked by training_budget
    algo_class = ALGOS[job.method].load()
    source = f"hyperparams/{job.method}.yml [{job.map_name}] or -params"
    check_hyperparams(algo_class, {key: value for key, value in settings.items() if key not in ZOO_KEYS}, source)
    model = algo_class(env=None, device="cpu", verbose=0, _init_setup_model=False, **settings)
    make_adversary = getattr(model, "_make_adversary", None)
    if make_adversary is not None:  # AlternatingAdversarialQMIX builds its adversary so in _setup_model
        try:
            adversary = make_adversary(
                None, _init_setup_model=False, **{"device": "cpu", "verbose": 0, **model.adversary_kwargs}
            )
            if hasattr(adversary, "check_learn_settings"):  # the PA-AD director (a QMIX); MAPPO checks at build
                adversary.check_learn_settings()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"adversary_kwargs={model.adversary_kwargs!r}: {exc}") from exc
    # --compile on the CPU needs a C++ compiler, which the env checks when built (the compilation itself is lazy)
    compiled = {"compile": True} if job.compile_env and job.device.startswith("cpu") else {}
    env = make_env(job.map_name, n_envs=1, seed=0, **{**model.env_kwargs, **compiled})  # seeded: RNGs stay untouched
    try:
        model.check_learn_settings(env)
        model.env_shapes = env_shapes(env)
        with torch.random.fork_rng(devices=[]):  # the networks' initialization draws from torch's global generator
            model._setup_model()
    finally:
        env.close()


def train_model(job: TrainJob) -> dict[str, Any]:
    """Train the model of ``job`` with the zoo's ExperimentManager, unless a finished run already exists.

    :return: ``{"key", "path", "trained", "n_timesteps", "wall_s"}`` (``wall_s``: seconds of training, 0 if reused),
        for a model trained here ``code`` (:func:`code_revision`), and ``not_reused`` when finished runs were passed
        over because their model file does not load (a line naming each file and why)
    """
    import torch

    from zoo import train
    from zoo.exp_manager import ExperimentManager

    torch.set_num_threads(job.torch_threads)
    n_timesteps, overrides = training_budget(job)
    result: dict[str, Any] = {"key": list(job.key), "n_timesteps": n_timesteps, "trained": False, "wall_s": 0.0}
    unloadable: list[str] = []
    existing = find_trained_model(job, unloadable)
    if unloadable:
        result["not_reused"] = unloadable
    if existing is not None:
        return {**result, "path": str(existing)}
    argv = [
        "--algo",
        job.method,
        "--env",
        job.map_name,
        "-f",
        job.log_folder,
        "--seed",
        str(job.seed),
        "-n",
        str(n_timesteps),
        "--device",
        job.device,
        "--eval-freq",
        "-1",
        "--verbose",
        str(job.verbose),
    ]
    if job.pretrained:
        argv += ["--pretrained", job.pretrained]
    if job.compile_env:
        argv.append("--compile")
    if overrides:
        argv += ["-params", *(f"{key}:{json.dumps(value)}" for key, value in overrides.items())]
    parser = train.build_parser()
    args = parser.parse_args(argv)
    train.check_args(parser, args)
    manager = ExperimentManager(args)
    model = manager.setup_experiment()  # claims the next free <map>_<id> atomically, also among parallel workers
    start = time.perf_counter()
    try:
        manager.learn(model)
        # learn() swallowed a Ctrl-C: do not save a half-trained model (also one stopped in the final network choice,
        # after its last step, which would be reused as finished)
        if manager.interrupted or model.num_timesteps < manager.n_timesteps:
            raise KeyboardInterrupt(
                f"training of {job.key} stopped at {model.num_timesteps}/{manager.n_timesteps} steps"
            )
        manager.save_trained_model(model)
    finally:
        manager.close(model)
    wall = time.perf_counter() - start
    path = str(manager.save_path / f"{job.map_name}.zip")
    return {**result, "path": path, "trained": True, "wall_s": wall, "code": code_revision()}


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation
@dataclass(frozen=True)
class CellJob:
    """One cell of the table: a trained model under one attack.

    :param map_name: SMAC map name
    :param method: zoo algorithm name of the model
    :param seed: training seed of the model (also seeds the attack, the attacker and the test envs)
    :param model_path: the model file
    :param attack: a name of :data:`TEST_ATTACKS`
    :param epsilon: l∞ budget of the attack, in observation units (0 for ``"none"``)
    :param n_attacked: number of agents attacked, drawn at random at every step (None: all agents)
    :param n_eval_episodes: test episodes (greedy victim)
    :param attacker_timesteps: env steps of a learned attacker's training
    :param cells_folder: where cell results are cached
    :param device: torch device
    :param torch_threads: ``torch.set_num_threads`` in the job
    :param n_envs: test episodes simulated as one batch (at most ``n_eval_episodes``)
    :param clip_observations: clip perturbed observations to the env's feature ranges (False: only to the ε-ball)
    :param compile_env: ``torch.compile`` the simulator's step in the test env and the attacker's training env (a
        runtime choice: cached cells are reused either way)
    :param env_kwargs: the map's env settings the model was trained with (``env_kwargs`` of its yaml entry and
        ``-params``), as ``(key, value)`` pairs: the test env and a learned attacker's env take them too
    """

    map_name: str
    method: str
    seed: int
    model_path: str
    attack: str
    epsilon: float
    n_attacked: int | None
    n_eval_episodes: int
    attacker_timesteps: int
    cells_folder: str
    device: str = "cpu"
    torch_threads: int = 1
    n_envs: int = 8
    clip_observations: bool = True
    compile_env: bool = False
    env_kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def path(self) -> Path:
        """The cell's cache file ``<cells>/<map>/<method>/seed<seed>/<attack>_eps<ε>_m<M|all>[_noclip].json``."""
        agents = "all" if self.n_attacked is None else self.n_attacked
        name = f"{self.attack}_eps{self.epsilon:g}_m{agents}{'' if self.clip_observations else '_noclip'}.json"
        return Path(self.cells_folder) / self.map_name / self.method / f"seed{self.seed}" / name

    def settings(self, model_sha256: str) -> dict[str, Any]:
        """What a cached result must have been computed with to be reused, the model file's content included
        (``model_sha256``, :func:`file_sha256`: a model retrained into the same path is another model; a model file
        moved elsewhere is the same)."""
        settings = {**asdict(self), "env_kwargs": dict(self.env_kwargs), "model_sha256": model_sha256}
        for key in ("cells_folder", "device", "torch_threads", "n_envs", "model_path", "compile_env"):
            settings.pop(key)
        if self.attack not in LEARNED_ATTACKS:
            settings.pop("attacker_timesteps")
        if self.clip_observations:  # the default, left out so that cells cached before the option stay valid
            settings.pop("clip_observations")
        if not self.env_kwargs:  # likewise
            settings.pop("env_kwargs")
        return settings


@dataclass
class CellResult:
    """Win rate and return of one cell over its test episodes (see :class:`CellJob` for the settings)."""

    settings: dict[str, Any]
    model: str
    win_rate: float
    mean_reward: float
    std_reward: float
    episode_rewards: list[float]
    wall_s: float
    attacker: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    #: what computed it (not part of the settings a cached cell must match): :func:`code_revision`, and whether the
    #: test env's step was compiled (the same results up to float rounding) on which device
    code: str | None = None
    compile_env: bool = False
    device: str = "cpu"


def _is_number(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """Whether ``value`` is a finite number (not a boolean: :func:`is_finite_number`) in ``[low, high]``."""
    return is_finite_number(value) and low <= value <= high


def cached_cell_problem(record: Any, job: CellJob) -> str | None:
    """Why a cached cell ``record`` (the JSON of ``job.path``) cannot serve as a :class:`CellResult` of ``job`` (a
    field missing, of another type or out of its range: a hand-edited or damaged file crashed the run's tables), or
    None. Whether it was computed with ``job``'s settings is checked apart."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    learned = job.attack in LEARNED_ATTACKS
    checks: dict[str, Callable[[Any], bool]] = {
        "settings": lambda value: isinstance(value, dict),
        "model": lambda value: isinstance(value, str),
        "win_rate": lambda value: _is_number(value, 0.0, 1.0),
        "mean_reward": _is_number,
        "std_reward": lambda value: _is_number(value, 0.0),
        "episode_rewards": lambda value: (
            isinstance(value, list) and len(value) == job.n_eval_episodes and all(map(_is_number, value))
        ),
        "wall_s": lambda value: _is_number(value, 0.0),
        # a learned attacker's file and whether this cell trained it; nothing for the other attacks
        "attacker": lambda value: (
            isinstance(value, dict)
            and (not learned or (isinstance(value.get("path"), str) and isinstance(value.get("trained"), bool)))
        ),
    }
    optional: dict[str, Callable[[Any], bool]] = {  # absent from the cells cached before they were recorded
        "code": lambda value: value is None or isinstance(value, str),
        "compile_env": lambda value: isinstance(value, bool),
        "device": lambda value: isinstance(value, str),
    }
    missing = [name for name in checks if name not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    bad = [name for name, check in {**checks, **optional}.items() if name in record and not check(record[name])]
    if bad:
        return "invalid " + ", ".join(f"{name}={reprlib.repr(record[name])}" for name in bad)
    return None


@functools.cache
def code_revision() -> str | None:
    """The git commit of this code (``-dirty`` when the tree had uncommitted changes), or None outside a checkout:
    recorded beside cells and models, so that results computed by different code can be told apart."""
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content, as hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:  # in 1 MiB chunks (hashlib.file_digest needs Python 3.11)
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def attacker_path(job: CellJob, model_sha256: str) -> Path:
    """Where the learned attacker of a cell is kept:
    ``<run>/attackers/<kind>_eps<ε>_<steps>steps_seed<s>_victim<hash>.zip``, ``<hash>`` the first 12 hex digits of
    the victim model file's SHA-256: an attacker trained against another model under the same path is not reused."""
    name = f"{job.attack}_eps{job.epsilon:g}_{job.attacker_timesteps}steps_seed{job.seed}_victim{model_sha256[:12]}"
    return Path(job.model_path).parent / "attackers" / f"{name}.zip"


def learned_adversary(job: CellJob, victim: Any, model_sha256: str) -> tuple[Any, dict[str, Any]]:
    """The trained adversary (MAPPO for ATLA, the QMIX director for PA-AD) of a cell, trained now or loaded.

    :param model_sha256: the victim model file's SHA-256 (:func:`file_sha256`).
    :return: (adversary, ``{"path", "trained", "wall_s"}``)
    """
    from sb3_marl.common.base_class import BaseMultiAgentAlgorithm

    path = attacker_path(job, model_sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(f".{path.name}.lock")):  # cells with other M share the attacker: train it once
        if path.is_file():
            return BaseMultiAgentAlgorithm.load(path, device=job.device), {
                "path": str(path),
                "trained": False,
                "wall_s": 0.0,
            }
        start = time.perf_counter()
        attack = LEARNED_ATTACKS[job.attack].load()(
            victim,
            kind=job.attack,
            epsilon=job.epsilon,
            total_timesteps=job.attacker_timesteps,
            env=job.map_name,
            env_kwargs={**dict(job.env_kwargs), "compile": job.compile_env},
            seed=job.seed,
            device=job.device,
        )
        adversary = attack.adversary if job.attack == "atla" else attack.director
        adversary.save(path)
        return adversary, {"path": str(path), "trained": True, "wall_s": time.perf_counter() - start}


def build_attack(job: CellJob, victim: Any, model_sha256: str) -> tuple[Any | None, dict[str, Any]]:
    """The attack of a cell (None for ``"none"``) and its attacker info; ``evaluate_policy`` gives the attack the
    env's observation range, used for clipping unless the cell says not to clip.

    :param model_sha256: the victim model file's SHA-256 (:func:`file_sha256`), which names its learned attackers.
    """
    from sb3_marl.attacks import ATLAAttack, PAADAttack, make_attack

    if job.attack == "none":
        return None, {}
    kwargs = {"attacked_agents": job.n_attacked, "seed": job.seed, "clip_observations": job.clip_observations}
    info: dict[str, Any] = {}
    if job.attack in LEARNED_ATTACKS:
        adversary, info = learned_adversary(job, victim, model_sha256)
        attack_class = ATLAAttack if job.attack == "atla" else PAADAttack
        attack = attack_class(adversary, job.epsilon, **kwargs)
    else:
        attack = make_attack(job.attack, epsilon=job.epsilon, **kwargs)
    return attack, info


def evaluate_cell(job: CellJob) -> dict[str, Any]:
    """Evaluate one cell, or return its cached result when one computed with the same settings and the same model
    file content exists (and is a valid cell: :func:`cached_cell_problem`).

    The result (a :class:`CellResult` as a dict) is written atomically to ``job.path`` before it is returned; when it
    replaced an invalid cached cell, the dict returned also has ``replaced``: the file and what was wrong with it.
    """
    model_sha256 = file_sha256(job.model_path)
    cached = read_json(job.path)
    problem = None if cached is None else cached_cell_problem(cached, job)
    if cached is not None and problem is None and cached["settings"] == job.settings(model_sha256):
        return {**cached, "cached": True}
    import numpy as np
    import torch

    from sb3_marl.common.evaluation import evaluate_policy
    from sb3_marl.envs import make_env

    torch.set_num_threads(job.torch_threads)
    start = time.perf_counter()
    victim = load_zoo_model(job.method, Path(job.model_path), device=job.device)
    env = make_env(
        job.map_name,
        n_envs=min(job.n_envs, job.n_eval_episodes),
        seed=job.seed + EVAL_SEED_OFFSET,
        device=job.device,
        compile=job.compile_env,
        **dict(job.env_kwargs),
    )
    attack, attacker = build_attack(job, victim, model_sha256)
    rewards, _, wins = evaluate_policy(victim, env, job.n_eval_episodes, attack=attack, return_episode_rewards=True)
    env.close()
    result = CellResult(
        settings=job.settings(model_sha256),
        model=job.model_path,
        win_rate=float(np.mean(wins)),
        mean_reward=float(np.mean(rewards)),
        std_reward=float(np.std(rewards)),
        episode_rewards=[float(r) for r in rewards],
        wall_s=time.perf_counter() - start,
        attacker=attacker,
        code=code_revision(),
        compile_env=job.compile_env,
        device=str(job.device),
    )
    record = asdict(result)
    if not all(math.isfinite(record[key]) for key in ("win_rate", "mean_reward", "std_reward")):
        raise RuntimeError(f"non-finite result for {job.path}: {record}")
    atomic_write_json(job.path, record)
    # the replaced file, named in the run's report (a stale cell, of other settings, is replaced silently)
    return record if problem is None else {**record, "replaced": f"{job.path} ({problem})"}
