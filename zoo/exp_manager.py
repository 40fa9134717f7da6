"""Experiment manager: hyperparameters, run folders, callbacks, training, saving and Optuna tuning.

The shape follows rl-zoo3's ``ExperimentManager``; the fields of ``args`` are the flags of ``zoo/train.py``.
A run writes ``<log_folder>/<algo>/<map>_<id>/``::

    <map>.zip                       final model
    best_model.zip, evaluations.npz EvalCallback (best by win rate)
    rl_model_<N>_steps.zip          checkpoints (+ rl_model_replay_buffer_<N>_steps.pkl with --save-replay-buffer)
    replay_buffer.pkl               --save-replay-buffer
    <AlgoClass>_1/events.*          TensorBoard (unless -tb points elsewhere)
    <map>/config.yml, args.yml, command.txt
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from sb3_marl.common.base_class import offset_seed
from sb3_marl.common.save_util import load_from_zip_file
from sb3_marl.common.validation import whole_number
from sb3_marl.envs.base import game_env_kwargs
from zoo.callbacks import TrialEvalCallback
from zoo.hyperparams_opt import (
    HYPERPARAMS_SAMPLER,
    FixedParamsTrial,
    drop_fixed,
    fixed_names,
    fixed_params,
    merge_sampled,
)
from zoo.utils import (
    ALGOS,
    check_hyperparams,
    conf_file_entry,
    default_conf_file,
    find_run_folder,
    get_latest_run_id,
    load_zoo_model,
    make_attack,
    paper_epsilon,
    parse_schedule,
    replay_buffer_path_for,
    resolve_device,
    write_yaml,
)

#: yaml keys the zoo consumes itself; the rest are constructor keywords of the algorithm.
ZOO_KEYS = ("n_timesteps", "n_envs", "env_kwargs")
#: settings a run starting from a pretrained QMIX (``regularized``) takes from that model unless ``-params`` sets them
PRETRAINED_ARCHITECTURE = ("policy_kwargs", "mixer")
#: flags of ``train.py`` that change what an Optuna trial measures (a study's trials must share them)
OBJECTIVE_FLAGS = ("eval_episodes", "n_evaluations", "n_seeds_per_trial", "eval_attack", "eval_epsilon", "backend")
#: the settings a study records (:meth:`ExperimentManager._objective_settings`) that change what a trial trains
TRAINING_SETTINGS = ("n_timesteps", "n_envs", "env_kwargs", "hyperparams", "backend")
#: the settings a study records that name what it tunes (the flags ``--algo`` and ``--env``); studies recorded before
#: they were recorded lack them, and are taken to tune whatever run opens them
STUDY_TARGET = ("algo", "env")


def pretrained_architecture(path: str, given: set[str]) -> dict[str, Any]:
    """The network settings (:data:`PRETRAINED_ARCHITECTURE`) that the pretrained QMIX model file ``path`` saved,
    except those in ``given`` (set with ``-params``): the settings a run started from it takes.

    :raise ValueError: (or KeyError / TypeError, OSError for a missing file) when the file cannot be read.
    """
    saved = load_from_zip_file(path, load_params=False)[0]["kwargs"]
    return {key: saved[key] for key in PRETRAINED_ARCHITECTURE if key in saved and key not in given}


class ExperimentManager:
    """Set up, run and save one training run, or an Optuna study, from the parsed flags of ``zoo/train.py``.

    :param args: the namespace returned by ``zoo.train.build_parser().parse_args()``
    """

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.algo = args.algo
        self.env_name = args.env
        self.algo_class = ALGOS[self.algo].load()
        self.log_path = Path(args.log_folder) / self.algo
        # the run folder <log folder>/<algo>/<map>_<id> and its settings subfolder, set by setup_experiment
        self.save_path: Path | None = None
        self.params_path: Path | None = None
        # the TensorBoard run folder made for a continued run (-i), outside the run folder with -tb
        self._tensorboard_run: Path | None = None
        #: whether learn() stopped on a Ctrl-C (it saves the model all the same, as RL Zoo does)
        self.interrupted = False
        #: the hyperparameters file: -conf, else hyperparams/<algo>.yml
        self.conf_file = Path(args.conf_file) if args.conf_file else default_conf_file(self.algo)
        trial_settings, study_settings = self._trial_hyperparameters() if args.trial_id is not None else ({}, None)
        self.hyperparams, self.saved_hyperparams = self.read_hyperparameters(trial_settings)
        yaml_timesteps, yaml_n_envs = self.hyperparams.pop("n_timesteps", None), self.hyperparams.pop("n_envs", 1)
        source = self.conf_file
        n_timesteps = args.n_timesteps if args.n_timesteps > 0 else yaml_timesteps
        self.n_timesteps = _whole_number("n_timesteps", n_timesteps, source)
        self.n_envs = _whole_number("n_envs", args.n_envs if args.n_envs > 0 else yaml_n_envs, source)
        self.env_kwargs = dict(self.hyperparams.pop("env_kwargs", None) or {})
        self.device = resolve_device(args.device)
        if study_settings is not None:
            self._note_other_study_settings(study_settings, trial_settings)

    # ----------------------------------------------------------------------------------------------------------------
    # Hyperparameters
    def read_hyperparameters(self, trial: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Load the yaml entry for the map (or ``default``), apply ``-params`` overrides and the settings of trial
        ``--trial-id``, and parse schedules.

        As in RL Zoo, a mapping given with ``-params`` (``policy_kwargs``, ``optimizer_kwargs``) replaces the yaml's
        whole mapping; the trial's sampled ``policy_kwargs`` keys merge into it key by key, and ``-params`` keeps the
        settings (and ``policy_kwargs`` keys) it gives, as ``-optimize`` kept them out of the trial's search: with the
        study's ``-params``, the run trains what the trial trained.

        :param trial: the settings trial ``--trial-id`` trained with (:meth:`_trial_hyperparameters`); empty without
        :return: (kwargs ready for the algorithm, plain values as written to ``config.yml``)
        """
        conf_file = self.conf_file
        entry = conf_file_entry(conf_file, self.env_name, announce_default=True)
        given = self.args.hyperparams or {}
        saved = merge_sampled({**entry, **given}, drop_fixed(trial, given)[0])
        for key in ("policy_kwargs", "optimizer_kwargs"):  # replaced whole, as in RL Zoo: say what is dropped
            yaml_value, used = entry.get(key), saved.get(key)
            if isinstance(given.get(key), dict) and isinstance(yaml_value, dict):
                dropped = {name: value for name, value in yaml_value.items() if name not in used}
                if dropped:
                    print(
                        f"Note: -params {key} replaces the whole mapping of {conf_file} (as in RL Zoo): its "
                        f"{dropped} are not used; repeat them in -params to keep them"
                    )
        if self.args.env_kwargs:
            if not isinstance(saved.get("env_kwargs") or {}, dict):
                raise SystemExit(f"env_kwargs={saved['env_kwargs']!r} (from {conf_file}) must be a mapping")
            saved["env_kwargs"] = {**(saved.get("env_kwargs") or {}), **self.args.env_kwargs}
        if "n_timesteps" not in saved and self.args.n_timesteps <= 0:
            raise SystemExit(f"{conf_file} [{self.env_name}] has no n_timesteps and -n was not given")
        if self.algo == "regularized" and not self.args.trained_agent:  # -i: the loaded model has its weights
            saved["pretrained"] = self._pretrained_path(saved.get("pretrained"))
            saved.update(self._pretrained_architecture(saved, given=set(given)))
        hyperparams = {key: parse_schedule(key, value) for key, value in saved.items()}
        # n_envs and env_kwargs are also constructor arguments: checked too; each message names where the key came from
        for source, keys in (("-params", set(given)), (str(conf_file), set(hyperparams) - set(given))):
            chosen = {k: v for k, v in hyperparams.items() if k in keys and k != "n_timesteps"}
            check_hyperparams(self.algo_class, chosen, source)
        return hyperparams, saved

    def _trial_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The settings that Optuna trial ``--trial-id`` of the study (``--study-name`` in ``--storage``) trained with,
        as the algorithm's keywords: its recorded parameters replayed through the algorithm's search space, with the
        values the study's ``-params`` kept fixed.

        :return: (those settings, the settings the study recorded (:meth:`_objective_settings`), None when it holds
            none)
        """
        from sb3_marl.common.augmentation import AUGMENTATIONS

        number, name, label = self.args.trial_id, self.study_name, self.storage_label
        if not self.args.storage and not (self.log_path / "optuna.db").is_file():
            raise SystemExit(f"--trial-id {number}: no Optuna study in {label} (pass --storage)")
        missing = _missing_storage_file(self.args.storage) if self.args.storage else None
        if missing is not None:  # opening it would create an empty journal / database and blame --study-name
            raise SystemExit(
                f"--trial-id {number}: no Optuna storage {label} ({missing} does not exist; check --storage)"
            )
        try:
            study = optuna.load_study(study_name=name, storage=self._storage())
        except KeyError:
            raise SystemExit(f"--trial-id {number}: no Optuna study {name!r} in {label} (pass --study-name)") from None
        except _storage_errors() as exc:
            raise SystemExit(f"Cannot open Optuna storage {label}: {_first_line(exc)}") from None
        recorded = study.user_attrs.get("objective")
        hint = "use its --algo, or another --study-name"  # another --env replays the trial, with a note
        self._check_study_target(
            recorded, f"--trial-id {number}: Optuna study {name!r} in {label}", hint, keys=("algo",)
        )
        trials = {trial.number: trial for trial in study.get_trials(deepcopy=False)}
        if number not in trials:
            held = f"its trials are numbered 0-{max(trials)}" if trials else "it has no trials"
            raise SystemExit(f"--trial-id {number}: study {name!r} in {label} has no such trial ({held})")
        trial = trials[number]
        augmentations = [key for key in AUGMENTATIONS if key in trial.params]
        fixed = trial.user_attrs.get("fixed_by_params") or {}
        replayed = FixedParamsTrial(optuna.trial.FixedTrial(trial.params), fixed_params(fixed))
        try:
            sampled = HYPERPARAMS_SAMPLER[self.algo](replayed, augmentations)
        except ValueError as exc:  # the algorithm's search space asks for a parameter the trial did not sample
            raise SystemExit(f"--trial-id {number} of study {name!r} does not fit --algo {self.algo}: {exc}") from None
        if fixed:  # the study's -params kept these: the trial trained with them, not with its sampled values
            sampled = merge_sampled(drop_fixed(sampled, fixed)[0], fixed)
            print(f"Trial #{number} kept the study's -params {', '.join(fixed_names(fixed))} (not its sampled values)")
        result = "no value" if trial.value is None else f"win rate {trial.value:.3f}"
        print(f"Settings of trial #{number} of {name!r} ({trial.state.name.lower()}, {result}): {sampled}")
        return sampled, recorded

    def _note_other_study_settings(self, recorded: dict[str, Any], trial: dict[str, Any]) -> None:
        """With ``--trial-id``: a note naming where what this run trains differs from what the trial trained (the
        settings its study recorded, :data:`TRAINING_SETTINGS`, with the trial's ``trial`` applied); the run keeps
        its own.

        :param recorded: the study's recorded settings (:meth:`_objective_settings` of the ``-optimize`` run)
        :param trial: the settings the trial trained with (:meth:`_trial_hyperparameters`)
        """
        keys = [key for key in ("env", *TRAINING_SETTINGS) if key in recorded]
        # the hyperparameters without the zoo's keys: the effective budget, n_envs and env settings are compared apart
        trained = {
            **recorded,
            "hyperparams": merge_sampled(_algorithm_kwargs(recorded.get("hyperparams") or {}), trial),
        }
        here = {**self._objective_settings(), "hyperparams": _algorithm_kwargs(self.saved_hyperparams)}
        differences = _differences(*(_plain({key: side[key] for key in keys}) for side in (trained, here)))
        if differences:
            print(
                f"Note: this run trains with other settings than trial #{self.args.trial_id} of {self.study_name!r} "
                f"did ({'; '.join(differences)}); pass -n, --n-envs, --env-kwargs, -params, --backend to match"
            )

    def _pretrained_path(self, configured: str | None) -> str:
        """``--pretrained``, else ``pretrained`` of ``-params`` or the yaml (``configured``), else the final model of
        the latest qmix run for this map in the log folder."""
        given = self.args.pretrained or configured
        if given is not None and not isinstance(given, str | os.PathLike):
            raise SystemExit(f"pretrained={given!r} (from -params or {self.conf_file}) must be the path of a QMIX .zip")
        if given:
            path = Path(given)
            if not path.is_file():
                raise SystemExit(f"pretrained QMIX {path} is not a file")
            return str(path)
        try:
            run = find_run_folder(self.args.log_folder, "qmix", self.env_name)
        except SystemExit as exc:
            raise SystemExit(f"regularized needs a pretrained QMIX: {exc}; train one or pass --pretrained") from None
        path = run / f"{self.env_name}.zip"
        if not path.is_file():
            raise SystemExit(f"regularized needs a pretrained QMIX: {path} is missing; pass --pretrained")
        print(f"Pretrained QMIX: {path}")
        return str(path)

    @staticmethod
    def _pretrained_architecture(hyperparams: dict[str, Any], given: set[str]) -> dict[str, Any]:
        """The network settings (``policy_kwargs``, ``mixer``) of the pretrained QMIX (``hyperparams["pretrained"]``)
        that the run must take to load its weights, except those set with ``-params`` (``given``: a mismatch then
        fails with the algorithm's message); a note names each one that replaces the yaml's."""
        path = hyperparams["pretrained"]
        try:
            architecture = pretrained_architecture(path, given)
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"Cannot read the pretrained QMIX {path}: {exc}") from None
        for key, value in architecture.items():
            if hyperparams.get(key) != value:
                print(f"Taking {key}={value!r} from the pretrained QMIX {path} (yaml: {hyperparams.get(key)!r})")
        return architecture

    # ----------------------------------------------------------------------------------------------------------------
    # Environments and callbacks
    @property
    def n_eval_envs(self) -> int:
        """Episodes an evaluation simulates as one batch: ``--n-eval-envs``, by default as many as training does but
        at most ``--eval-episodes`` (RL Zoo's default is 1; the simulator steps a batch for about the cost of one
        episode)."""
        if self.args.n_eval_envs > 0:
            return self.args.n_eval_envs
        return max(1, min(self.n_envs, self.args.eval_episodes))

    def make_env(self, n_envs: int, seed: int | None) -> Any:
        """A batched env of the map on the chosen backend and device (simulator step compiled with ``--compile``)."""
        from sb3_marl.common.base_class import batch_env_seed
        from sb3_marl.envs import make_env
        from sb3_marl.envs.sc2_backend import SC2NotAvailableError

        env_kwargs = {**self.env_kwargs, "compile": True} if self.args.compile else self.env_kwargs
        seed = batch_env_seed(seed, n_envs)  # a seed near 2**32 wraps, as the model's own envs do
        try:
            return make_env(
                self.env_name, n_envs=n_envs, backend=self.args.backend, seed=seed, device=self.device, **env_kwargs
            )
        except (TypeError, ValueError) as exc:  # an unknown keyword or a bad value of env_kwargs / --env-kwargs
            raise SystemExit(f"env_kwargs {self.env_kwargs}: {exc}") from None
        except SC2NotAvailableError as exc:
            raise SystemExit(f"--backend {self.args.backend}: {exc}") from None
        except RuntimeError as exc:
            if not self.args.compile:
                raise
            raise SystemExit(f"--compile: {_first_line(exc)}") from None  # e.g. no C++ compiler for torch inductor

    @functools.cached_property
    def allowed_augmentations(self) -> list[str]:
        """The replay augmentation settings that the map and its env settings allow (what the search may turn on)."""
        from sb3_marl.common.augmentation import allowed_augmentations

        env = self.make_env(1, seed=None)
        try:
            return allowed_augmentations(env)
        finally:
            env.close()

    def eval_attack(self) -> Any | None:
        """The attack used during evaluation (``--eval-attack``; budget ``--eval-epsilon``, else the algo's
        ``epsilon``, else the paper's for the map)."""
        epsilon = self.args.eval_epsilon
        if epsilon is None:
            epsilon = self.hyperparams.get("epsilon", paper_epsilon(self.env_name))
        return make_attack(self.args.eval_attack, epsilon, seed=self.args.seed if self.args.seed >= 0 else None)

    def create_callbacks(self) -> list[Any]:
        """Checkpoints (``--save-freq``) and periodic evaluation (``--eval-freq``), both counted in env steps."""
        from sb3_marl.common.callbacks import CheckpointCallback, EvalCallback

        callbacks = []
        if self.args.save_freq > 0:
            callbacks.append(
                CheckpointCallback(
                    save_freq=max(self.args.save_freq // self.n_envs, 1),
                    save_path=str(self.save_path),
                    name_prefix="rl_model",
                    save_replay_buffer=self.args.save_replay_buffer,
                    verbose=self.args.verbose,
                )
            )
        if self.args.eval_freq > 0:
            callbacks.append(
                EvalCallback(
                    self.make_env(self.n_eval_envs, seed=offset_seed(self.args.seed, 1)),
                    n_eval_episodes=self.args.eval_episodes,
                    eval_freq=max(self.args.eval_freq // self.n_envs, 1),
                    log_path=str(self.save_path),
                    best_model_save_path=str(self.save_path),
                    deterministic=True,
                    attack=self.eval_attack(),
                    verbose=self.args.verbose,
                )
            )
        return callbacks

    # ----------------------------------------------------------------------------------------------------------------
    # Training
    def setup_experiment(self) -> Any:
        """Create the run folder, build a new or loaded model, save the configuration and return the model.

        When the settings are refused (the algorithm's ``ValueError`` / ``TypeError`` while the model is built or
        loaded with ``-i``, or a setting ``check_learn_settings`` finds that ``learn`` would refuse at its start),
        the env is closed, the run folder removed, so no ``<map>_<id>`` is left behind, and the run ends with one line
        (``SystemExit``) naming the setting.
        """
        env = self.make_env(self.n_envs, seed=self.args.seed)
        try:
            self._claim_run_folder()
        except OSError as exc:  # a folder check_args could not foresee (e.g. under /proc)
            env.close()
            raise SystemExit(f"-f/--log-folder {self.args.log_folder}: cannot create the run folder: {exc}") from None
        tensorboard_log = str(Path(self.args.tensorboard_log) / self.env_name) if self.args.tensorboard_log else None
        settings = {
            "env": env,
            "seed": self.args.seed,
            "verbose": self.args.verbose,
            "device": self.device,
            "tensorboard_log": tensorboard_log or str(self.save_path),
        }
        try:
            model = self._build_model(settings)
        except BaseException:
            env.close()
            self._release_run_folder()  # claimed by this process: nothing in it is another run's
            raise
        self._save_config()
        return model

    def _build_model(self, settings: dict[str, Any]) -> Any:
        """The model of the yaml / ``-params`` settings (``-i`` loaded with them), checked for the settings
        ``check_learn_settings`` finds that ``learn`` would refuse at its start.

        :param settings: env, seed, verbose, device (and tensorboard_log) of the run
        :raises SystemExit: with :meth:`_refusal`'s one line when the algorithm refuses the settings (its
            ``ValueError`` / ``TypeError``)
        """
        kwargs = _algorithm_kwargs(self.hyperparams)
        try:
            if self.args.trained_agent:
                model = self._load_trained_agent(settings, kwargs)
            else:
                model = self.algo_class(**settings, **kwargs)
            model.check_learn_settings(settings["env"])
        except (ValueError, TypeError) as exc:
            raise SystemExit(self._refusal(exc)) from None
        return model

    def _refusal(self, exc: Exception) -> str:
        """The one-line message for settings the algorithm refused while the model was built or loaded: the
        algorithm's message, the model file with ``-i``, and where the refused setting came from when known."""
        message = " ".join(str(exc).split()) or type(exc).__name__
        match = re.match(r"(\w+)\s*[=\[]", message)  # the algorithms' messages start with "<setting>=" / "<setting>["
        key = match.group(1) if match else None
        if key in (self.args.hyperparams or {}):
            source = f" ({key} from -params)"
        elif key in self.saved_hyperparams:
            source = f" ({key} from {self.conf_file})"
        elif not self.args.trained_agent:
            source = f" (settings from {self.conf_file}{' and -params' if self.args.hyperparams else ''})"
        else:
            source = ""
        if self.args.trained_agent:
            return f"-i {self.args.trained_agent} (--algo {self.algo}, --env {self.env_name}): {message}{source}"
        return f"{self.algo_class.__name__} refuses its settings: {message}{source}"

    def _claim_run_folder(self) -> None:
        """Create ``<log folder>/<algo>/<map>_<id>`` with the next free id (``mkdir`` fails on a taken id, so two
        runs started together never share a folder) and point ``save_path`` / ``params_path`` at it. With
        ``--uuid`` the folder is ``<map>_<id>_<uuid4>``, as in RL Zoo; such folders are not counted as ids:
        ``zoo/enjoy.py`` does not find them, ``-i`` and ``--pretrained`` take their models by path."""
        run_id = get_latest_run_id(self.log_path, self.env_name) + 1
        suffix = f"_{uuid.uuid4()}" if self.args.uuid else ""
        self.log_path.mkdir(parents=True, exist_ok=True)
        while True:
            save_path = self.log_path / f"{self.env_name}_{run_id}{suffix}"
            try:
                save_path.mkdir()
                break
            except FileExistsError:
                run_id += 1
        self.save_path, self.params_path = save_path, save_path / self.env_name
        self.params_path.mkdir()

    def _log_to_a_new_tensorboard_run(self, model: Any) -> None:
        """Give a continued run (``-i``) a TensorBoard folder ``<AlgoClass>_<k>`` of its own: ``learn`` continuing the
        step count would, as in Stable-Baselines3, write into the folder's latest one, another run's with a shared
        ``-tb`` folder."""
        from stable_baselines3.common.logger import configure
        from stable_baselines3.common.utils import get_latest_run_id as latest_tensorboard_run

        name = self.algo_class.__name__
        path = Path(model.tensorboard_log) / f"{name}_{latest_tensorboard_run(model.tensorboard_log, name) + 1}"
        model.set_logger(configure(str(path), ["stdout", "tensorboard"] if model.verbose >= 1 else ["tensorboard"]))
        self._tensorboard_run = path

    def _make_tensorboard_folder(self, model: Any) -> None:
        """Create the model's TensorBoard folder (the run folder, or ``-tb``'s ``<folder>/<map>``), which
        Stable-Baselines3's logger would create at the start of ``learn``: a folder that cannot be made (e.g. under
        ``/proc``, which ``check_args`` cannot foresee) ends in one line naming ``-tb`` instead of a traceback."""
        if not model.tensorboard_log:
            return
        try:
            Path(model.tensorboard_log).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SystemExit(
                f"-tb/--tensorboard-log {self.args.tensorboard_log}: cannot create the TensorBoard folder "
                f"{model.tensorboard_log}: {exc.strerror or exc}"
            ) from None

    def _release_run_folder(self) -> None:
        """Remove what a run refused before its first step wrote: its run folder (claimed by this process, so all
        of it is this run's: settings, TensorBoard events) and a ``-tb`` TensorBoard run made for ``-i``."""
        for folder in (self.save_path, self._tensorboard_run):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def _load_trained_agent(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        """Load ``-i`` to continue training with the yaml / ``-params`` settings and ``--seed`` (as RL Zoo does), and
        the replay buffer saved next to it when there is one.

        The settings that shape the networks (``policy_kwargs``, ``mixer``, ...) are the loaded model's: where the
        yaml differs, a note says so and ``config.yml`` records the model's values. Settings the file holds that the
        yaml and ``-params`` leave out carry over, and ``config.yml`` records them too. The game is the run's (the
        yaml / ``--env-kwargs`` env settings); a note says so where the model file records another one.

        :param settings: env, seed, verbose, device and tensorboard_log of the run.
        :param kwargs: the yaml / ``-params`` settings.
        """
        path = Path(self.args.trained_agent)
        if path.suffix != ".zip" or not path.is_file():
            raise SystemExit(f"--trained-agent must be an existing .zip model file, got {path}")
        print(f"Loading pretrained agent {path}")
        architecture = self.algo_class.architecture_settings
        overrides = {k: v for k, v in kwargs.items() if k not in architecture}
        model = load_zoo_model(self.args.algo, path, **settings, **overrides)
        saved = load_from_zip_file(path, load_params=False)[0]["kwargs"]  # as the file records them (its game too)
        trained_in, run_in = game_env_kwargs(saved.get("env_kwargs") or {}), game_env_kwargs(self.env_kwargs)
        if trained_in != run_in:
            print(f"Continuing in this run's env settings {run_in!r}; the model file records {trained_in!r}")
        for key in set(architecture) & set(kwargs):
            if kwargs[key] != getattr(model, key):
                source = "-params" if key in (self.args.hyperparams or {}) else f"the yaml {self.conf_file}"
                print(f"Keeping the loaded model's {key}={getattr(model, key)!r} ({source} says {kwargs[key]!r})")
                self.saved_hyperparams[key] = getattr(model, key)
        # config.yml records what trains: the settings the model file brings that neither the yaml nor -params set
        # (e.g. a -params setting of the first run), but not the run's own (env, seed, device, ...)
        run_keys = {*settings, "env_kwargs", "n_envs", "backend"}
        carried = {k: v for k, v in saved.items() if k not in self.saved_hyperparams and k not in run_keys}
        self.saved_hyperparams.update(carried)
        buffer_path = replay_buffer_path_for(path)
        if buffer_path.is_file():
            print(f"Loading replay buffer {buffer_path}")
            model.load_replay_buffer(buffer_path)
            self.saved_hyperparams["buffer_size"] = model.buffer_size  # the loaded buffer's capacity (warned if new)
        return model

    def learn(self, model: Any) -> None:
        """Train for ``n_timesteps`` (continuing the step count with ``-i``); Ctrl-C stops and still saves. The
        evaluation envs are closed at the end (the training env stays open: see :meth:`close`).

        A setting refused before the first step (e.g. an evaluation attack's budget; :meth:`setup_experiment` refuses
        most before the run folder is written) leaves no run folder: its ``config.yml`` / ``args.yml`` /
        ``command.txt`` are removed with it. Errors of the training itself are raised as they are."""
        start_timesteps = model.num_timesteps
        callbacks: list[Any] = []
        try:
            callbacks = self.create_callbacks()
            self._make_tensorboard_folder(model)
            if self.args.trained_agent and model.tensorboard_log:
                self._log_to_a_new_tensorboard_run(model)
            log_interval = {"log_interval": self.args.log_interval} if self.args.log_interval > 0 else {}
            model.learn(
                self.n_timesteps,
                callback=callbacks,
                **log_interval,
                tb_log_name=self.algo_class.__name__,
                reset_num_timesteps=not self.args.trained_agent,
                progress_bar=self.args.progress,
            )
        except KeyboardInterrupt:
            self.interrupted = True  # e.g. during the final choice, after the last step: callers can tell
            print("Training interrupted; saving the model")
        except BaseException:
            if model.num_timesteps == start_timesteps:
                self._release_run_folder()
            raise
        finally:
            for callback in callbacks:
                _close_env(getattr(callback, "eval_env", None))

    @staticmethod
    def close(model: Any) -> None:
        """Close the model's training env (StarCraft II processes with ``--backend sc2``)."""
        _close_env(model.get_env())

    def save_trained_model(self, model: Any) -> None:
        """Write ``<map>.zip`` (and ``replay_buffer.pkl`` with ``--save-replay-buffer``) into the run folder."""
        model_path = self.save_path / f"{self.env_name}.zip"
        print(f"Saving to {model_path}")
        model.save(model_path)
        if self.args.save_replay_buffer:
            model.save_replay_buffer(self.save_path / "replay_buffer.pkl")

    def _save_config(self) -> None:
        """``config.yml`` (hyperparameters used), ``args.yml`` (all flags) and ``command.txt``, via safe_dump."""
        config = {**self.saved_hyperparams, "n_timesteps": self.n_timesteps, "n_envs": self.n_envs}
        write_yaml(self.params_path / "config.yml", config)
        # --storage as printed (password hidden), here as everywhere else
        storage, shown = self.args.storage, self.storage_label if self.args.storage else None
        write_yaml(self.params_path / "args.yml", {**vars(self.args), "storage": shown})
        command = getattr(sys, "orig_argv", sys.argv)
        if storage:
            command = [part.replace(storage, shown) for part in command]
        (self.params_path / "command.txt").write_text(" ".join(command) + "\n")
        print(f"Log path: {self.save_path}")

    # ----------------------------------------------------------------------------------------------------------------
    # Hyperparameter optimisation
    def hyperparameters_optimization(self) -> optuna.Study:
        """Run the Optuna study (``--n-trials`` here, shared with other workers through ``--storage``) and report."""
        self.log_path.mkdir(parents=True, exist_ok=True)
        # The env settings and the evaluation attack fail here, with their message, if they fail at all: inside a
        # trial their SystemExit would escape Optuna and leave the trial RUNNING for good (counted by
        # --max-total-trials).
        self.allowed_augmentations  # noqa: B018  (builds an env of the settings once; cached for the trials)
        self.eval_attack()
        self._check_settings()
        label = self.storage_label
        study_name = self.study_name
        study = _open_study(self._storage(), label, study_name, self._create_pruner())
        self._check_study_objective(study, study_name, label)
        # Offset the sampler's seed by the trials already stored, so that workers sharing a study with the same
        # --seed do not propose the same parameters.
        study.sampler = self._create_sampler(offset_seed(self.args.seed, len(study.trials)))
        print(f"Optuna study {study_name!r} in {label}")
        self._note_fixed_settings()
        callbacks = []
        if self.args.max_total_trials is not None:
            # as RL Zoo: running trials count, or each worker would start one more than the budget
            counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            held = len(study.get_trials(deepcopy=False, states=counted))
            if held >= self.args.max_total_trials:
                print(f"The study already holds {held} trials (--max-total-trials {self.args.max_total_trials})")
                self._report(study)
                return study
            callbacks.append(optuna.study.MaxTrialsCallback(self.args.max_total_trials, states=counted))
        try:
            study.optimize(
                self.objective,
                n_trials=self.args.n_trials,
                n_jobs=self.args.n_jobs,
                gc_after_trial=True,
                callbacks=callbacks,
            )
        except KeyboardInterrupt:
            print("Tuning interrupted; writing the report of the trials so far")
        self._report(study)
        return study

    def _check_settings(self) -> None:
        """Build the model of the yaml / ``-params`` settings once, as :meth:`setup_experiment` does, so that settings
        the algorithm refuses end the study before it is opened, with the same one line (in the trials they pruned
        every trial, and the study recorded them as its settings)."""
        env = self.make_env(self.n_envs, seed=self.args.seed)
        try:
            self._build_model({"env": env, "seed": self.args.seed, "verbose": 0, "device": self.device})
        finally:
            env.close()

    def _note_fixed_settings(self) -> None:
        """Say which searched settings ``-params`` keeps fixed, and which settings the search space derives from the
        fixed values (the sampler's keys and choices, from throw-away first-choice draws with and without them)."""
        given = self.args.hyperparams
        if not given:
            return
        sampler, augmentations = HYPERPARAMS_SAMPLER[self.algo], self.allowed_augmentations
        searched, fixed = drop_fixed(sampler(_FirstChoices(), augmentations), given)
        names = fixed_names(fixed)
        if not names:
            return
        following = drop_fixed(sampler(FixedParamsTrial(_FirstChoices(), fixed_params(given)), augmentations), given)[0]
        derived = [key for key in {*searched, *following} if searched.get(key) != following.get(key)]
        note = f"; the search space sets {', '.join(sorted(derived))} from them" if derived else ""
        print(f"Note: -params keeps {', '.join(names)} fixed; the trials do not search them{note}")

    @property
    def study_name(self) -> str:
        """``--study-name``, by default ``<algo>_<map>``."""
        return self.args.study_name or f"{self.algo}_{self.env_name}"

    @property
    def storage_label(self) -> str:
        """The Optuna storage as printed: ``--storage`` with its password hidden, or the default SQLite file."""
        return _redact(self.args.storage) if self.args.storage else str(self.log_path / "optuna.db")

    def _storage(self) -> str | optuna.storages.BaseStorage:
        """``--storage``: an RDB URL, or a path ending in ``.log`` for Optuna's journal file (as RL Zoo; workers on
        one file system share it without a server); by default SQLite ``optuna.db`` in the log folder.

        :raises SystemExit: naming ``--storage`` and what it may be, when it is neither."""
        if not self.args.storage:
            from sqlalchemy.engine import URL

            # escaped: a "?" or "%" in the log folder's path is part of the file name, not the URL's query
            database = str((self.log_path / "optuna.db").resolve())
            return URL.create("sqlite", database=database).render_as_string(hide_password=False)
        if self.args.storage.endswith(".log"):
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            try:
                Path(self.args.storage).parent.mkdir(parents=True, exist_ok=True)  # as RL Zoo
                return JournalStorage(JournalFileBackend(self.args.storage))
            except OSError as exc:
                raise SystemExit(f"Cannot open Optuna journal {self.args.storage}: {exc}") from None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(self.args.storage)
        except ArgumentError:
            raise SystemExit(
                f"--storage {self.args.storage!r} is neither a database URL (such as sqlite:///path.db or "
                "postgresql+psycopg2://user:password@host/db) nor a journal file path ending in .log"
            ) from None
        return self.args.storage

    def _objective_settings(self) -> dict[str, Any]:
        """What a trial's value depends on besides the sampled parameters (JSON-able): trials of one study must share
        it, or the sampler and the pruner compare unlike numbers."""
        settings = {
            "algo": self.algo,
            "env": self.env_name,
            "n_timesteps": self.n_timesteps,
            "n_envs": self.n_envs,
            "env_kwargs": self.env_kwargs,
            "hyperparams": self.saved_hyperparams,
            **{name: getattr(self.args, name) for name in OBJECTIVE_FLAGS},
        }
        return _plain(settings)

    def _check_study_target(
        self, recorded: dict[str, Any] | None, study: str, hint: str, keys: tuple[str, ...] = STUDY_TARGET
    ) -> None:
        """Exit with one line when the study's recorded settings (:meth:`_objective_settings`) name another ``--algo``
        or ``--env`` (``keys`` of :data:`STUDY_TARGET`) than this run's: its trials sampled another search space, or
        were measured on another map. A study recorded without them passes.

        :param study: the study and what uses it, starting the message (``"-optimize: Optuna study 's' in <label>"``)
        :param hint: what to do instead, ending the message
        :param keys: the settings that must match (``--trial-id`` replays a trial on another map: only ``"algo"``)
        """
        here = {"algo": self.algo, "env": self.env_name}
        tuned = {key: (recorded or {}).get(key, value) if key in keys else value for key, value in here.items()}
        if tuned != here:
            raise SystemExit(
                f"{study} tunes --algo {tuned['algo']} on --env {tuned['env']}, not --algo {self.algo} on --env "
                f"{self.env_name}; {hint}"
            )

    def _check_study_objective(self, study: optuna.Study, study_name: str, label: str) -> None:
        """Record the objective's settings in a study that holds no finished (complete or pruned) trial, e.g. one
        whose first trial was interrupted; refuse to add trials of other settings to one that does, and any trial to
        a study of another algorithm or map (:meth:`_check_study_target`)."""
        settings = self._objective_settings()
        stored = study.user_attrs.get("objective")
        self._check_study_target(
            stored, f"-optimize: Optuna study {study_name!r} in {label}", "pass another --study-name"
        )
        if stored is not None:  # recorded without the algorithm and map: this run's (checked above when recorded)
            stored = {**{key: settings[key] for key in STUDY_TARGET}, **stored}
        if stored == settings:
            return
        finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        if stored is None or not finished:
            study.set_user_attr("objective", settings)
            return
        details = "; ".join(_differences(stored, settings))
        raise SystemExit(
            f"Optuna study {study_name!r} in {label} holds {finished} finished trial{'s' * (finished > 1)} of other "
            f"settings ({details}): pass another --study-name, or the study's settings"
        )

    def _create_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        if self.args.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(n_startup_trials=self.args.n_startup_trials, seed=seed, multivariate=True)

    def _create_pruner(self) -> optuna.pruners.BasePruner:
        if self.args.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=4, min_early_stopping_rate=0)
        if self.args.pruner == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=self.args.n_startup_trials, n_warmup_steps=self.args.n_evaluations // 3
            )
        return optuna.pruners.NopPruner()

    def objective(self, trial: optuna.Trial) -> float:
        """Mean over ``--n-seeds-per-trial`` seeds of the last evaluation's win rate with the sampled settings."""
        given = self.args.hyperparams or {}
        # -params settings stay fixed (what the sampler derives from them follows them); the trial records which of
        # its sampled values it did not use, and their values
        sampled = HYPERPARAMS_SAMPLER[self.algo](
            FixedParamsTrial(trial, fixed_params(given)), self.allowed_augmentations
        )
        sampled, fixed = drop_fixed(sampled, given)
        if fixed:
            trial.set_user_attr("fixed_by_params", _plain(fixed))
        kwargs = merge_sampled(_algorithm_kwargs(self.hyperparams), sampled)
        eval_freq = max(self.n_timesteps // self.args.n_evaluations // self.n_envs, 1)
        win_rates = []
        for seed_index in range(self.args.n_seeds_per_trial):
            seed = offset_seed(self.args.seed, 1000 * trial.number + seed_index)
            eval_env, env = self.make_env(self.n_eval_envs, seed=offset_seed(seed, 1)), None
            try:
                callback = TrialEvalCallback(
                    eval_env,
                    trial,
                    n_eval_episodes=self.args.eval_episodes,
                    eval_freq=eval_freq,
                    step_offset=seed_index * self.args.n_evaluations,
                    attack=self.eval_attack(),
                    n_evaluations=self.args.n_evaluations,
                    prune=seed_index == 0,  # the pruners would score later seeds with seed 0's reports mixed in
                )
                env = self.make_env(self.n_envs, seed=seed)
                model = self.algo_class(
                    env=env, seed=seed, verbose=max(self.args.verbose - 1, 0), device=self.device, **kwargs
                )
                model.learn(self.n_timesteps, callback=callback)
                if callback.is_pruned:
                    raise optuna.TrialPruned()
                selection = getattr(model, "final_selection", None)  # (kept network, win rates) or None
                if callback.eval_idx < self.args.n_evaluations:  # the last evaluation fell after the budget
                    win_rates.append(callback.evaluate())
                elif selection is not None and selection[0] != "online":
                    # learn() ended by keeping another network than the one the last evaluation tested
                    win_rates.append(callback.evaluate(report=False))
                else:
                    win_rates.append(callback.last_win_rate)
            except (ValueError, AssertionError) as exc:
                # as RL Zoo: settings the model refuses prune the trial, not the whole study
                print(f"Trial {trial.number} pruned, its settings failed: {exc}\nSampled: {sampled}")
                raise optuna.TrialPruned(str(exc)) from exc
            finally:  # also when the attack or the training env cannot be made (SC2 processes with --backend sc2)
                _close_env(env)
                eval_env.close()
        trial.set_user_attr("win_rates", win_rates)
        trial.set_user_attr("win_rate_std", float(np.std(win_rates)))
        return float(np.mean(win_rates))

    def _report(self, study: optuna.Study) -> None:
        """Print the best trial; write the trials as CSV and Optuna's plots as PNG under the log folder."""
        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        print(f"Number of finished trials: {len(study.trials)} ({len(complete)} complete)")
        if complete:
            print(f"Best trial #{study.best_trial.number}: win rate {study.best_value:.3f}")
            kept = fixed_params(study.best_trial.user_attrs.get("fixed_by_params") or {})
            for key, value in study.best_trial.params.items():
                unused = f" (not used: -params kept {key}={kept[key]!r})" if key in kept else ""
                print(f"    {key}: {value}{unused}")
        stem = (
            f"report_{self.env_name}_{self.args.n_trials}-trials-{self.n_timesteps}"
            f"-{self.args.sampler}-{self.args.pruner}_{int(time.time())}"
        )
        csv_path = self.log_path / f"{stem}.csv"
        study.trials_dataframe().to_csv(csv_path)
        print(f"Writing report to {csv_path}")
        if not self.args.no_optim_plots:
            for name, path in _save_study_plots(study, self.log_path / stem).items():
                print(f"Plot {name}: {path}")


class _FirstChoices:
    """Stands for an Optuna trial that suggests the first choice / the low end: what keys a sampler returns."""

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return choices[0]

    def suggest_float(self, name: str, low: float, high: float, **kwargs: Any) -> float:
        return low

    def suggest_int(self, name: str, low: int, high: int, **kwargs: Any) -> int:
        return low


def _algorithm_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The algorithm's constructor keywords among ``hyperparams`` (without the zoo's :data:`ZOO_KEYS`)."""
    return {key: value for key, value in hyperparams.items() if key not in ZOO_KEYS}


class _Unset:
    """Stands for a setting that one of two compared settings lacks."""

    def __repr__(self) -> str:
        return "unset"


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it (what a study records; other objects as their ``str``)."""
    return json.loads(json.dumps(value, default=str))


def _differences(there: Any, here: Any, name: str = "") -> list[str]:
    """``"<name>: <there> there, <here> here"`` for each setting that differs between two JSON-like values, descending
    into the mappings both hold (``hyperparams.policy_kwargs.rnn_hidden_dim``); a key one side lacks shows as unset."""
    if isinstance(there, dict) and isinstance(here, dict):
        return [
            line
            for key in sorted({*there, *here})
            for line in _differences(
                there.get(key, _Unset()), here.get(key, _Unset()), f"{name}.{key}" if name else key
            )
        ]
    return [] if there == here else [f"{name}: {there!r} there, {here!r} here"]


def _close_env(env: Any) -> None:
    """Close ``env`` when it is an env (an EvalCallback not yet started holds a map name)."""
    if hasattr(env, "close"):
        env.close()


def _whole_number(name: str, value: Any, source: str | Path) -> int:
    """``value`` as a positive whole number (``205e3`` included: the yaml's numbers are read as floats).

    :raises SystemExit: naming ``name``, the value and ``source`` (the hyperparameters file) otherwise.
    """
    try:
        return whole_number(name, value, 1)
    except ValueError as exc:
        raise SystemExit(f"{exc} ({source} or the command line)") from None


def _redact(url: str) -> str:
    """A storage URL with its password hidden, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: print as is
        return url


def _missing_storage_file(storage: str) -> Path | None:
    """The file that ``--storage`` names (a journal ``.log`` or an SQLite database) when it does not exist; None for a
    file that exists, an in-memory database or a server's URL."""
    if storage.endswith(".log"):
        return None if Path(storage).is_file() else Path(storage)
    from sqlalchemy.engine import make_url

    try:
        url = make_url(storage)
    except Exception:  # not a URL: opening it says so
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return None if Path(url.database).is_file() else Path(url.database)


def _open_study(
    storage: str | optuna.storages.BaseStorage, label: str, study_name: str, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """Create or load a study; an unreachable or malformed storage exits with one line naming it (``label``)."""
    try:
        return optuna.create_study(
            storage=storage,
            study_name=study_name,
            pruner=pruner,
            load_if_exists=True,
            direction="maximize",
        )
    except _storage_errors() as exc:
        raise SystemExit(f"Cannot open Optuna storage {label}: {_first_line(exc)}") from None


def _storage_errors() -> tuple[type[Exception], ...]:
    """What opening an unreachable or malformed Optuna storage raises."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    return SQLAlchemyError, ArgumentError, ImportError, ValueError, OSError


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _save_study_plots(study: optuna.Study, stem: Path) -> dict[str, Path]:
    """Optuna's matplotlib plots of the study as PNG files ``<stem>_<name>.png``; a plot that has nothing to show
    (the optimisation history without a complete trial, the intermediate values without a reported evaluation,
    parameter importances with fewer than 2 complete trials) is skipped with a note."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    trials = study.get_trials(deepcopy=False)
    complete = sum(trial.state == TrialState.COMPLETE for trial in trials)
    reported = any(trial.intermediate_values for trial in trials)
    plots = {  # name: (plot, why it is skipped or None)
        "optimization_history": (ovm.plot_optimization_history, None if complete else "no complete trial"),
        "intermediate_values": (ovm.plot_intermediate_values, None if reported else "no trial reported a win rate"),
        "param_importances": (
            ovm.plot_param_importances,
            None if complete >= 2 else f"{complete} complete trial{'s' * (complete != 1)}, it needs 2",
        ),
    }
    written = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, (plot, missing) in plots.items():
            if missing:
                print(f"Skipping the {name} plot: {missing}")
                continue
            try:
                axes = plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                print(f"Skipping the {name} plot: {exc}")
                continue
            figure = np.ravel(axes)[0].figure
            path = stem.with_name(f"{stem.name}_{name}.png")
            figure.savefig(path, bbox_inches="tight")
            plt.close(figure)
            written[name] = path
    return written
