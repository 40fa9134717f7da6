"""Registries and helpers shared by the zoo scripts (train, enjoy, tuning, plots).

Algorithms and attacks are registered by *import path* rather than imported eagerly, so that the zoo runs
while some classes are still being written: asking for one that does not exist yet gives a one-line
"not available yet" error instead of an ``ImportError`` traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import math
import os
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.utils import LinearSchedule

from sb3_marl.common.schedules import SaveableSchedule, schedule_to_dict
from sb3_marl.common.validation import constructor_keywords


@dataclass(frozen=True)
class LazyClass:
    """A class named by module and attribute, imported on first use.

    :param module: dotted module path, e.g. ``"sb3_marl"``
    :param name: attribute of that module, e.g. ``"QMIX"``
    :param kind: what the class is, for error messages (``"algorithm"``, ``"attack"``)
    """

    module: str
    name: str
    kind: str

    def load(self) -> type:
        """Import and return the class; ``SystemExit`` with a one-line message when it does not exist yet."""
        try:
            return getattr(importlib.import_module(self.module), self.name)
        except (ImportError, AttributeError) as exc:
            raise SystemExit(
                f"The {self.kind} {self.name} ({self.module}.{self.name}) is not available yet in this installation "
                f"of sb3-marl: {exc}"
            ) from None


#: zoo name -> algorithm class; extend with ``ALGOS["myalgo"] = LazyClass("mypkg", "MyAlgo", "algorithm")``.
ALGOS: dict[str, LazyClass] = {
    "qmix": LazyClass("sb3_marl", "QMIX", "algorithm"),
    "fgsm": LazyClass("sb3_marl", "RobustQMIXFGSM", "algorithm"),
    "regularized": LazyClass("sb3_marl", "RegularizedQMIX", "algorithm"),
    "atla": LazyClass("sb3_marl", "ATLAQMIX", "algorithm"),
    "paad": LazyClass("sb3_marl", "PAADQMIX", "algorithm"),
}

#: gradient and noise attacks built from ``epsilon`` alone (names of :func:`sb3_marl.attacks.make_attack`).
ATTACK_NAMES = ("random", "fgsm", "pgd")

#: learned attacks (trained against the model under test before use): name -> trainer function.
LEARNED_ATTACKS: dict[str, LazyClass] = {
    "atla": LazyClass("sb3_marl.robust.train_attacker", "train_attacker", "learned-attack trainer"),
    "paad": LazyClass("sb3_marl.robust.train_attacker", "train_attacker", "learned-attack trainer"),
}


def load_zoo_model(algo: str, path: Path, **kwargs: Any) -> Any:
    """``ALGOS[algo]``'s ``load(path, **kwargs)`` when the file holds a model of exactly that class; a ValueError
    naming the file, its class and the ``--algo`` that trains it otherwise (a corrupt file included). The robust
    algorithms subclass QMIX, so ``load`` alone would take, say, an fgsm model for ``--algo qmix`` and train or
    play it under the wrong algorithm's name."""
    from sb3_marl.common.save_util import load_from_zip_file

    algo_class = ALGOS[algo].load()
    settings = load_from_zip_file(path, load_params=False)[0]
    saved_class = settings.get("class") if isinstance(settings, dict) else None  # None: load's own message follows
    if saved_class is not None and saved_class != algo_class.__name__:
        owners = [name for name, lazy in ALGOS.items() if lazy.name == saved_class]
        hint = f" (its --algo is {owners[0]})" if owners else ""
        raise ValueError(
            f"{path} holds a {saved_class!r} model{hint}, not a {algo_class.__name__} one as --algo {algo} needs"
        )
    return algo_class.load(path, **kwargs)


def closest_choice(value: str, choices: Iterable[str], what: str) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise exit with a message suggesting the closest one.

    :param value: the user's input
    :param choices: the allowed values
    :param what: what the value names, for the message (``"algorithm"``, ``"map"``)
    """
    choices = list(choices)
    if value in choices:
        return value
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.4)  # short names: '3n' ~ '3m' scores 0.5
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SystemExit(f"Unknown {what} {value!r}.{hint} Allowed: {', '.join(choices)}")


def check_attack_budget(parser: argparse.ArgumentParser, flag: str, epsilon: float | None) -> None:
    """``parser.error`` naming ``flag`` unless ``epsilon`` (an attack's budget; None: the default) is a finite number
    > 0."""
    if epsilon is not None and not (math.isfinite(epsilon) and epsilon > 0):
        parser.error(f"{flag} must be a finite number > 0, got {epsilon}")


def check_compile_backend(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse ``--compile`` with a ``--backend`` other than the built-in simulator (argparse error, exit code 2)."""
    if args.compile and args.backend != "sim":
        parser.error(f"--compile applies to the built-in simulator only, not to --backend {args.backend}")


def set_num_threads(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Apply ``--num-threads`` (RL Zoo's flag): torch's intra-op threads, -1 keeps torch's default (one per core)."""
    if args.num_threads == -1:
        return
    if args.num_threads < 1:
        parser.error(f"--num-threads must be >= 1 or -1 (torch's default), got {args.num_threads}")
    import torch

    torch.set_num_threads(args.num_threads)


def map_name_argument(value: str) -> str:
    """argparse ``type`` of a SMAC map name (``sb3_marl.envs.MAP_NAMES``): :func:`closest_choice`'s message, naming
    the closest names, becomes the parser's usage error."""
    from sb3_marl.envs import MAP_NAMES

    try:
        return closest_choice(value, MAP_NAMES, "map")
    except SystemExit as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def paper_epsilon(env_name: str) -> float:
    """The paper's attack budget: 0.05 on 2s3z, 0.2 elsewhere."""
    return 0.05 if env_name == "2s3z" else 0.2


def make_attack(name: str, epsilon: float, clip_observations: bool = True, seed: int | None = None) -> Any | None:
    """Build a gradient or noise attack by name (``"none"`` -> None).

    :param name: ``"none"`` or one of :data:`ATTACK_NAMES`
    :param epsilon: l-infinity budget of the perturbation (in observation units, which SMAC scales to [-1, 1])
    :param clip_observations: clip perturbed observations to the env's feature ranges (taken from the env when
        the attack is used) as the training attacks do; False keeps only the ε-ball
    :param seed: seed of the attack's random generator (random noise, PGD starts, agent subsets); None draws one
    """
    if name == "none":
        return None
    closest_choice(name, ["none", *ATTACK_NAMES], "attack")
    if epsilon <= 0:
        raise SystemExit(f"Attack epsilon must be > 0, got {epsilon}")
    from sb3_marl.attacks import make_attack as build_attack

    return build_attack(name, epsilon=epsilon, clip_observations=clip_observations, seed=seed)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; other values are checked by torch and against the
    devices this machine has (``cpu:0`` is ``cpu``).

    :raises SystemExit: naming the value when torch does not know the device or the machine lacks it.
    """
    import torch

    from sb3_marl.common.validation import env_device

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise SystemExit(f"Invalid --device {device!r}: {exc}") from None
    if resolved.type == "cuda":
        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n_gpus == 0 or (resolved.index or 0) >= n_gpus:
            raise SystemExit(f"--device {device!r}: this machine has {n_gpus} CUDA device(s); use cpu or auto")
    try:
        return str(env_device(device))
    except ValueError as exc:  # another accelerator than this machine has, "meta"
        raise SystemExit(f"--device {device!r}: {exc}") from None


class ZooArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose invalid choices suggest the closest allowed value."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if action.choices is not None and value not in action.choices:
            try:
                what = f"value for {'/'.join(action.option_strings)}"
                closest_choice(str(value), [str(c) for c in action.choices], what)
            except SystemExit as exc:
                self.error(str(exc))
        super()._check_value(action, value)


class StoreDict(argparse.Action):
    """Argparse action turning ``key:value`` pairs into a dict; values are parsed as YAML (:func:`_yaml_value`).

    ``-params learning_rate:1e-3 policy_kwargs:"{rnn_hidden_dim: 128}" mixer:vdn`` gives
    ``{"learning_rate": 0.001, "policy_kwargs": {"rnn_hidden_dim": 128}, "mixer": "vdn"}``.  Nothing is ``eval``'d.
    A flag given again adds its keys to the earlier ones (``-params a:1 -params b:2`` is ``-params a:1 b:2``), and a
    key given again takes its later value, as a repeated flag does in argparse (``-params a:1 a:2`` is ``a:2``), so
    that a script can append overrides to a base command line.
    """

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string=None):
        earlier = getattr(namespace, self.dest, None)
        parsed = {} if earlier is self.default else dict(earlier)
        for item in values:
            key, sep, raw = item.partition(":")
            if not sep or not key:
                parser.error(f"argument {option_string}: expected key:value, got {item!r}")
            try:
                parsed[key] = _yaml_value(raw)
            except yaml.YAMLError as exc:
                parser.error(f"argument {option_string}: cannot parse the value of {key!r} ({raw!r}): {one_line(exc)}")
        setattr(namespace, self.dest, parsed)


def add_hyperparams_flag(parser: argparse.ArgumentParser, help: str, default: dict[str, Any] | None = None) -> None:
    """Add RL Zoo's ``-params`` / ``--hyperparams`` flag (``key:value`` pairs, values read as YAML: :class:`StoreDict`)
    to ``parser``, stored as ``args.hyperparams``."""
    parser.add_argument("-params", "--hyperparams", nargs="+", action=StoreDict, default=default, help=help)


def _yaml_value(raw: str) -> Any:
    """One value read as YAML (:class:`UniqueKeyLoader`: safe, a mapping repeating a key is refused), also reading
    ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``), in nested mappings and lists too (``optimizer_kwargs:"{eps:
    1e-5}"``)."""
    return floats_read(yaml.load(raw, Loader=UniqueKeyLoader))


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing a mapping that repeats a key (YAML keeps its last value silently), as
    ``zoo/plot_heatmap.py`` refuses a JSON object that does: a ``ConstructorError`` naming the key and its lines.
    Merge keys (``<<: *defaults``) may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # refused by SafeLoader itself ("found unhashable key")
                continue
            line = key_node.start_mark.line + 1
            if key in lines:
                where = f" (lines {lines[key]} and {line})" if lines[key] != line else ""
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is repeated{where}: give it once")
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


def one_line(exc: BaseException) -> str:
    """An exception's message folded onto one line, or its type's name when it has none; a YAML syntax error as what
    is wrong and where (its message spans lines, quoting the text with a ``^`` under the place)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark, context = exc.problem_mark, f"{exc.context}: " if exc.context else ""
        return f"{context}{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split()) or type(exc).__name__


def read_yaml_file(path: Path, description: str) -> Any:
    """The YAML in the file ``path`` (:class:`UniqueKeyLoader`: a repeated key is refused); one line
    ``Cannot read <description>: <why>`` (``SystemExit``) when it cannot be read, decoded or parsed."""
    try:
        return yaml.load(path.read_text(), Loader=UniqueKeyLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SystemExit(f"Cannot read {description}: {one_line(exc)}") from None


#: settings whose values are strings that may spell numbers (SMAC's difficulty "7", a game version "4.10"): kept
STRING_SETTINGS = ("difficulty", "game_version")


def floats_read(value: Any) -> Any:
    """``value`` with every string that spells a number (``"1e-5"``) turned into a float, at any depth, but the values
    of :data:`STRING_SETTINGS`."""
    if isinstance(value, dict):
        return {key: item if key in STRING_SETTINGS else floats_read(item) for key, item in value.items()}
    if isinstance(value, list):
        return [floats_read(item) for item in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_schedule(key: str, value: Any) -> Any:
    """Turn a ``"lin_<v>"`` string into a schedule decaying linearly from ``v`` to 0 over training (rl-zoo3's
    ``lin_``; Stable-Baselines3's ``LinearSchedule(v, 0, 1)``, which models save as JSON); other values are returned
    unchanged.

    :param key: hyperparameter name, for the error message
    :param value: the yaml value
    """
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            start = float(value[len("lin_") :])
        except ValueError:
            start = math.nan
        if not math.isfinite(start):  # lin_nan, lin_inf: float() reads them
            raise SystemExit(
                f"Cannot parse the schedule {key}: {value!r} (expected lin_<v> with v a finite number, e.g. lin_5e-4)"
            )
        return LinearSchedule(start, 0.0, 1.0)
    return value


def hyperparams_dirs() -> list[Path]:
    """Where ``<algo>.yml`` files are looked for, in order.

    1. ``hyperparams/`` at the root of a source checkout (the folder next to ``zoo/`` beside ``setup.py``; editable
       installs);
    2. the copy shipped inside the installed package as ``zoo.hyperparams`` (wheel installs, see setup.py; there
       the folder next to ``zoo/`` is site-packages, where another distribution's ``hyperparams/`` may lie).
    """
    package = Path(__file__).resolve().parent
    dirs = [package.parent / "hyperparams"] if (package.parent / "setup.py").is_file() else []
    return [d for d in [*dirs, package / "hyperparams"] if d.is_dir()]


def default_conf_file(algo: str) -> Path:
    """The hyperparameter file of ``algo``; ``SystemExit`` naming the folders searched when there is none."""
    for folder in hyperparams_dirs():
        if (folder / f"{algo}.yml").is_file():
            return folder / f"{algo}.yml"
    raise SystemExit(f"No hyperparams/{algo}.yml found (searched: {[str(d) for d in hyperparams_dirs()]}); use -conf")


def conf_file_entry(conf_file: Path, map_name: str, announce_default: bool = False) -> dict[str, Any]:
    """The entry of the yaml hyperparameters file ``conf_file`` for ``map_name`` (``default`` for unlisted maps), as
    written (numbers such as ``1e-3``, which YAML 1.1 reads as strings, as floats: ``-params`` values are read alike).

    :param announce_default: print a line when the ``default`` entry is taken.
    :raises SystemExit: naming the file when it cannot be read, repeats a key, is Python (RL Zoo's), or holds no such
        entry.
    """
    if conf_file.suffix == ".py":
        raise SystemExit(f"{conf_file}: Python config files (RL Zoo's) are not read, nothing is executed; use yaml")
    table = read_yaml_file(conf_file, f"hyperparameters from {conf_file}") or {}
    if not isinstance(table, dict):
        raise SystemExit(f"{conf_file} must hold a mapping of map names to hyperparameters, got {table!r}")
    if map_name in table:
        entry = table[map_name]
    elif "default" in table:
        entry = table["default"]
        if announce_default:
            print(f"Using 'default' hyperparameters of {conf_file} for {map_name}")
    else:
        raise SystemExit(f"Hyperparameters not found for {map_name} in {conf_file} (no 'default')")
    if not isinstance(entry, dict):
        raise SystemExit(f"{conf_file} [{map_name}] must be a mapping of hyperparameters, got {entry!r}")
    return floats_read(entry)


def hyperparams_entry(algo: str, map_name: str) -> dict[str, Any]:
    """The entry of ``hyperparams/<algo>.yml`` for ``map_name`` (see :func:`conf_file_entry`)."""
    return conf_file_entry(default_conf_file(algo), map_name)


#: the ``_<uuid4>`` that ``zoo/train.py -uuid`` appends to a run folder's name
UUID_SUFFIX = r"_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def run_folders(log_path: str | os.PathLike, env_name: str, with_uuid: bool = False) -> list[tuple[int, Path]]:
    """``(id, folder)`` of the run folders ``<log_path>/<env_name>_<id>``, by increasing id (``3m_9`` before ``3m_10``;
    never another map's, such as ``3s5z_vs_3s6z_1`` for ``3s5z``).

    :param with_uuid: also the folders ``<env_name>_<id>_<uuid4>`` of ``-uuid`` runs (not counted as run ids, so only
        for readers of all runs, such as ``zoo/plot_train.py``)
    """
    pattern = re.compile(
        rf"^{re.escape(env_name)}_(\d+)({UUID_SUFFIX})?$" if with_uuid else rf"^{re.escape(env_name)}_(\d+)$"
    )
    runs = [
        (int(m.group(1)), p)
        for p in Path(log_path).glob(f"{env_name}_*")
        if p.is_dir() and (m := pattern.match(p.name))
    ]
    return sorted(runs)


def get_latest_run_id(log_path: str | os.PathLike, env_name: str) -> int:
    """Highest ``<id>`` among the folders ``<log_path>/<env_name>_<id>`` (0 when there is none)."""
    return max((run_id for run_id, _ in run_folders(log_path, env_name)), default=0)


def find_run_folder(log_folder: str | os.PathLike, algo: str, env_name: str, exp_id: int = 0) -> Path:
    """The run folder ``<log_folder>/<algo>/<env>_<exp_id>`` (rl-zoo3's ``--exp-id``: 0 is the latest run, -1 the
    folder ``<log_folder>/<algo>`` itself, as rl-trained-agents lays out one model per map); ``SystemExit`` if
    absent or ``exp_id`` is below -1."""
    log_path = Path(log_folder) / algo
    if exp_id < -1:
        raise SystemExit(f"--exp-id must be a run id >= 1, 0 (the latest run) or -1 (no run sub-folder), got {exp_id}")
    if exp_id == -1:
        if not log_path.is_dir():
            raise SystemExit(f"Folder {log_path} does not exist (--exp-id -1 reads the model from it)")
        return log_path
    if exp_id == 0:
        exp_id = get_latest_run_id(log_path, env_name)
        if exp_id == 0:
            raise SystemExit(f"No trained {algo} run for {env_name} in {log_path} (expected folders {env_name}_<id>)")
    run = log_path / f"{env_name}_{exp_id}"
    if not run.is_dir():
        raise SystemExit(f"Run folder {run} does not exist")
    return run


def save_figure(fig: Any, output: Path) -> Path:
    """Save a matplotlib figure to ``output`` (its folder made when missing); an unsupported file type or a folder /
    file that cannot be written ends in one line naming ``output`` (``SystemExit``). The figure is closed."""
    import matplotlib.pyplot as plt

    try:
        formats = fig.canvas.get_supported_filetypes()
        suffix = output.suffix.lstrip(".").lower()
        if suffix not in formats:
            raise SystemExit(
                f"Cannot write {output}: {f'.{suffix} is not an' if suffix else 'no suffix naming an'} image type "
                f"that matplotlib writes ({', '.join(sorted(formats))})"
            )
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(output, dpi=100)
        except OSError as exc:
            raise SystemExit(f"Cannot write {output}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return output


def unwritable_file(path: Path) -> str | None:
    """Why the file ``path`` could not be written (created or replaced, its missing parent folders created), or
    None when it can: checked before any work, without creating anything.

    :return: e.g. ``"it is a folder"``, ``"x.gif is a file, not a folder"``, ``"the folder out is not writable"``.
    """
    try:
        if path.is_dir():
            return "it is a folder"
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    return _unwritable_ancestor(path.parent)


def unwritable_folder(path: Path) -> str | None:
    """Why files could not be written in the folder ``path`` (created with its missing parents if absent), or None
    when they can: checked without creating anything."""
    try:
        if path.exists() and not path.is_dir():
            return f"{path} is a file, not a folder"
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    return _unwritable_ancestor(path)


def _unwritable_ancestor(folder: Path) -> str | None:
    """Why ``folder`` (which may not exist yet) could not be created or written in: its nearest existing ancestor
    must be a folder this process can write in."""
    try:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is a file, not a folder"
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the folder {existing} is not writable"
    return None


def checkpoint_steps(run_folder: Path) -> list[int]:
    """Sorted step counts of the checkpoints ``rl_model_<N>_steps.zip`` in a run folder."""
    pattern = re.compile(r"^rl_model_(\d+)_steps\.zip$")
    return sorted(int(m.group(1)) for p in run_folder.iterdir() if (m := pattern.match(p.name)))


def replay_buffer_path_for(model_path: Path) -> Path:
    """The replay buffer saved next to a model: ``rl_model_replay_buffer_<N>_steps.pkl`` for a checkpoint
    (SB3's CheckpointCallback naming), ``replay_buffer.pkl`` otherwise."""
    match = re.match(r"^(.*)_(\d+)_steps\.zip$", model_path.name)
    if match:
        return model_path.with_name(f"{match.group(1)}_replay_buffer_{match.group(2)}_steps.pkl")
    return model_path.with_name("replay_buffer.pkl")


def to_plain(value: Any) -> Any:
    """Convert a value to what ``yaml.safe_dump`` writes: schedules become ``lin_<v>`` (a linear decay to 0 over
    training) or their JSON settings, tuples lists, paths str."""
    if isinstance(value, LinearSchedule) and (value.end, value.end_fraction) == (0.0, 1.0):
        return f"lin_{value.start}"
    if isinstance(value, SaveableSchedule):
        return schedule_to_dict(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return str(value)


def read_run_yaml(path: Path) -> dict[str, Any]:
    """A run's settings file (``config.yml``, ``args.yml``): empty when missing or not a mapping; one line naming it
    (``SystemExit``) when it cannot be read or parsed, or repeats a key (:func:`read_yaml_file`)."""
    if not path.is_file():
        return {}
    data = read_yaml_file(path, str(path))
    return data if isinstance(data, dict) else {}


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` (sorted keys) with ``yaml.safe_dump`` after :func:`to_plain`."""
    path.write_text(yaml.safe_dump(to_plain(data), sort_keys=True))


def accepted_kwargs(cls: type) -> set[str] | None:
    """Keyword arguments the constructor of ``cls`` accepts, following ``**kwargs`` up the MRO.

    Returns None when some class in the chain takes ``**kwargs`` that no parent names (anything is accepted).
    """
    names, complete = constructor_keywords(cls)
    # private keywords (``_init_setup_model``) are the library's own, not hyperparameters
    return {name for name in names if name != "self" and not name.startswith("_")} if complete else None


#: constructor arguments that the zoo sets from its own flags: refused in yaml entries and ``-params``
FLAG_SETTINGS = {
    "env": "--env",
    "seed": "--seed",
    "device": "--device",
    "verbose": "--verbose",
    "tensorboard_log": "-tb/--tensorboard-log",
}


#: Stable-Baselines3 (DQN / PPO) hyperparameters that users bring along, and what this zoo takes instead
SB3_EQUIVALENTS = {
    "exploration_fraction": "sb3-marl's epsilon schedule is exploration_timesteps (env steps of the linear decay).",
    "policy": "There is no policy argument: network sizes go in policy_kwargs (e.g. rnn_hidden_dim).",
    "net_arch": "Network sizes go in policy_kwargs (rnn_hidden_dim, mixing_embed_dim, hypernet_embed).",
    "n_steps": "QMIX learns from whole episodes; multi-step targets are td_lambda.",
    "replay_buffer_class": "The episode replay buffer is built in (prioritized_replay_alpha > 0: prioritized).",
    "optimize_memory_usage": "The episode replay buffer stores each step once (nothing to optimize).",
}


def check_hyperparams(cls: type, hyperparams: dict[str, Any], source: str) -> None:
    """Exit with a one-line message when a hyperparameter is not a constructor keyword of ``cls``.

    :param cls: the algorithm class
    :param hyperparams: the constructor kwargs about to be passed
    :param source: where they came from, for the message
    """
    controlled = sorted(set(hyperparams) & set(FLAG_SETTINGS))
    if controlled:
        flags = ", ".join(FLAG_SETTINGS[key] for key in controlled)
        raise SystemExit(f"{controlled} (from {source}) are set by the command line, not hyperparameters: use {flags}")
    for key in ("policy_kwargs", "env_kwargs", "optimizer_kwargs"):
        if key in hyperparams and not isinstance(hyperparams[key], dict | type(None)):
            raise SystemExit(f'{key}={hyperparams[key]!r} (from {source}) must be a mapping, e.g. {key}:"{{a: 1}}"')
    allowed = accepted_kwargs(cls)
    if allowed is None:
        return
    for key in hyperparams:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            if key in SB3_EQUIVALENTS:
                hint = f" {SB3_EQUIVALENTS[key]}"
            raise SystemExit(f"Unknown hyperparameter {key!r} for {cls.__name__} (from {source}).{hint}")
