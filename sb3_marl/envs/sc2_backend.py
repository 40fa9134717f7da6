"""Real StarCraft II through oxwhirl's SMAC, behind the batched interface of :mod:`sb3_marl.envs.base`.

:class:`SC2BatchedEnv` drives ``n_envs`` ``smac.env.StarCraft2Env`` instances: in-process when
``n_envs == 1``, otherwise one worker process per env talking over a ``multiprocessing`` pipe (like
PyMARL's parallel runner), so that the SC2 clients step in parallel.  ``smac`` is imported lazily, only
when an env is built, so the rest of sb3-marl works without it.

Requirements: oxwhirl SMAC (``bash scripts/setup.sh smac`` in the checkout; the PyPI package named ``smac`` is SMAC3,
an unrelated optimiser), StarCraft II and the SMAC maps, with ``SC2PATH`` pointing at the game folder.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import sys
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sb3_marl.common.validation import flag, whole_number
from sb3_marl.envs.base import (
    BatchedMultiAgentEnv,
    ResetReturn,
    StepReturn,
    batch_seed,
    check_joint_actions,
    game_env_kwargs,
)
from sb3_marl.envs.layout import LayoutFlags, ObsLayout
from sb3_marl.envs.maps import get_map_params
from sb3_marl.envs.simulator import REWARD_SWITCHES, check_sc2_process_settings

INSTALL_HELP = (
    "Install oxwhirl SMAC with `bash scripts/setup.sh smac` in the sb3-marl checkout (it installs SMAC from "
    "https://github.com/oxwhirl/smac without letting pip pull a CUDA build of torch; the PyPI package named "
    '"smac" is SMAC3, an unrelated optimiser: `pip uninstall smac` first if you have it), install '
    "StarCraft II (Linux: https://github.com/Blizzard/s2client-proto#downloads, unzipped to ~/StarCraftII; "
    "Windows/macOS: the Battle.net client), put the SMAC maps "
    "(https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip) in $SC2PATH/Maps/SMAC_Maps, "
    "and set SC2PATH to the StarCraft II folder. The built-in simulator (sb3_marl.envs.make_env) needs none of this."
)
#: Where pysc2 looks for StarCraft II when ``SC2PATH`` is not set.
DEFAULT_SC2_PATHS = {
    "linux": "~/StarCraftII",
    "darwin": "/Applications/StarCraft II",
    "win32": "C:/Program Files (x86)/StarCraft II",
}
#: SMAC's ``get_stats()`` counters, summed over the batch.
_STAT_KEYS = ("battles_won", "battles_game", "battles_draw", "timeouts", "restarts")
#: StarCraft2Env keywords that are switches (checked True/False here: SMAC reads "False" as true)
SWITCHES = (
    *LayoutFlags.__dataclass_fields__,
    "continuing_episode",
    *REWARD_SWITCHES,
    "heuristic_ai",
    "heuristic_rest",
    "debug",
)


class SC2NotAvailableError(ImportError):
    """oxwhirl SMAC or StarCraft II is missing; the message says what and how to install both."""


def sc2_path() -> Path:
    """The StarCraft II folder: ``SC2PATH``, else pysc2's default install path for this platform."""
    return Path(os.environ.get("SC2PATH", DEFAULT_SC2_PATHS.get(sys.platform, "~/StarCraftII"))).expanduser()


def load_starcraft2_env_class() -> type:
    """Import oxwhirl SMAC's ``StarCraft2Env`` and check that StarCraft II is installed.

    :raises SC2NotAvailableError: ``smac`` is missing, is the wrong package (SMAC3), or the game folder is absent.
    """
    try:
        importlib.import_module("smac")
    except ImportError as error:
        raise SC2NotAvailableError(f"The `smac` package is not installed ({error}). {INSTALL_HELP}") from error
    try:
        env_class = importlib.import_module("smac.env").StarCraft2Env
    except ImportError as error:
        if error.name in ("smac", "smac.env"):  # no smac.env module: another package named smac
            raise _wrong_smac_package(error) from error
        raise SC2NotAvailableError(  # oxwhirl SMAC whose dependencies are missing or do not fit
            f"`smac.env` could not be imported ({error}): a dependency of oxwhirl SMAC is missing or incompatible. "
            f"{INSTALL_HELP}"
        ) from error
    except AttributeError as error:
        raise _wrong_smac_package(error) from error
    path = sc2_path()
    source = "SC2PATH" if "SC2PATH" in os.environ else "the default install path (SC2PATH is not set)"
    if not path.is_dir():
        raise SC2NotAvailableError(f"StarCraft II was not found at {str(path)!r} from {source}. {INSTALL_HELP}")
    if not (path / "Maps" / "SMAC_Maps").is_dir():
        raise SC2NotAvailableError(
            f"StarCraft II at {str(path)!r} (from {source}) has no Maps/SMAC_Maps folder: the SMAC maps are not "
            f"installed. {INSTALL_HELP}"
        )
    return env_class


def _wrong_smac_package(error: Exception) -> SC2NotAvailableError:
    return SC2NotAvailableError(
        f"The installed `smac` package has no `smac.env.StarCraft2Env` ({error}): it is not oxwhirl SMAC "
        f"(the PyPI package `smac` is SMAC3, a hyperparameter optimiser). {INSTALL_HELP}"
    )


def make_starcraft2_env(map_name: str, seed: int | None = None, **env_kwargs: Any) -> Any:
    """Build one ``smac.env.StarCraft2Env`` (the default ``env_factory`` of :class:`SC2BatchedEnv`).

    pysc2 reads absl flags (``--sc2_run_config``, ...) when SMAC launches the game and fails with
    ``UnparsedFlagAccessError`` unless the program parsed them (oxwhirl/smac#126); where nobody has, and always in
    the worker processes, the flags are marked parsed with their defaults.

    :param map_name: SMAC map name, e.g. ``"3m"``.
    :param seed: SC2 game seed (None: random).
    :param env_kwargs: further ``StarCraft2Env`` keyword arguments.
    """
    env_class = load_starcraft2_env_class()
    with contextlib.suppress(ImportError):  # absl comes with pysc2
        from absl import flags

        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
    return env_class(map_name=map_name, seed=seed, **env_kwargs)


class _EnvRunner:
    """One SMAC env plus the bookkeeping the batch needs (whether it launched and ended an episode, stats of
    replaced envs).

    :param env_factory: builds the env as ``env_factory(map_name=..., seed=..., **env_kwargs)``.
    """

    def __init__(
        self, env_factory: Callable[..., Any], map_name: str, seed: int | None, env_kwargs: dict[str, Any]
    ) -> None:
        self.env_factory, self.map_name, self.env_kwargs, self.seed = env_factory, map_name, env_kwargs, seed
        self.env = env_factory(map_name=map_name, seed=seed, **env_kwargs)
        info = self.env.get_env_info()
        self.info = {**info, "n_enemies": int(self.env.n_enemies)}
        self.closed_stats = dict.fromkeys(_STAT_KEYS, 0)
        # SMAC launches the game at its first reset and counts episodes when they terminate
        self.launched, self.finished_an_episode = False, False
        self.timeouts_at_reset: int | None = 0  # SMAC's timeout count when the episode started

    def _replace_env(self, seed: int | None) -> None:
        """Close the game and build a new one with ``seed`` (its counters are kept in ``closed_stats``)."""
        self.closed_stats = self.get_stats()
        if self.env is not None:
            self.env.close()
        self.env, self.launched, self.finished_an_episode = None, False, False  # until the factory succeeds
        self.env = self.env_factory(map_name=self.map_name, seed=seed, **self.env_kwargs)
        self.seed = seed

    def _observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs = np.asarray(self.env.get_obs(), dtype=np.float32)
        state = np.asarray(self.env.get_state(), dtype=np.float32)
        avail = np.asarray(self.env.get_avail_actions()).astype(bool)
        return obs, state, avail

    def reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start an episode; a new ``seed`` relaunches the game with it (SMAC seeds only at launch).

        A reset before the game's first episode has terminated also rebuilds the env (same seed): SMAC would launch
        a second game beside the first and count the enemies' health into ``max_reward`` once more, shrinking every
        later reward (on 3m by x0.73).
        """
        if self.env is None or seed is not None or (self.launched and not self.finished_an_episode):
            self._replace_env(self.seed if seed is None else seed)
        self.env.reset()
        self.launched, self.timeouts_at_reset = True, self._smac_timeouts()
        return self._observe()

    def step(self, actions: list[int]) -> tuple[Any, ...]:
        """One SMAC step: obs, state, avail, reward, terminated, battle_won, episode_limit, dead allies / enemies."""
        if self.env is None:
            raise RuntimeError("the game could not be rebuilt at the last reset: reset it again")
        reward, terminated, info = self.env.step(actions)
        # SMAC answers a lost connection to the game with a restart and (0, True, {}) (every other step's info holds
        # battle_won): the battle was cut short, so it ends as a time-out does (the learner bootstraps, unless the env
        # observes the time step: then it is stored as terminal, as a time-out is there), and it is not
        # a finished episode for SMAC's counters (the next reset rebuilds a game whose first episode never ended)
        crashed = bool(terminated) and not info
        self.finished_an_episode |= bool(terminated) and not crashed
        timeout = crashed
        if terminated and not crashed:  # the counts change only when an episode ends
            timeouts = self._smac_timeouts()
            if timeouts is None or self.timeouts_at_reset is None:  # an env_factory's env that does not count them
                timeout = bool(info.get("episode_limit", False))
            else:
                # SMAC reports the time limit in info only with continuing_episode=True, but always counts it (a
                # battle decided on the limit step, e.g. MMM's "only medivacs left" loss, is not a timeout)
                timeout = timeouts > self.timeouts_at_reset
        stats = (
            float(reward),
            bool(terminated),
            bool(info.get("battle_won", False)),
            timeout,
            int(info.get("dead_allies", 0)),
            int(info.get("dead_enemies", 0)),
        )
        return self._observe() + stats

    def _env_stats(self) -> dict[str, float] | None:
        """This game's own counters; None before SMAC's first finished battle (its win_rate divides by zero: every
        counter is 0 then) or while no game is built."""
        try:
            return None if self.env is None else self.env.get_stats()
        except ZeroDivisionError:
            return None

    def _smac_timeouts(self) -> int | None:
        """This game's count of episodes ended by the time limit (None when the env does not count them)."""
        stats = self._env_stats()
        return 0 if stats is None else stats.get("timeouts")

    def get_stats(self) -> dict[str, float]:
        """SMAC's counters, including those of envs replaced by reseeding."""
        stats = self._env_stats() or {}
        return {key: self.closed_stats[key] + stats.get(key, 0) for key in _STAT_KEYS}

    def save_replay(self) -> None:
        self.env.save_replay()

    def render(self, mode: str) -> np.ndarray | None:
        if not self.launched:
            raise RuntimeError("render() needs a running game: call reset() first (SMAC launches it there)")
        return self.env.render(mode=mode)

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


class _LocalWorker:
    """Runs an :class:`_EnvRunner` in this process, with the send/receive calls of :class:`_ProcessWorker`."""

    def __init__(self, runner_args: tuple[Any, ...]) -> None:
        self.runner = _EnvRunner(*runner_args)
        self.info = self.runner.info
        self._result: Any = None

    def send(self, method: str, *args: Any) -> None:
        self._result = getattr(self.runner, method)(*args)

    def receive(self) -> Any:
        return self._result

    def close(self) -> None:
        self.runner.close()


def _worker_main(remote: Connection, parent_remote: Connection, runner_args: tuple[Any, ...]) -> None:
    """Worker process loop: build the runner, then answer ``(method, args)`` requests until ``close``."""
    parent_remote.close()
    runner = None
    try:
        runner = _EnvRunner(*runner_args)
        remote.send(("ok", runner.info))
        while True:
            method, args = remote.recv()
            if method == "close":
                break
            try:
                remote.send(("ok", getattr(runner, method)(*args)))
            except Exception as error:  # reported to the parent, which raises it
                remote.send(("error", error, traceback.format_exc()))
    except (EOFError, KeyboardInterrupt):  # the parent went away or was interrupted
        pass
    except Exception as error:  # building the env failed
        remote.send(("error", error, traceback.format_exc()))
    finally:
        if runner is not None:
            runner.close()
        remote.close()


class _ProcessWorker:
    """An :class:`_EnvRunner` in its own process, driven over a pipe."""

    def __init__(self, context: mp.context.BaseContext, runner_args: tuple[Any, ...], index: int) -> None:
        self.index = index
        self.remote, worker_remote = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(worker_remote, self.remote, runner_args), daemon=True, name=f"sc2-env-{index}"
        )
        self.process.start()
        worker_remote.close()
        self.info: dict[str, Any] = {}

    def start(self) -> None:
        """Wait for the worker's env to be built."""
        self.info = self.receive()

    def send(self, method: str, *args: Any) -> None:
        try:
            self.remote.send((method, args))
        except OSError as error:  # the pipe is broken: the worker is gone
            raise RuntimeError(f"The worker process of SC2 env {self.index} died") from error

    def receive(self) -> Any:
        try:
            status, *payload = self.remote.recv()
        except EOFError as error:
            raise RuntimeError(f"The worker process of SC2 env {self.index} died") from error
        if status == "error":
            error, worker_traceback = payload
            raise error from RuntimeError(f"in the worker process of SC2 env {self.index}:\n{worker_traceback}")
        return payload[0]

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):  # the worker may have just exited
                self.remote.send(("close", ()))
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.remote.close()


def _close_workers(workers: list[_LocalWorker | _ProcessWorker]) -> None:
    """Close every worker (run by ``close()``, garbage collection or interpreter exit)."""
    for worker in workers:
        worker.close()


class SC2BatchedEnv(BatchedMultiAgentEnv):
    """``n_envs`` real SMAC games (StarCraft II) stepped as one batch of tensors.

    :param map_name: SMAC map name, e.g. ``"3m"``.
    :param n_envs: number of games; 1 runs in this process, more run one worker process each.
    :param seed: game seed in ``[0, 2**32 - n_envs]`` (StarCraft II's seeds are unsigned 32-bit); env ``i`` gets
        ``seed + i`` (None: random games).
    :param device: torch device of the returned tensors.
    :param env_factory: builds one env as ``env_factory(map_name=..., seed=..., **env_kwargs)``; by default
        :func:`make_starcraft2_env`.  It must be picklable (a module-level function) when ``n_envs > 1``.
    :param start_method: ``multiprocessing`` start method of the workers; None picks ``"forkserver"`` where
        available, else ``"spawn"`` (forking a process that runs torch threads is unsafe); as with SB3's
        ``SubprocVecEnv``, a script that builds one with ``n_envs > 1`` needs an ``if __name__ == "__main__":`` guard.
    :param env_kwargs: ``StarCraft2Env`` keyword arguments (``difficulty``, ``replay_dir``, ...).
        ``continuing_episode`` defaults to True here: in SMAC it only adds ``info["episode_limit"]``.
    """

    backend = "sc2"

    def __init__(
        self,
        map_name: str,
        n_envs: int = 1,
        seed: int | None = None,
        device: torch.device | str = "cpu",
        env_factory: Callable[..., Any] = make_starcraft2_env,
        start_method: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        n_envs = whole_number("n_envs", n_envs, 1)
        self.map_name, self.n_envs, self.device = map_name, n_envs, torch.device(device)
        check_sc2_process_settings(env_kwargs)
        self._env_kwargs = game_env_kwargs(env_kwargs)
        env_kwargs.pop("compile", None)  # the simulator's speed setting, which a model keeps: nothing to SMAC
        env_kwargs.setdefault("continuing_episode", True)
        for name, value in env_kwargs.items():  # every switch is True or False before SMAC reads it ("False" is true)
            if name in SWITCHES:
                env_kwargs[name] = flag(name, value)
        flags = {name: env_kwargs[name] for name in LayoutFlags.__dataclass_fields__ if name in env_kwargs}
        layout = ObsLayout(get_map_params(map_name), LayoutFlags(**flags))  # unknown maps fail before SC2 starts
        #: the observation and state layout (as the simulator's ``layout``)
        self.layout = layout
        # Vector lengths as in the simulator (SMAC's obs is one longer than get_obs_size() with obs_timestep_number).
        self.obs_shape, self.state_shape = layout.obs_len, layout.state_len
        low, high = layout.observation_bounds()
        #: Range of each observation feature, float32[O] on ``device`` (as in the simulator).
        self.obs_low = torch.as_tensor(low, device=self.device)
        self.obs_high = torch.as_tensor(high, device=self.device)
        seeds = self._game_seeds(seed)
        self._workers: list[_LocalWorker | _ProcessWorker] = []
        self._finalizer = weakref.finalize(self, _close_workers, self._workers)
        try:
            self._start_workers(env_factory, seeds, start_method, env_kwargs)
        except BaseException:
            self.close()
            raise
        info = self._workers[0].info
        self.n_agents, self.n_enemies, self.n_actions = info["n_agents"], info["n_enemies"], info["n_actions"]
        self.episode_limit = info["episode_limit"]
        expected = (
            layout.params.n_agents,
            layout.params.n_enemies,
            layout.n_actions,
            layout.obs_size,
            layout.state_size,
        )
        found = (self.n_agents, self.n_enemies, self.n_actions, info["obs_shape"], info["state_shape"])
        if found != expected:
            self.close()
            raise RuntimeError(
                f"SMAC's {map_name} has (n_agents, n_enemies, n_actions, obs size, state size) = {found}, but "
                f"sb3-marl's layout of that map expects {expected}: policies trained on the simulator would not fit"
            )
        self._obs = torch.zeros(n_envs, self.n_agents, self.obs_shape, device=self.device)
        self._state = torch.zeros(n_envs, self.state_shape, device=self.device)
        self._avail = torch.zeros(n_envs, self.n_agents, self.n_actions, dtype=torch.bool, device=self.device)
        self._running = torch.zeros(n_envs, dtype=torch.bool)

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The ``StarCraft2Env`` keywords of these games, as given (``continuing_episode`` only if given; replay,
        window and debug keywords left out)."""
        return dict(self._env_kwargs)

    def _game_seeds(self, seed: int | None) -> list[int | None]:
        """The game seed of each env, ``seed + i`` (SC2 takes unsigned 32-bit seeds), or None for each."""
        if seed is None:
            return [None] * self.n_envs
        seed = batch_seed(seed, self.n_envs)
        return [seed + i for i in range(self.n_envs)]

    def _start_workers(
        self,
        env_factory: Callable[..., Any],
        seeds: list[int | None],
        start_method: str | None,
        env_kwargs: dict[str, Any],
    ) -> None:
        """Build the env in this process (one env) or one worker process per env."""
        if self.n_envs == 1:
            self._workers.append(_LocalWorker((env_factory, self.map_name, seeds[0], env_kwargs)))
            return
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        context = mp.get_context(start_method)
        for i, seed in enumerate(seeds):
            self._workers.append(_ProcessWorker(context, (env_factory, self.map_name, seed, env_kwargs), i))
        for worker in self._workers:
            worker.start()

    def _call(self, method: str, args_per_env: dict[int, tuple[Any, ...]]) -> dict[int, Any]:
        """Call ``method`` on the envs given as keys (all in parallel) and return their results by env index.

        Every answer is read before the first error is raised, so that no worker's pipe is left out of step (a
        worker that could not be sent the request is not read).
        """
        sent, first_error = [], None
        for index, args in args_per_env.items():
            try:  # a process worker fails here only when it died; an in-process one runs the method here
                self._workers[index].send(method, *args)
                sent.append(index)
            except Exception as error:
                first_error = first_error or error
        results = {}
        for index in sent:
            try:
                results[index] = self._workers[index].receive()
            except Exception as error:
                first_error = first_error or error
        if first_error is not None:
            raise first_error
        return results

    def _call_or_stop(self, method: str, args_per_env: dict[int, tuple[Any, ...]]) -> dict[int, Any]:
        """:meth:`_call`; when an env fails, every env is marked as having no running episode before the error is
        raised: the others' results of that call are lost (an episode that ended there would otherwise be stepped
        again, on stale available actions), so each must be reset before its next step."""
        try:
            return self._call(method, args_per_env)
        except BaseException:
            self._running[:] = False
            raise

    def _store(self, indices: list[int], observations: list[tuple[np.ndarray, ...]]) -> None:
        """Write the obs, state and avail of ``indices`` into the cached batch tensors."""
        rows = torch.tensor(indices, device=self.device)
        for cache, part in zip((self._obs, self._state, self._avail), zip(*observations)):
            cache[rows] = torch.as_tensor(np.stack(part), device=self.device)

    def reset(self, env_mask: torch.Tensor | None = None, seed: int | None = None) -> ResetReturn:
        if env_mask is None:
            indices = list(range(self.n_envs))
        else:
            mask = torch.as_tensor(env_mask).cpu()
            if mask.shape != (self.n_envs,) or mask.dtype != torch.bool:
                raise ValueError(
                    f"env_mask must be a bool tensor of shape ({self.n_envs},), got {mask.dtype} {tuple(mask.shape)}"
                )
            indices = mask.nonzero().flatten().tolist()
        seeds = self._game_seeds(seed)
        results = self._call_or_stop("reset", {i: (seeds[i],) for i in indices})
        if indices:
            self._store(indices, [results[i] for i in indices])
            self._running[indices] = True
        return self._obs.clone(), self._state.clone(), self._avail.clone()

    def _check_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """The actions int64[B, N] on the device, checked (:func:`~sb3_marl.envs.base.check_joint_actions`) against
        the running episodes and their availability."""
        return check_joint_actions(
            actions,
            self._avail,
            stopped=~self._running,
            stopped_message="Env {env} has no running episode (it terminated or was never reset); reset it first",
        )

    def step(self, actions: torch.Tensor) -> StepReturn:
        actions = self._check_actions(actions)
        rows = actions.cpu().tolist()
        results = self._call_or_stop("step", {i: (rows[i],) for i in range(self.n_envs)})
        ordered = [results[i] for i in range(self.n_envs)]
        self._store(list(range(self.n_envs)), [result[:3] for result in ordered])
        reward, terminated, battle_won, timeout, dead_allies, dead_enemies = zip(*(result[3:] for result in ordered))
        self._running &= ~torch.tensor(terminated)

        def tensor(values: tuple[Any, ...], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=self.device)

        info = {
            "battle_won": tensor(battle_won, torch.bool),
            "episode_limit": tensor(timeout, torch.bool),
            "dead_allies": tensor(dead_allies, torch.int64),
            "dead_enemies": tensor(dead_enemies, torch.int64),
        }
        return (
            self._obs.clone(),
            self._state.clone(),
            self._avail.clone(),
            tensor(reward, torch.float32),
            tensor(terminated, torch.bool),
            info,
        )

    def get_stats(self) -> dict[str, float]:
        per_env = self._call("get_stats", {i: () for i in range(self.n_envs)}).values()
        stats = {key: float(sum(env_stats[key] for env_stats in per_env)) for key in _STAT_KEYS}
        stats["win_rate"] = stats["battles_won"] / stats["battles_game"] if stats["battles_game"] else 0.0
        return stats

    def save_replay(self, env_index: int | None = None) -> None:
        """Save SC2 replays (SMAC's ``save_replay``) of env ``env_index``, or of every env when None."""
        indices = range(self.n_envs) if env_index is None else [self._check_index(env_index)]
        self._call("save_replay", {i: () for i in indices})

    def render(self, mode: str = "rgb_array", env_index: int = 0) -> np.ndarray | None:
        """SMAC's own renderer (pygame) of env ``env_index``; ``"rgb_array"`` returns an (H, W, 3) array."""
        if mode != "rgb_array":
            raise ValueError(f"Unsupported render mode {mode!r}; SC2BatchedEnv supports 'rgb_array'")
        index = self._check_index(env_index)
        return self._call("render", {index: (mode,)})[index]

    def _check_index(self, env_index: int) -> int:
        if not 0 <= env_index < self.n_envs:
            raise ValueError(f"env_index must be in [0, {self.n_envs}), got {env_index}")
        return env_index

    def close(self) -> None:
        """Close the SC2 games and stop the worker processes (also done on garbage collection)."""
        self._finalizer()
