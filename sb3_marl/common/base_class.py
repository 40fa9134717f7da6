"""The base of every sb3-marl algorithm: env, device, seeding, logger, predict and save/load.

Modelled on Stable-Baselines3's ``BaseAlgorithm``.  The env is a
:class:`~sb3_marl.envs.base.BatchedMultiAgentEnv` holding ``n_envs`` episodes stepped as one batch.
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import shutil
import sys
import time
from abc import ABCMeta, abstractmethod
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common import callbacks as sb3_callbacks
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ProgressBarCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.save_util import recursive_getattr
from stable_baselines3.common.type_aliases import MaybeCallback
from stable_baselines3.common.utils import safe_mean, set_random_seed, update_learning_rate

from sb3_marl.common.callbacks import FunctionCallback
from sb3_marl.common.logger import configure_logger
from sb3_marl.common.save_util import load_from_zip_file, save_to_zip_file
from sb3_marl.common.schedules import SaveableSchedule, make_schedule, schedule_to_dict
from sb3_marl.common.validation import (
    MAX_SEED,
    check_default_dtype,
    constructor_keywords,
    flag,
    is_finite_number,
    json_mapping,
    model_device,
    name_list,
    path_argument,
    settings_mapping,
    whole_number,
)
from sb3_marl.envs.base import (
    RUNTIME_ENV_KWARGS,
    BatchedMultiAgentEnv,
    game_env_kwargs,
    global_state_space,
    highest_batch_seed,
    joint_action_space,
    joint_observation_space,
)
from sb3_marl.envs.make_env import BACKENDS
from sb3_marl.policies.qmix_policy import RecurrentState
from sb3_marl.version import __version__

SelfBaseAlgorithm = TypeVar("SelfBaseAlgorithm", bound="BaseMultiAgentAlgorithm")

#: The env sizes a model is built for (and checked against when an env is attached).
ENV_SHAPE_KEYS = ("n_agents", "n_actions", "obs_shape", "state_shape", "episode_limit")
#: Constructor arguments that are not settings of the model (never saved).
_NOT_SAVED = ("self", "env", "device", "_init_setup_model")


def env_shapes(env: BatchedMultiAgentEnv) -> dict[str, int]:
    """The sizes of ``env`` that a model depends on."""
    return {key: int(getattr(env, key)) for key in ENV_SHAPE_KEYS}


def offset_seed(seed: int | None, offset: int) -> int | None:
    """A seed derived from ``seed`` (for a second env or a helper model), kept within the seeds numpy accepts."""
    return None if seed is None else (seed + offset) % (MAX_SEED + 1)


def batch_env_seed(seed: int | None, n_envs: int) -> int | None:
    """The seed of a batch of ``n_envs`` envs for a model seeded ``seed``: ``seed`` itself, wrapped into
    ``[0, 2**32 - n_envs]`` where env ``b``'s seed ``seed + b`` would pass the unsigned 32-bit range."""
    return None if seed is None else seed % (highest_batch_seed(n_envs) + 1)


def _game_settings(env: BatchedMultiAgentEnv) -> dict[str, Any]:
    """``env``'s game settings (its ``env_kwargs``) as a model file's JSON holds them."""
    return json_mapping(f"the env_kwargs of env {getattr(env, 'map_name', '?')!r}", env.env_kwargs)


def check_env_kwargs_fit(env: BatchedMultiAgentEnv, env_kwargs: dict[str, Any]) -> None:
    """Refuse ``env_kwargs`` given beside the env instance ``env`` unless each game setting among them is one the
    instance was built with (they would be ignored: ``env_kwargs`` build envs from a map name)."""
    built = _game_settings(env)
    wrong = {
        key: value for key, value in game_env_kwargs(env_kwargs).items() if key not in built or built[key] != value
    }
    if wrong:
        raise ValueError(
            f"env_kwargs {wrong!r} are not settings the env instance was built with ({built!r}): env_kwargs build "
            "envs from a map name; give the env alone, or the map name with its env_kwargs"
        )


def check_instance_settings(env: BatchedMultiAgentEnv, n_envs: int, backend: str | None) -> None:
    """Refuse ``n_envs`` (other than 1, the default) and ``backend`` (other than None) that contradict the env
    instance ``env``: they only shape an env built from a map name, so they would be ignored."""
    if n_envs not in (1, env.n_envs):
        raise ValueError(
            f"n_envs={n_envs}, but the env instance given steps {env.n_envs} episodes at once: n_envs only sizes "
            f"an env built from a map name; pass n_envs={env.n_envs} (or leave it out) with this env, or the map "
            "name to build one of n_envs episodes"
        )
    if backend is not None and env.backend is not None and backend != env.backend:
        raise ValueError(
            f"backend={backend!r}, but the env instance given was built with backend={env.backend!r}: backend only "
            "chooses how an env is built from a map name; leave it out with this env, or give the map name"
        )


def constructor_defaults(cls: type) -> dict[str, Any]:
    """Default values of the constructor arguments of ``cls`` and of its parents (the nearest class wins)."""
    defaults: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            if param.default is not inspect.Parameter.empty:
                defaults.setdefault(param.name, param.default)
    return defaults


def _folders_in(folder: str | None) -> set[Path]:
    """The folders in ``folder`` (none when it is None or does not exist)."""
    if folder is None or not Path(folder).is_dir():
        return set()
    return {entry for entry in Path(folder).iterdir() if entry.is_dir()}


def _as_saved(value: Any) -> Any:
    """``value`` as a model file gives it back (through JSON: tuples become lists), to compare with saved settings;
    unchanged when it cannot be written as JSON."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


#: counters that are fractions in [0, 1]
_FRACTION_COUNTERS = ("exploration_rate", "_current_progress_remaining")


def _checked_counter(path: Any, name: str, value: Any, initial: Any) -> Any:
    """A counter ``value`` read from the model file ``path`` when it is of its initial value's kind (a whole
    number >= 0, a finite number, a mapping or a list of episode records); otherwise a ValueError naming the file
    and the counter."""
    if isinstance(initial, dict):
        fits = isinstance(value, dict)
    elif isinstance(initial, list):  # of episode records, each a mapping of numbers
        fits = isinstance(value, list) and all(
            isinstance(item, dict) and all(is_finite_number(number) for number in item.values()) for item in value
        )
    elif isinstance(initial, int):
        fits = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    else:
        fits = is_finite_number(value)
    if not fits:
        raise ValueError(
            f"{path} is not a valid model file: its counter {name}={value!r} is not a {type(initial).__name__}"
        )
    if name in _FRACTION_COUNTERS and not 0.0 <= value <= 1.0:
        raise ValueError(f"{path} is not a valid model file: its counter {name}={value!r} is not in [0, 1]")
    return value


#: attributes that Stable-Baselines3 (and RL Zoo's enjoy, in ``custom_objects``) overrides on load, which sb3-marl
#: makes from settings instead
_SB3_DERIVED = {
    "lr_schedule": "learning_rate (e.g. custom_objects={'learning_rate': 0.0})",
    "exploration_schedule": "exploration_initial_eps, exploration_final_eps and exploration_timesteps",
}


class _ClosesItsEnvOnError(ABCMeta):
    """Metaclass of the algorithms: a constructor that fails after it built its env from a map name (a later check
    refused a setting) closes that env before the error goes on: an SC2 env holds StarCraft II processes."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        model = cls.__new__(cls, *args, **kwargs)
        try:
            model.__init__(*args, **kwargs)
        except BaseException:
            if model.__dict__.get("_env_built_here") and model.__dict__.get("env") is not None:
                model.env.close()
            raise
        return model


class BaseMultiAgentAlgorithm(metaclass=_ClosesItsEnvOnError):
    """Shared glue of the sb3-marl algorithms.

    :param env: a :class:`BatchedMultiAgentEnv`, a SMAC map name (built with ``make_env``) or None (predict-only
        model, e.g. after ``load`` without an env).
    :param learning_rate: learning rate of the optimizer: a float, or a schedule of the progress remaining (1 at the
        start of ``learn``, 0 at its end) that can be saved as JSON — SB3's ``LinearSchedule`` / ``ConstantSchedule``,
        a :class:`~sb3_marl.common.schedules.StepSchedule`, or their settings dict (see
        :func:`~sb3_marl.common.schedules.make_schedule`). The optimizers' rate is set from it before each update.
    :param policy_kwargs: keyword arguments of the policy network (e.g. ``rnn_hidden_dim``).
    :param n_envs: episodes stepped as one batch when ``env`` is a map name (an env instance brings its own: another
        value than 1 or the instance's is refused).
    :param env_kwargs: extra keyword arguments of ``make_env`` when ``env`` is a map name. With an env instance the
        model takes the instance's game settings (its ``env_kwargs``) instead, so that every model file records the
        game it was trained in (and its ``backend``); given as well, its game settings among them must be the
        instance's, and the run-time ones (``compile``, ...) are kept for envs built later from the map name.
    :param backend: env backend when ``env`` is a map name (``"sim"``: built-in simulator, ``"sc2"``: real SMAC);
        None: ``"sim"``, or an env instance's own (another backend than the instance's is refused).
    :param stats_window_size: number of recent episodes averaged in the ``rollout/*`` logs.
    :param tensorboard_log: folder for TensorBoard runs (None: no TensorBoard).
    :param verbose: 0 silent, 1 training tables and info messages, 2 debug.
    :param seed: seed of python, numpy, torch, the algorithm's generator and the env (None: unseeded).
    :param device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    """

    #: True for an adversary, whose env's ``battle_won`` is its victim's win (see :meth:`_on_env_step`)
    battle_won_is_a_loss: ClassVar[bool] = False
    #: settings that shape the saved networks or optimizer state: ``load`` refuses to override them
    architecture_settings: ClassVar[tuple[str, ...]] = ("policy_kwargs",)

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseMultiAgentAlgorithm:
        """Refuse Stable-Baselines3's ``Algo("MlpPolicy", env)`` before any constructor reads its arguments (each
        subclass checks its own first, and would name the shifted env as another setting)."""
        env = args[0] if args else kwargs.get("env")
        if isinstance(env, type) and issubclass(env, BatchedMultiAgentEnv):
            raise TypeError(
                f"{cls.__name__}({env.__name__}, ...): env is the class {env.__name__}; pass an instance of it, as "
                f"{cls.__name__}({env.__name__}(...), ...), or a map name"
            )
        if isinstance(env, type) or (isinstance(env, str) and env.endswith("Policy")):
            name = env if isinstance(env, str) else env.__name__
            raise ValueError(
                f"{cls.__name__}({name!r}, ...): there is no policy argument (Stable-Baselines3's "
                f"Algo('MlpPolicy', env)); the env comes first, as {cls.__name__}('3m', ...), and the network "
                "sizes go in policy_kwargs"
            )
        return super().__new__(cls)

    def __init__(
        self,
        env: BatchedMultiAgentEnv | str | None,
        learning_rate: float | SaveableSchedule | dict[str, Any],
        policy_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        env_kwargs: dict[str, Any] | None = None,
        backend: str | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
    ) -> None:
        check_default_dtype(type(self).__name__)
        self.lr_schedule = make_schedule(learning_rate, "learning_rate")
        first_rate, last_rate = self.lr_schedule(1.0), self.lr_schedule(0.0)
        if not (is_finite_number(first_rate) and first_rate >= 0.0):
            raise ValueError(
                f"learning_rate={learning_rate!r} must be a finite number >= 0 at the start of training (0: the "
                "weights stay, as RL Zoo's enjoy loads models with custom_objects={'learning_rate': 0.0})"
            )
        if not (is_finite_number(last_rate) and last_rate >= 0.0):
            raise ValueError(
                f"learning_rate={learning_rate!r} ends at {last_rate!r}: a rate must stay a finite number >= 0 (a "
                "negative one would climb the loss)"
            )
        n_envs = whole_number("n_envs", n_envs, 1)
        if backend is not None and backend not in BACKENDS:
            raise ValueError(
                f"backend={backend!r} is not one of {BACKENDS} ('sim': the built-in simulator, 'sc2': StarCraft II "
                "through SMAC)"
            )
        if isinstance(env, BatchedMultiAgentEnv):
            check_instance_settings(env, n_envs, backend)
        seed = None if seed is None else whole_number("seed", seed, 0, high=MAX_SEED)
        #: as given: a float, or the schedule's JSON settings (what ``save`` records)
        self.learning_rate: float | dict[str, Any] = (
            float(learning_rate) if is_finite_number(learning_rate) else schedule_to_dict(self.lr_schedule)
        )
        self.policy_kwargs = json_mapping("policy_kwargs", policy_kwargs)
        self.n_envs = n_envs
        self.env_kwargs = json_mapping("env_kwargs", env_kwargs)
        misplaced = sorted({"map_name", "n_envs", "backend", "seed", "device"} & set(self.env_kwargs))
        if misplaced:
            raise ValueError(
                f"env_kwargs={self.env_kwargs}: {', '.join(misplaced)} are {type(self).__name__}'s own arguments "
                "(the env is built with the model's), not game settings"
            )
        self.backend = backend or "sim"
        self.stats_window_size = whole_number("stats_window_size", stats_window_size, 1)
        self.tensorboard_log = None if tensorboard_log is None else path_argument("tensorboard_log", tensorboard_log)
        self.verbose = whole_number("verbose", verbose, 0)
        self.seed = seed
        #: seed of the env's next full reset (set by :meth:`set_random_seed`, used once)
        self._pending_env_seed: int | None = None
        self.device = model_device(device)
        if verbose >= 1:
            print(f"Using {self.device} device")

        self.env: BatchedMultiAgentEnv | None = None
        self.map_name: str | None = env if isinstance(env, str) else None
        self.env_shapes: dict[str, int] = {}
        if isinstance(env, BatchedMultiAgentEnv):
            check_env_kwargs_fit(env, self.env_kwargs)
        #: whether the constructor built ``env`` from a map name (closed again when the constructor fails)
        self._env_built_here = isinstance(env, str)
        if env is not None:
            self._attach_env(self._make_env(env))

        self.policy: torch.nn.Module | None = None
        self.exploration_rate = 0.0
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._num_timesteps_at_start = 0
        self._episode_num = 0
        self._n_updates = 0
        self._current_progress_remaining = 1.0
        self.start_time = time.time_ns()
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=self.stats_window_size)
        self._logger: Logger | None = None
        self._custom_logger = False
        self._generator = torch.Generator(device=self.device)

    # ------------------------------------------------------------------ learning rate
    def _update_learning_rate(self, optimizer: torch.optim.Optimizer) -> None:
        """Set every parameter group of ``optimizer`` to the schedule's rate now and log it (SB3's behaviour)."""
        rate = float(self.lr_schedule(self._current_progress_remaining))
        update_learning_rate(optimizer, rate)
        self.logger.record("train/learning_rate", rate)

    # ------------------------------------------------------------------ env
    def _make_env(self, env: BatchedMultiAgentEnv | str) -> BatchedMultiAgentEnv:
        if isinstance(env, BatchedMultiAgentEnv):
            return env
        if isinstance(env, str):
            from sb3_marl.envs.make_env import make_env

            return make_env(
                env,
                n_envs=self.n_envs,
                backend=self.backend,
                seed=batch_env_seed(self.seed, self.n_envs),
                device=self.device,
                **self.env_kwargs,
            )
        raise TypeError(f"env must be a BatchedMultiAgentEnv, a map name or None, got {type(env).__name__}")

    def _attach_env(self, env: BatchedMultiAgentEnv) -> None:
        """Check ``env`` against the model's sizes (when known) and make it the training env; its game settings and
        backend become the model's (``env_kwargs``, ``backend``), the run-time keywords stay the model's."""
        shapes = self._check_env_shapes(env)
        game = _game_settings(env)
        run_time = {key: value for key, value in self.env_kwargs.items() if key in RUNTIME_ENV_KWARGS}
        self.env = env
        self.env_shapes = shapes
        self.map_name = getattr(env, "map_name", self.map_name)
        self.n_envs = env.n_envs
        self.env_kwargs = {**game, **run_time}
        self.backend = env.backend or self.backend

    def _check_env_shapes(self, env: BatchedMultiAgentEnv) -> dict[str, int]:
        """``env``'s shapes (:func:`env_shapes`); a ValueError naming both maps when the model knows other ones."""
        shapes = env_shapes(env)
        if self.env_shapes and shapes != self.env_shapes:
            raise ValueError(
                f"Env {getattr(env, 'map_name', '?')!r} has shapes {shapes}, but the model was built for "
                f"{self.map_name!r} with shapes {self.env_shapes}"
            )
        return shapes

    @property
    def observation_space(self) -> spaces.Box | None:
        """Joint observation space of one env of the model's game, float32[N, O] (Stable-Baselines3's attribute);
        None while the model knows no env sizes. Kept by saved models: a loaded model has it without an env."""
        if not self.env_shapes:
            return None
        return joint_observation_space(self.env_shapes["n_agents"], self.env_shapes["obs_shape"])

    @property
    def state_space(self) -> spaces.Box | None:
        """Global state space of one env of the model's game, float32[S]; None while the model knows no env sizes."""
        if not self.env_shapes:
            return None
        return global_state_space(self.env_shapes["state_shape"])

    @property
    def action_space(self) -> spaces.Space | None:
        """Joint action space of one env, as the model's ``predict`` answers (Stable-Baselines3's attribute): one
        action index in [0, A) per agent; None while the model knows no env sizes."""
        if not self.env_shapes:
            return None
        return joint_action_space(self.env_shapes["n_agents"], self.env_shapes["n_actions"])

    def get_env(self) -> BatchedMultiAgentEnv | None:
        """The training env (None for a predict-only model)."""
        return self.env

    def set_env(self, env: BatchedMultiAgentEnv | str, force_reset: bool = True) -> None:
        """Attach a new env with the same sizes as the model (``n_envs`` may differ).

        :param env: the env or a map name.
        :param force_reset: start fresh episodes at the next ``learn``; False (continue the episodes in progress) is
            only possible with the env already attached.
        """
        force_reset = flag("force_reset", force_reset)
        new_env = self._make_env(env)
        if not force_reset and self.env is not None and new_env is not self.env:
            raise ValueError(
                "force_reset=False continues the episodes in progress, which live in the current env; another env "
                "starts fresh ones: pass force_reset=True (the default)"
            )
        self._attach_env(new_env)
        if force_reset:
            self.discard_running_episodes()

    @abstractmethod
    def discard_running_episodes(self) -> None:
        """Forget the training env's episodes in progress without storing them: the next rollout resets the env and
        starts new ones. :meth:`set_env` calls it, and :func:`~sb3_marl.common.evaluation.evaluate_policy` when it
        plays in the model's training env, which it resets (Stable-Baselines3 would go on from the stale last
        observations)."""

    def get_vec_normalize_env(self) -> None:
        """No observation normalisation wrapper exists here; Stable-Baselines3 callbacks call this."""
        return None

    # ------------------------------------------------------------------ setup
    @abstractmethod
    def _setup_model(self) -> None:
        """Build the policy (and optimizer) from ``env_shapes``."""

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed python, numpy, torch and the algorithm's generator; the env is seeded with ``seed`` (wrapped into the
        env seed range, see :func:`batch_env_seed`) at its next full reset, once (as Stable-Baselines3's
        ``VecEnv.seed``): a second ``learn(reset_num_timesteps=True)`` continues the env's random stream instead of
        replaying the first run's episodes.

        :param seed: None seeds only the algorithm's generator, from the system's entropy: a new ``torch.Generator``
            always starts from the same default seed, which would give every unseeded run the same exploration and
            replay draws.
        """
        if seed is None:
            self._generator.seed()
        else:
            seed = whole_number("seed", seed, 0, high=MAX_SEED)
            set_random_seed(seed, using_cuda=self.device.type == "cuda")
            self._generator.manual_seed(seed)
        self._pending_env_seed = seed

    def _on_env_step(
        self,
        callback: BaseCallback,
        step_locals: dict[str, Any],
        terminated: torch.Tensor,
        reward: torch.Tensor,
        info: dict[str, torch.Tensor],
        episode_return: torch.Tensor,
        episode_length: torch.Tensor,
    ) -> bool:
        """``callback.on_step()`` after one batched env step of a collection loop, whose ``locals`` the callback sees
        with Stable-Baselines3's ``dones`` (numpy bool[n_envs]), ``rewards`` (numpy float[n_envs]) and ``infos``
        (one dict per env: the step's ``info`` entries as Python values, and where the episode ended ``episode``:
        ``{"r": return, "l": length in steps}``, as SB3's ``Monitor`` adds, with SB3's ``is_success`` and
        ``TimeLimit.truncated`` (it hit the time limit, which the env does not observe: ``env.time_observed``) where
        the env reports ``battle_won`` and ``episode_limit``,
        and ``terminal_observation``, the episode's final observations as numpy float[N, O]) added. ``is_success``
        is the battle won, or for an adversary (:attr:`battle_won_is_a_loss`) the battle not won by its victim.
        The loop's own variables stay torch tensors on the model's device: ``new_obs`` (float[n_envs, N, O]) holds
        a finished episode's final observations, not a new episode's first ones (the env restarts finished
        episodes after the callback; SB3's vectorized envs restart them within the step), and ``actions``.

        :param episode_return: float[n_envs], the return of each env's episode so far (this step included).
        :param episode_length: int[n_envs], the steps of each env's episode so far (this step included).
        :return: False when the callback asks to stop training.
        """
        dones = terminated.cpu().numpy()
        values = {key: value.tolist() for key, value in info.items()}
        infos = [{key: column[env] for key, column in values.items()} for env in range(len(dones))]
        new_obs = step_locals.get("new_obs")
        truncated = self.env.truncated(terminated, info).cpu().numpy() if "episode_limit" in info else None
        for env in dones.nonzero()[0]:
            infos[env]["episode"] = {"r": float(episode_return[env]), "l": int(episode_length[env])}
            if new_obs is not None:
                infos[env]["terminal_observation"] = new_obs[env].cpu().numpy()
            if "battle_won" in infos[env]:
                infos[env]["is_success"] = bool(infos[env]["battle_won"]) != self.battle_won_is_a_loss
            if truncated is not None:
                infos[env]["TimeLimit.truncated"] = bool(truncated[env])
        callback.update_locals({**step_locals, "dones": dones, "rewards": reward.cpu().numpy(), "infos": infos})
        return callback.on_step()

    def _take_env_seed(self) -> int | None:
        """The seed for a full reset of the env: the last one :meth:`set_random_seed` received (see
        :func:`batch_env_seed`), then None."""
        seed, self._pending_env_seed = self._pending_env_seed, None
        return batch_env_seed(seed, self.env.n_envs)

    @property
    def logger(self) -> Logger:
        """The Stable-Baselines3 logger (configured by ``learn`` unless set with ``set_logger``)."""
        if self._logger is None:
            self._logger = configure_logger(self.verbose, None, "", True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use ``logger`` instead of the default one (``tensorboard_log`` and ``verbose`` then no longer apply)."""
        self._logger = logger
        self._custom_logger = True

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        """Turn None / a list / a function into one callback (plus a progress bar) and bind it to the model."""
        pending = list(callback) if isinstance(callback, list) else [callback]
        while pending:  # the callbacks and their children (a CallbackList's, an EventCallback's)
            each = pending.pop()
            if isinstance(each, CallbackList):
                pending += each.callbacks
            if isinstance(each, sb3_callbacks.EventCallback) and getattr(each, "callback", None) is not None:
                pending.append(each.callback)
            if isinstance(each, sb3_callbacks.EvalCallback):
                raise TypeError(
                    "stable_baselines3's EvalCallback steps a Gymnasium env, which a multi-agent env is not: use "
                    "sb3_marl.common.callbacks.EvalCallback (same arguments; it reports the win rate too)"
                )
        if isinstance(callback, list):
            usable = all(isinstance(each, BaseCallback) for each in callback)
        else:
            usable = callback is None or isinstance(callback, BaseCallback) or callable(callback)
        if not usable:
            raise TypeError(
                f"callback={callback!r}: a callback is a BaseCallback, a list of them, a function f(locals, globals) "
                "-> bool (False stops training) or None"
            )
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = FunctionCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)
        return callback

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback,
        reset_num_timesteps: bool,
        tb_log_name: str,
        progress_bar: bool,
    ) -> tuple[int, BaseCallback]:
        """Reset or continue the counters, configure the logger and bind the callback; when the logger or a callback
        refuses to start (an unusable folder, a callback that does not fit the model), the counters are given back
        as they were and the error is raised."""
        total_timesteps = whole_number("total_timesteps", total_timesteps, 0)
        reset_num_timesteps = flag("reset_num_timesteps", reset_num_timesteps)
        progress_bar = flag("progress_bar", progress_bar)
        if self.env is None:
            raise ValueError("This model has no env: pass one to load(path, env=...) or call set_env(env) first")
        counters = ("start_time", "num_timesteps", "_episode_num", "ep_info_buffer", "_total_timesteps")
        saved = {name: getattr(self, name) for name in (*counters, "_num_timesteps_at_start", "_logger")}
        self.start_time = time.time_ns()
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
            self.ep_info_buffer = deque(maxlen=self.stats_window_size)
        else:
            total_timesteps += self.num_timesteps
        self._total_timesteps = total_timesteps
        self._num_timesteps_at_start = self.num_timesteps
        runs_before = _folders_in(self.tensorboard_log)
        try:
            if not self._custom_logger:
                self._logger = configure_logger(self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps)
            return total_timesteps, self._init_callback(callback, progress_bar)
        except BaseException:
            if self._logger is not saved["_logger"]:  # a run folder made for this call goes again
                self._logger.close()
                folder = self._logger.get_dir()
                if folder is not None and Path(folder) not in runs_before:
                    shutil.rmtree(folder, ignore_errors=True)
            for name, value in saved.items():
                setattr(self, name, value)
            raise

    # ------------------------------------------------------------------ acting
    def predict(
        self,
        observation: np.ndarray | torch.Tensor,
        state: RecurrentState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        avail_actions: np.ndarray | torch.Tensor | None = None,
    ) -> tuple[np.ndarray, RecurrentState]:
        """Pick every agent's action for one step with the policy's ``predict`` (arguments and return value:
        :meth:`~sb3_marl.policies.qmix_policy.QMIXPolicy.predict`): greedy when ``deterministic``, else epsilon-greedy
        at the model's current ``exploration_rate``, drawn from the model's generator."""
        if self.policy is None:
            raise ValueError("The model has no policy yet (constructed with _init_setup_model=False)")
        return self.policy.predict(
            observation,
            state,
            episode_start,
            deterministic,
            avail_actions,
            exploration_rate=self.exploration_rate,
            generator=self._generator,
        )

    # ------------------------------------------------------------------ save / load
    def _get_torch_save_params(self) -> list[str]:
        """Names (dotted attribute paths) of the state dicts saved in a model file."""
        return ["policy", "policy.optimizer"]

    def _counter_names(self) -> list[str]:
        """Progress counters saved in a model file so training resumes where it stopped."""
        return [
            "num_timesteps",
            "_episode_num",
            "_n_updates",
            "exploration_rate",
            "_current_progress_remaining",  # schedules read it: train() after load goes on where training stopped
            "_total_timesteps",
            "recent_episodes",  # rollout/ep_rew_mean and win_rate go on after load, as SB3's ep_info_buffer
        ]

    def _record_rollout_and_time(self) -> None:
        """Record Stable-Baselines3's statistics of the recent episodes (``rollout/ep_rew_mean``, ``ep_len_mean``, the
        win rate: :meth:`_record_win_rate`) and of the time (``time/fps`` of this ``learn`` call, ``time_elapsed`` in
        seconds, ``total_timesteps``)."""
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / elapsed)
        if self.ep_info_buffer:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep["r"] for ep in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep["l"] for ep in self.ep_info_buffer]))
            self._record_win_rate(safe_mean([ep["won"] for ep in self.ep_info_buffer]))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")

    def _record_win_rate(self, win_rate: float) -> None:
        """Log the recent episodes' win rate (``info["battle_won"]``) as ``rollout/win_rate`` and SB3's
        ``rollout/success_rate``; an adversary's (:attr:`battle_won_is_a_loss`) as ``rollout/victim_win_rate``,
        which it succeeds in lowering."""
        if self.battle_won_is_a_loss:
            self.logger.record("rollout/victim_win_rate", win_rate)
            return
        self.logger.record("rollout/win_rate", win_rate)
        self.logger.record("rollout/success_rate", win_rate)

    def _record_finished_episodes(self, returns: list[float], lengths: list[int], won: list[bool]) -> None:
        """Keep finished training episodes (return, length in steps, ``battle_won``) in ``ep_info_buffer``."""
        for episode_return, length, episode_won in zip(returns, lengths, won):
            self.ep_info_buffer.append({"r": episode_return, "l": length, "won": float(episode_won)})

    def _learn_call_steps(self) -> tuple[int, int]:
        """Env steps (summed over envs) done in the current ``learn`` call so far, and the call's budget (its
        ``total_timesteps``; a call with ``reset_num_timesteps=False`` counts from where the previous one ended)."""
        start = self._num_timesteps_at_start
        return self.num_timesteps - start, self._total_timesteps - start

    def _update_current_progress_remaining(self) -> None:
        """The schedules' progress: 1 at the start of training, 0 at ``total_timesteps`` (clamped: the last rollout
        may end past it); as in Stable-Baselines3, a ``learn`` call with ``reset_num_timesteps=False`` goes on from
        where the previous one ended, over their summed budget."""
        self._current_progress_remaining = max(1.0 - self.num_timesteps / max(self._total_timesteps, 1), 0.0)

    @property
    def recent_episodes(self) -> list[dict[str, float]]:
        """The last ``stats_window_size`` finished training episodes (``ep_info_buffer``: return ``r``, length ``l``
        and the win flag), as a list that a model file's JSON holds."""
        return list(self.ep_info_buffer)

    @recent_episodes.setter
    def recent_episodes(self, episodes: list[dict[str, float]]) -> None:
        # adversary files of sb3-marl 0.x before the shared episode record named the win flag "victim_won"
        episodes = [{"won": ep.pop("victim_won"), **ep} if "victim_won" in ep else ep for ep in map(dict, episodes)]
        self.ep_info_buffer = deque(episodes, maxlen=self.stats_window_size)

    @classmethod
    def setting_names(cls) -> list[str]:
        """The names of the model's settings: every constructor argument (walking up ``**kwargs``) but the env,
        the device and ``_init_setup_model``."""
        names, _ = constructor_keywords(cls)
        return [name for name in names if name not in _NOT_SAVED]

    def _constructor_parameters(self) -> dict[str, Any]:
        """The model's settings (:meth:`setting_names`), each read from the attribute of the same name."""
        return {name: getattr(self, name) for name in self.setting_names()}

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """State dicts by name (see ``_get_torch_save_params``)."""
        return {name: recursive_getattr(self, name).state_dict() for name in self._get_torch_save_params()}

    def set_parameters(
        self,
        load_path_or_dict: str | Path | io.BufferedIOBase | dict[str, dict[str, Any]],
        exact_match: bool = True,
        device: torch.device | str = "auto",
    ) -> None:
        """Load state dicts from a model file or a dict as returned by ``get_parameters``; a load that fails (other
        shapes, another optimizer's state) raises a ValueError (also for torch's size and key mismatches, which
        name the file and the env sizes or architecture settings that differ) and leaves the model as it was.

        :param exact_match: require exactly the names of ``_get_torch_save_params`` and strict module keys.
        :param device: where a model file's tensors are read to (``"auto"``: the model's device; Stable-Baselines3's
            argument); the modules keep their own device either way.
        """
        exact_match = flag("exact_match", exact_match)
        if isinstance(load_path_or_dict, dict):
            self._set_state_dicts(load_path_or_dict, exact_match, "the given state dicts", None)
            return
        saved, params = load_from_zip_file(
            load_path_or_dict, device=self.device if device == "auto" else model_device(device)
        )
        source = "the given file" if isinstance(load_path_or_dict, io.IOBase) else str(load_path_or_dict)
        self._set_state_dicts(params, exact_match, source, saved)

    def _set_state_dicts(
        self, params: dict[str, dict[str, Any]], exact_match: bool, source: str, saved: dict[str, Any] | None
    ) -> None:
        """:meth:`set_parameters` of state dicts read from ``source`` (named in the errors), a model file whose
        settings are ``saved`` (None: no file), whose architecture a shape error compares with this model's."""
        names = self._get_torch_save_params()
        if exact_match and set(params) != set(names):
            raise ValueError(f"Parameter names {sorted(params)} do not match the expected {sorted(names)}")
        for name in params:
            if name not in names:
                raise ValueError(f"Parameter name {name!r} is not part of this model; the names are {names}")
        previous = copy.deepcopy(self.get_parameters())
        try:
            self._load_state_dicts(params, exact_match)
        except Exception as error:
            self._load_state_dicts(previous, exact_match=True)  # a refused load changes nothing
            if not isinstance(error, RuntimeError):  # torch's size or key mismatch; ours are ValueErrors already
                raise
            raise ValueError(
                f"Cannot load the parameters of {source} into this {type(self).__name__}: {error}"
                f"{self._settings_difference(saved)}"
            ) from None

    def _settings_difference(self, saved: dict[str, Any] | None) -> str:
        """The env sizes and architecture settings (``architecture_settings``) of the model file whose settings are
        ``saved`` that differ from this model's, as a sentence for an error message ("" when none differ or no
        file was read)."""
        if not isinstance(saved, dict):
            return ""
        file_settings = {**saved.get("env_shapes", {}), **saved.get("kwargs", {})}
        own = {**self.env_shapes, **self._constructor_parameters()}
        names = [key for key in ENV_SHAPE_KEYS if key != "episode_limit"] + list(self.architecture_settings)
        differ = [name for name in names if name in file_settings and file_settings[name] != _as_saved(own.get(name))]
        if not differ:
            return ""
        theirs = ", ".join(f"{name}={file_settings[name]!r}" for name in differ)
        ours = ", ".join(f"{name}={_as_saved(own.get(name))!r}" for name in differ)
        return f" (the file has {theirs}; this model {ours})"

    def _load_state_dicts(self, params: dict[str, dict[str, Any]], exact_match: bool) -> None:
        """Load each state dict of ``params`` into the module or optimizer it names (see :meth:`set_parameters`)."""
        for name, state_dict in params.items():
            target = recursive_getattr(self, name)
            if isinstance(target, torch.optim.Optimizer):
                self._load_optimizer_state(name, target, state_dict)
            else:
                target.load_state_dict(state_dict, strict=exact_match)

    @staticmethod
    def _load_optimizer_state(name: str, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> None:
        """``optimizer.load_state_dict(state_dict)``, then a ValueError if it was the state of another kind of
        optimizer (whose settings lack some of this one's, which its first step would need)."""
        optimizer.load_state_dict(state_dict)
        missing = sorted({key for group in optimizer.param_groups for key in optimizer.defaults if key not in group})
        if missing:
            raise ValueError(
                f"{name}: the saved state is not that of a {type(optimizer).__name__} (its settings lack {missing}); "
                "load it into a model built with the optimizer it was saved from"
            )
        # torch checks only how many parameters each group has: moments of other shapes would fail the next step
        params = [param for group in optimizer.param_groups for param in group["params"]]
        for index, param in enumerate(params):
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(
                        f"{name}: the saved state's {key!r} of parameter {index} has shape {tuple(value.shape)}, the "
                        f"parameter {tuple(param.shape)}: it is the state of another architecture"
                    )

    def _default_save_path(self) -> Path:
        return Path.cwd() / f"{type(self).__name__.lower()}_{self.map_name or 'model'}.zip"

    def save(
        self,
        path: str | Path | io.BufferedIOBase | None = None,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> Path | io.BufferedIOBase:
        """Write the model (settings as JSON, weights and optimizer states) to a zip, atomically when ``path`` is a
        path.

        :param path: destination path, or a binary file object (Stable-Baselines3 accepts both); None:
            ``<algo>_<map>.zip`` in the working directory.
        :param exclude: settings or counters (:meth:`setting_names`, ``num_timesteps``, ...) to leave out of the file:
            ``load`` then takes the constructor's default (or an override) and the counter's initial value. The
            settings that shape the saved networks (``architecture_settings``) cannot be left out.
        :param include: Stable-Baselines3's names to save although excluded. Here only the env, the replay buffer and
            the logger are never saved (the map name is; ``save_replay_buffer`` writes the buffer), so a name must be
            a setting or counter, which is saved unless in ``exclude``; a name in both is saved (as in
            Stable-Baselines3).
        :return: the path written (or the file object).
        """
        settings, counters = self._constructor_parameters(), self._counter_names()
        exclude, include = set(name_list("exclude", exclude)), set(name_list("include", include))
        for argument, names in (("exclude", exclude), ("include", include)):
            unknown = sorted(names - set(settings) - set(counters))
            if unknown:
                raise ValueError(
                    f"{argument}={unknown}: not settings or counters of {type(self).__name__} (the env, replay buffer "
                    f"and logger are never saved); the names are {sorted(settings)} and {counters}"
                )
        exclude -= include  # as Stable-Baselines3: a name in both is saved
        kept_out = sorted(exclude & set(self.architecture_settings))
        if kept_out:
            raise ValueError(f"exclude={kept_out}: these settings shape the saved networks; a file needs them to load")
        data = {
            "class": type(self).__name__,
            "sb3_marl_version": __version__,
            "map_name": self.map_name,
            "env_shapes": self.env_shapes,
            "kwargs": {name: value for name, value in settings.items() if name not in exclude},
            "counters": {name: getattr(self, name) for name in counters if name not in exclude},
        }
        if path is None:
            path = self._default_save_path()
        elif not isinstance(path, io.IOBase):
            path = path_argument("path", path)
        return save_to_zip_file(path, data, self.get_parameters())

    @classmethod
    def load(
        cls: type[SelfBaseAlgorithm],
        path: str | Path | io.BufferedIOBase,
        env: BatchedMultiAgentEnv | str | None = None,
        device: torch.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfBaseAlgorithm:
        """Build the model saved at ``path`` (the class it was saved from, which must be ``cls`` or a subclass).

        :param path: a file written by ``model.save()`` (or a binary file object open for reading); a policy's own
            file (``model.policy.save()``) is refused with a message: it loads with the policy class's ``load``.
        :param env: env to attach (its sizes must match the saved ones; with an env instance, ``n_envs`` other than 1
            or the instance's and another ``backend`` than the instance's are refused); None gives a predict-only
            model.
        :param device: device of the loaded model.
        :param custom_objects: settings that replace the saved ones (e.g. ``{"buffer_size": 1}``): only settings
            of the class (:meth:`setting_names`; unlike Stable-Baselines3, which ignores other keys such as
            ``lr_schedule``, they are refused with a message), and not those that shape the saved networks
            (``architecture_settings``) unless equal to the saved values.
        :param print_system_info: print this machine's system info and the model's (Stable-Baselines3's flag).
        :param force_reset: Stable-Baselines3's flag; only True is possible: episodes in progress are not saved, so
            the loaded model's first ``learn`` always starts fresh ones (False is refused with a message).
        :param kwargs: more setting overrides (as in Stable-Baselines3), with the same rules.
        """
        if not flag("force_reset", force_reset):
            raise ValueError(
                f"force_reset={force_reset!r}: model files do not hold the episodes in progress when saved, so a "
                "loaded model always starts fresh episodes; pass force_reset=True (the default)"
            )
        overrides = {**settings_mapping("custom_objects", custom_objects), **kwargs}
        data, params = load_from_zip_file(path, device=device, print_system_info=print_system_info)
        fields = data if isinstance(data, dict) else {}
        if set(fields) == {"class", "kwargs"} and set(params) == {"policy"}:  # what a policy's save writes
            raise ValueError(
                f"{path} is a policy file, written by {fields['class']}.save (the networks without the model's "
                f"settings and counters): load it with {fields['class']}.load(path); {cls.__name__}.load reads the "
                "files that model.save() writes"
            )
        expected = {"class": str, "kwargs": dict, "env_shapes": dict, "counters": dict, "map_name": (str, type(None))}
        wrong = [key for key, kind in expected.items() if not isinstance(fields.get(key), kind)]
        if wrong:
            raise ValueError(f"{path} is not an sb3-marl model file: its settings lack a valid {wrong}")
        try:
            for key in ENV_SHAPE_KEYS:
                whole_number(f"env_shapes[{key!r}]", data["env_shapes"].get(key), 1)
        except ValueError as error:
            raise ValueError(f"{path} is not a valid sb3-marl model file: {error}") from None
        klass = cls._saved_class(data["class"])
        if klass is None and BaseMultiAgentAlgorithm._saved_class(data["class"]) is not None:
            raise ValueError(
                f"{path} holds a {data['class']} model, which is no {cls.__name__}: load it with "
                f"{data['class']}.load (or BaseMultiAgentAlgorithm.load); to start a {cls.__name__} from its "
                "networks, build one and call set_parameters(path, exact_match=False), or give RegularizedQMIX "
                "pretrained=path"
            )
        if klass is None:
            raise ValueError(
                f"{path} holds a {data['class']!r} model, which {cls.__name__}.load cannot build (import the module "
                f"that defines it, or load it with its own class)"
            )
        overrides, late_overrides = klass._split_load_overrides(path, overrides)
        setting_names = klass.setting_names()
        unknown = sorted(set(data["kwargs"]) - set(setting_names))
        if unknown:
            raise ValueError(
                f"{path} holds settings {unknown} that {data['class']} of sb3-marl {__version__} does not have (the "
                f"file was written by sb3-marl {data.get('sb3_marl_version', '(unknown)')}); its settings are "
                f"{sorted(setting_names)}"
            )
        unknown = sorted(set(overrides) - set(setting_names))
        if unknown:
            made_from = [f"{key} is made from {_SB3_DERIVED[key]}" for key in unknown if key in _SB3_DERIVED]
            raise ValueError(
                f"Cannot override {unknown} when loading {path}: not settings of {data['class']}; "
                f"the settings are {sorted(setting_names)}"
                + (f" (Stable-Baselines3's {'; '.join(made_from)}: override those)" if made_from else "")
            )
        for key in set(klass.architecture_settings) & set(overrides):
            override = _as_saved(overrides[key])
            if key in data["kwargs"]:
                if override != data["kwargs"][key]:
                    raise ValueError(
                        f"{key}={overrides[key]!r} differs from the saved {key}={data['kwargs'][key]!r} of {path}: "
                        "the saved networks have that architecture; load without overriding it"
                    )
                continue
            default = _as_saved(constructor_defaults(klass).get(key))
            if override != default and not (default is None and override == {}):  # None: an empty mapping
                raise ValueError(
                    f"{key}={overrides[key]!r}: {path} predates the setting {key}, so its networks have the default "
                    f"{key}={default!r}; load without overriding it"
                )
        settings = {**data["kwargs"], **overrides}
        try:
            model = klass(env=None, device=device, _init_setup_model=False, **settings)
        except ValueError as exc:  # e.g. a file saved with exclude=[...] whose defaults do not fit the other settings
            given = " with the given overrides" if overrides else ""
            raise ValueError(f"{path}: its settings{given} do not make a valid {klass.__name__}: {exc}") from None
        model.env_shapes, model.map_name = dict(data["env_shapes"]), data["map_name"]
        if isinstance(env, BatchedMultiAgentEnv):
            check_instance_settings(env, overrides.get("n_envs", 1), overrides.get("backend"))
            if "env_kwargs" in overrides:
                check_env_kwargs_fit(env, model.env_kwargs)
        new_env = None if env is None else model._make_env(env)
        try:
            if new_env is not None:
                model._attach_env(new_env)
            model._setup_model()
            model._set_state_dicts(params, exact_match=True, source=str(path), saved=data)
            unknown = sorted(set(data["counters"]) - set(model._counter_names()))
            if unknown:
                raise ValueError(f"{path} holds counters {unknown} that {klass.__name__} does not have")
            for name, value in data["counters"].items():
                setattr(model, name, model._loaded_counter(path, name, value))
            model._apply_load_overrides(path, late_overrides)
        except BaseException:
            if isinstance(env, str):  # built here from a map name: an SC2 env holds StarCraft II processes
                new_env.close()
            raise
        return model

    @classmethod
    def _split_load_overrides(cls, path: Any, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The setting overrides of :meth:`load` (of the file ``path``) split into those the constructor takes with
        the saved settings and those given to the loaded model by :meth:`_apply_load_overrides`; a subclass refuses
        an override here with a ValueError. Here: every override goes to the constructor."""
        return overrides, {}

    def _apply_load_overrides(self, path: Any, overrides: dict[str, Any]) -> None:
        """Give the model loaded from ``path`` the overrides that :meth:`_split_load_overrides` kept for after its
        build (none here)."""

    def _loaded_counter(self, path: Any, name: str, value: Any) -> Any:
        """The value of the counter ``name`` read from the model file ``path``, checked to be of its initial value's
        kind (subclasses override it for counters of their own shape).

        :raise ValueError: naming the file and the counter, when the value does not fit.
        """
        return _checked_counter(path, name, value, getattr(self, name))

    @classmethod
    def _saved_class(cls, name: str) -> type[BaseMultiAgentAlgorithm] | None:
        """``cls`` or the subclass of it named ``name`` (the most recently defined one, as a notebook redefines
        classes), or None."""
        if cls.__name__ == name:
            return cls
        for subclass in reversed(cls.__subclasses__()):
            found = subclass._saved_class(name)
            if found is not None:
                return found
        return None
