"""Tests of the real-SMAC backend: install errors, and the batched plumbing against a fake ``smac.env``.

The fake ``smac.env`` module holds the simulator's single-env SMAC API (``StarCraft2SimEnv``) under the name
``StarCraft2Env``; worker processes install it themselves through :func:`fake_smac_factory`.
"""

from __future__ import annotations

import functools
import gc
import importlib.abc
import multiprocessing
import os
import sys
import types

import numpy as np
import pytest
import torch

from sb3_marl.envs import sc2_backend
from sb3_marl.envs.sc2_backend import SC2BatchedEnv, SC2NotAvailableError, load_starcraft2_env_class
from sb3_marl.envs.simulator import SMACSimulator
from sb3_marl.envs.smac_compat import StarCraft2SimEnv


@pytest.fixture
def game_folder(tmp_path, monkeypatch):
    """Pretend StarCraft II and the SMAC maps are installed at a temporary SC2PATH."""
    (tmp_path / "Maps" / "SMAC_Maps").mkdir(parents=True)
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    return tmp_path


def test_missing_smac_package(monkeypatch, game_folder):
    monkeypatch.setitem(sys.modules, "smac", None)  # makes `import smac` fail
    with pytest.raises(SC2NotAvailableError, match=r"not installed.*bash scripts/setup\.sh smac.*SC2PATH"):
        load_starcraft2_env_class()


def test_wrong_smac_package(monkeypatch, game_folder):
    smac3 = types.ModuleType("smac")  # SMAC3 has no smac.env
    monkeypatch.setitem(sys.modules, "smac", smac3)
    monkeypatch.delitem(sys.modules, "smac.env", raising=False)
    with pytest.raises(SC2NotAvailableError, match=r"not oxwhirl SMAC.*SMAC3.*bash scripts/setup\.sh smac"):
        load_starcraft2_env_class()
    with pytest.raises(SC2NotAvailableError, match="not oxwhirl SMAC"):
        sc2_backend.SC2BatchedEnv("3m")


def test_missing_game(fake_smac, monkeypatch, tmp_path):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    with pytest.raises(SC2NotAvailableError, match=r"StarCraft II was not found at .*nowhere.*from SC2PATH"):
        load_starcraft2_env_class()
    monkeypatch.delenv("SC2PATH")
    monkeypatch.setitem(sc2_backend.DEFAULT_SC2_PATHS, sys.platform, str(tmp_path / "default"))
    with pytest.raises(SC2NotAvailableError, match="default install path"):
        load_starcraft2_env_class()
    (tmp_path / "game").mkdir()  # the game without SMAC's maps: skipped cleanly, not an error at the first reset
    monkeypatch.setenv("SC2PATH", str(tmp_path / "game"))
    with pytest.raises(SC2NotAvailableError, match="has no Maps/SMAC_Maps folder: the SMAC maps are not installed"):
        load_starcraft2_env_class()


class _SmacWithoutPysc2(importlib.abc.MetaPathFinder):
    """Importing ``smac.env`` fails as oxwhirl SMAC does when pysc2 is missing."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
        if name == "smac.env":
            raise ModuleNotFoundError("No module named 'pysc2'", name="pysc2")
        return None


def test_smac_missing_a_dependency_is_not_called_smac3(monkeypatch, game_folder):
    smac = types.ModuleType("smac")
    smac.__path__ = []
    monkeypatch.setitem(sys.modules, "smac", smac)
    monkeypatch.delitem(sys.modules, "smac.env", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_SmacWithoutPysc2(), *sys.meta_path])
    with pytest.raises(SC2NotAvailableError, match=r"could not be imported \(No module named 'pysc2'\)") as info:
        load_starcraft2_env_class()
    assert "SMAC3" not in str(info.value).split(". ")[0]


# --------------------------------------------------------------------------- batched plumbing on a fake smac.env
def install_fake_smac() -> None:
    """Register a fake oxwhirl ``smac`` package whose ``smac.env.StarCraft2Env`` is the simulator's SMAC API."""
    from sb3_marl.envs.smac_compat import StarCraft2SimEnv

    smac = types.ModuleType("smac")
    smac.__path__ = []  # a package, like oxwhirl's
    smac.env = types.ModuleType("smac.env")
    smac.env.StarCraft2Env = StarCraft2SimEnv
    sys.modules.update({"smac": smac, "smac.env": smac.env})


def fake_smac_factory(sc2path: str, **env_args):
    """``env_factory`` for the workers: install the fake SMAC and a fake game folder, then build as usual."""
    install_fake_smac()
    os.environ["SC2PATH"] = sc2path
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)  # the workers share the test machine's cores
    return sc2_backend.make_starcraft2_env(**env_args)


@pytest.fixture
def fake_smac(monkeypatch, game_folder):
    """The fake SMAC in this process (undone after the test) and a factory that installs it in workers."""
    for name in ("smac", "smac.env"):
        monkeypatch.setitem(sys.modules, name, None)
    install_fake_smac()
    return functools.partial(fake_smac_factory, str(game_folder))


def test_the_default_factory_marks_absl_flags_parsed(fake_smac):
    flags = pytest.importorskip("absl.flags")
    flags.FLAGS.unparse_flags()  # a program that never parsed them (SMAC's first reset would fail, smac#126)
    sc2_backend.make_starcraft2_env("3m", seed=0).close()
    assert flags.FLAGS.is_parsed()


def random_actions(avail: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniformly random available action per agent: int64[B, N]."""
    return torch.multinomial(avail.flatten(0, 1).float(), 1, generator=generator).view(avail.shape[:2])


def assert_same_transition(got: tuple, expected: tuple) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got[:5], expected[:5]):
        torch.testing.assert_close(a, b)
    if len(got) > 5:
        assert got[5].keys() == expected[5].keys()
        for key in expected[5]:
            torch.testing.assert_close(got[5][key], expected[5][key], msg=key)


def play_beside_the_simulator(env: SC2BatchedEnv, reference: SMACSimulator, n_steps: int = 62) -> int:
    """Step ``env`` and ``reference`` (both just reset) with the same random actions, resetting finished episodes,
    and check that every transition matches; returns the timeouts. 62 steps pass 3m's 60-step limit: with seed 7
    and these actions, losses and a timeout occur."""
    generator, timeouts = torch.Generator().manual_seed(0), 0
    for _ in range(n_steps):
        actions = random_actions(reference.get_avail_actions(), generator)
        expected = reference.step(actions)
        assert_same_transition(env.step(actions), expected)
        terminated = expected[4]
        if terminated.any():
            timeouts += int(expected[5]["episode_limit"].sum())
            assert_same_transition(env.reset(terminated), reference.reset(terminated))
    return timeouts


@pytest.mark.parametrize("n_envs, kwargs", [(1, {}), (2, {"continuing_episode": False})])
def test_matches_builtin_simulator(fake_smac, n_envs, kwargs):
    """Same seed and actions: the backend over SMAC's API returns what the batched simulator returns."""
    seed = 7
    reference = SMACSimulator("3m", n_envs=n_envs, seed=seed)
    with SC2BatchedEnv("3m", n_envs=n_envs, seed=seed, env_factory=fake_smac, **kwargs) as env:
        assert (env.obs_shape, env.state_shape, env.n_actions, env.episode_limit) == (
            reference.obs_shape,
            reference.state_shape,
            reference.n_actions,
            reference.episode_limit,
        )
        torch.testing.assert_close(env.obs_low, reference.obs_low)
        torch.testing.assert_close(env.obs_high, reference.obs_high)
        assert env.get_env_info() == reference.get_env_info()  # agent_features / enemy_features were missing
        assert_same_transition(env.reset(), reference.reset(seed=seed))
        assert play_beside_the_simulator(env, reference) > 0
        assert env.get_stats() == reference.get_stats()


def test_reseeding_replays_an_episode_and_keeps_stats(fake_smac):
    generator = torch.Generator().manual_seed(1)
    with SC2BatchedEnv("3m", seed=0, env_factory=fake_smac) as env:
        reset = env.reset(seed=3)
        avail, actions, steps, terminated = reset[2], [], [], False
        while not terminated:
            actions.append(random_actions(avail, generator))
            steps.append(env.step(actions[-1]))
            avail, terminated = steps[-1][2], bool(steps[-1][4].all())
        assert_same_transition(env.reset(seed=3), reset)
        for action, step in zip(actions, steps):
            assert_same_transition(env.step(action), step)
        assert env.get_stats()["battles_game"] == 2  # the relaunched game's counters add to the old one's


class RelaunchingSMAC(StarCraft2SimEnv):
    """SMAC's reset quirk: a reset while no episode has terminated yet launches another game and adds the enemies'
    health to ``max_reward`` again (oxwhirl SMAC ``reset`` / ``init_units`` with ``_episode_count == 0``)."""

    built: list[RelaunchingSMAC] = []

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.launches = 0
        RelaunchingSMAC.built.append(self)

    def reset(self):  # noqa: ANN201
        if self._episode_count == 0:
            self.launches += 1
        return super().reset()


def test_a_reset_before_the_first_episode_ends_rebuilds_the_game():
    RelaunchingSMAC.built = []
    with SC2BatchedEnv("3m", seed=0, env_factory=RelaunchingSMAC) as env:
        reference = SMACSimulator("3m", seed=0)
        first = env.reset()
        env.step(torch.ones(1, 3, dtype=torch.int64))  # stop: the episode runs on
        assert_same_transition(env.reset(), first)  # the same seed again, in a new game
        assert len(RelaunchingSMAC.built) == 2 and [game.launches for game in RelaunchingSMAC.built] == [1, 1]
        assert_same_transition(reference.reset(), first)
        generator, terminated = torch.Generator().manual_seed(0), torch.zeros(1, dtype=torch.bool)
        while not terminated.all():  # rewards on the scale of a game launched once
            actions = random_actions(reference.get_avail_actions(), generator)
            expected = reference.step(actions)
            assert_same_transition(env.step(actions), expected)
            terminated = expected[4]
        env.reset()  # an episode has ended: SMAC restarts the game itself
        assert len(RelaunchingSMAC.built) == 2


class CrashingSMAC(RelaunchingSMAC):
    """SMAC's answer to a lost connection at step ``crash_at`` of the first game's first episode: it restarts the game
    (``full_restart``) and returns ``(0, True, {})`` without counting an episode."""

    crash_at = 3

    def step(self, actions):  # noqa: ANN001, ANN201
        if (
            self._episode_count == 0
            and self.sim.episode_steps[0] == self.crash_at - 1
            and len(RelaunchingSMAC.built) == 1
        ):
            return 0, True, {}
        return super().step(actions)


def test_a_game_crash_ends_the_episode_as_a_time_out_and_the_next_reset_rebuilds_the_game():
    """The crashed battle was cut short (the learner must bootstrap, not take a reward of 0 as its end), and SMAC did
    not count it: a reset that leaves the game to SMAC would launch it once more and shrink the rewards."""
    RelaunchingSMAC.built = []
    with SC2BatchedEnv("3m", seed=0, env_factory=CrashingSMAC) as env:
        env.reset()
        for _ in range(CrashingSMAC.crash_at):
            *_, terminated, info = env.step(torch.ones(1, 3, dtype=torch.int64))
        assert terminated.all() and info["episode_limit"].all() and not info["battle_won"].any()
        env.reset()
        assert len(RelaunchingSMAC.built) == 2 and [game.launches for game in RelaunchingSMAC.built] == [1, 1]


def test_an_env_that_fails_a_step_leaves_every_env_to_be_reset(fake_smac):
    """The others' answers of a failed call are lost: an episode that ended there would be stepped again."""
    with SC2BatchedEnv("3m", n_envs=2, seed=0, env_factory=fake_smac) as env:
        env.reset()
        env._workers[1].process.kill()
        env._workers[1].process.join()
        stop = torch.ones(2, 3, dtype=torch.int64)
        with pytest.raises(RuntimeError, match="SC2 env 1 died"):
            env.step(stop)
        with pytest.raises(RuntimeError, match="Env 0 has no running episode"):
            env.step(stop)


def test_the_simulators_compile_setting_does_not_reach_smac():
    """A model trained with env_kwargs={"compile": True} keeps it; StarCraft2Env has no such keyword."""
    with SC2BatchedEnv("3m", seed=0, env_factory=StarCraft2SimEnv, compile=True) as env:
        env.reset()


@pytest.mark.parametrize("value", ["False", 0, 1, None])
def test_layout_switches_must_be_bools_before_a_game_starts(value):
    """bool("False") is True: a string or number switch would have given the layout a feature SMAC's obs lacks."""

    def no_game(**kwargs):  # noqa: ANN003, ANN202
        raise AssertionError("no game may start for a refused setting")

    with pytest.raises(ValueError, match=f"obs_last_action={value!r} must be True or False"):
        SC2BatchedEnv("3m", seed=0, env_factory=no_game, obs_last_action=value)
    for switch in ("reward_sparse", "continuing_episode", "heuristic_ai"):  # SMAC's own switches too
        with pytest.raises(ValueError, match=f"{switch}={value!r} must be True or False"):
            SC2BatchedEnv("3m", seed=0, env_factory=no_game, **{switch: value})
    with SC2BatchedEnv("3m", seed=0, env_factory=StarCraft2SimEnv, obs_last_action=np.bool_(True)) as env:
        assert env.layout.flags.obs_last_action is True and env.obs_shape == 30 + 2 * 9


class LossOnTheLimitStep(StarCraft2SimEnv):
    """Every episode that reaches the time limit ends there as a battle decided against the agents, as SMAC
    reports MMM's "only medivacs left" loss on the limit step: terminated, not won, allies alive, no timeout."""

    hidden = 0  # timeouts of the simulator reported as such losses

    def step(self, actions):  # noqa: ANN001, ANN201
        timeouts = self.sim.get_stats()["timeouts"]
        reward, terminated, info = super().step(actions)
        if self.sim.get_stats()["timeouts"] > timeouts:
            self.hidden += 1
            info.pop("episode_limit", None)
        return reward, terminated, info

    def get_stats(self) -> dict[str, float]:
        return {**super().get_stats(), "timeouts": super().get_stats()["timeouts"] - self.hidden}


@pytest.mark.parametrize("continuing_episode", [True, False])
def test_a_battle_decided_on_the_limit_step_is_no_timeout(continuing_episode):
    generator = torch.Generator().manual_seed(0)
    with SC2BatchedEnv("3m", seed=7, env_factory=LossOnTheLimitStep, continuing_episode=continuing_episode) as env:
        avail, reported = env.reset()[2], 0
        for _ in range(62):  # as in test_matches_builtin_simulator: a time limit is reached
            _, _, avail, _, terminated, info = env.step(random_actions(avail, generator))
            reported += int(info["episode_limit"].sum())
            if terminated.any():
                avail = env.reset(terminated)[2]
        assert env._workers[0].runner.env.hidden > 0 and reported == 0


class UncountedSMAC(StarCraft2SimEnv):
    """SMAC's ``get_stats`` divides by the number of finished battles: ZeroDivisionError before the first one."""

    def get_stats(self) -> dict[str, float]:
        stats = super().get_stats()
        if stats["battles_game"] == 0:
            raise ZeroDivisionError("division by zero")
        return stats


def test_timeouts_are_counted_before_smacs_first_finished_battle():
    reference = SMACSimulator("3m", seed=7)
    with SC2BatchedEnv("3m", seed=7, env_factory=UncountedSMAC, continuing_episode=False) as env:
        assert_same_transition(env.reset(), reference.reset())
        assert play_beside_the_simulator(env, reference) > 0
        assert env.get_stats() == reference.get_stats()


class FailingRebuild(StarCraft2SimEnv):
    """An env_factory that fails while ``fail`` is set (a game that cannot be launched)."""

    fail = False

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if FailingRebuild.fail:
            raise ConnectionError("SC2 did not start")
        super().__init__(*args, **kwargs)


def test_a_failed_rebuild_keeps_the_counters_once():
    FailingRebuild.fail = False
    with SC2BatchedEnv("3m", seed=0, env_factory=FailingRebuild) as env:
        generator, terminated, avail = torch.Generator().manual_seed(0), False, env.reset()[2]
        while not terminated:
            _, _, avail, _, done, _ = env.step(random_actions(avail, generator))
            terminated = bool(done.all())
        FailingRebuild.fail = True
        with pytest.raises(ConnectionError):
            env.reset(seed=5)
        with pytest.raises(ConnectionError):
            env.reset(seed=5)
        FailingRebuild.fail = False
        env.reset()
        assert env.get_stats()["battles_game"] == 1  # the closed game's battle, counted once


class ReadOnlyReplays(StarCraft2SimEnv):
    def save_replay(self) -> None:
        raise PermissionError("replay_dir is read-only")


def test_an_os_error_of_the_game_is_not_called_a_dead_worker():
    with SC2BatchedEnv("3m", seed=0, env_factory=ReadOnlyReplays) as env:  # one env: in this process
        env.reset()
        with pytest.raises(PermissionError, match="read-only"):
            env.save_replay()


@pytest.mark.parametrize("n_envs", [1, 2])
def test_errors_name_the_env(fake_smac, n_envs):
    with SC2BatchedEnv("3m", n_envs=n_envs, seed=0, env_factory=fake_smac) as env:
        stop = torch.ones(n_envs, 3, dtype=torch.int64)
        with pytest.raises(RuntimeError, match="Env 0 has no running episode"):
            env.step(stop)  # never reset
        with pytest.raises(RuntimeError, match="call reset"):
            env.render()  # SMAC's renderer needs a launched game
        env.reset()
        no_op = stop.clone()
        no_op[n_envs - 1, 2] = 0  # no-op is only available to dead agents
        with pytest.raises(ValueError, match=rf"^env {n_envs - 1}, agent 2: action 0 is not available \(available"):
            env.step(no_op)  # the simulator's message (check_joint_actions)
        with pytest.raises(ValueError, match="shape"):
            env.step(stop[:, :2])
        with pytest.raises(ValueError, match="env_mask"):
            env.reset(torch.ones(n_envs + 1, dtype=torch.bool))
        with pytest.raises(ValueError, match="seed"):
            env.reset(seed=-1)  # StarCraft II's seeds are unsigned 32-bit
        with pytest.raises(ValueError, match="env_index"):
            env.render(env_index=n_envs)


def test_actions_are_checked_like_the_simulators(fake_smac):
    """One check for both backends (check_joint_actions): before, the SC2 backend took bool actions as 0/1 and complex
    ones as their real part, and worded its errors otherwise."""
    reference = SMACSimulator("3m", n_envs=2, seed=0)
    reference.reset()
    with SC2BatchedEnv("3m", n_envs=2, seed=0, env_factory=fake_smac) as env:
        env.reset()
        stop = torch.ones(2, 3, dtype=torch.int64)
        for bad in (stop.bool(), stop.to(torch.complex64), stop.float()):
            with pytest.raises(ValueError, match=rf"integer action indices of shape \(2, 3\) .* got {bad.dtype}"):
                env.step(bad)
        out_of_range = stop.clone()
        out_of_range[1, 0] = 9
        messages = []
        for game in (env, reference):
            with pytest.raises(ValueError, match=r"^env 1, agent 0: action 9 is not available: .* in \[0, 9\)") as info:
                game.step(out_of_range)
            messages.append(str(info.value))
        assert messages[0] == messages[1]
        env.step(stop.int())  # any integer dtype, as the simulator


def test_worker_error_is_raised_in_parent_and_workers_stop(fake_smac):
    with pytest.raises(TypeError, match="not_a_smac_keyword") as info:
        SC2BatchedEnv("3m", n_envs=2, env_factory=fake_smac, not_a_smac_keyword=1)
    assert "worker process of SC2 env" in str(info.value.__cause__)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("sc2-env-")]


def test_a_dead_worker_leaves_the_other_pipes_in_step(fake_smac):
    with SC2BatchedEnv("3m", n_envs=2, seed=0, env_factory=fake_smac) as env:
        env._workers[1].process.kill()
        env._workers[1].process.join()
        with pytest.raises(RuntimeError, match="SC2 env 1 died"):
            env.reset()
        stats = env._call("get_stats", {0: ()})[0]  # env 0's reset answer was read: this is its stats answer
        assert isinstance(stats, dict) and "timeouts" in stats


def test_close_and_garbage_collection_stop_workers(fake_smac):
    env = SC2BatchedEnv("3m", n_envs=2, seed=0, env_factory=fake_smac)
    processes = [worker.process for worker in env._workers]
    assert all(p.is_alive() for p in processes)
    env.close()
    assert not any(p.is_alive() for p in processes)
    env.close()  # idempotent

    env = SC2BatchedEnv("3m", n_envs=2, seed=0, env_factory=fake_smac)
    processes = [worker.process for worker in env._workers]
    del env
    gc.collect()
    assert not any(p.is_alive() for p in processes)


def test_render_and_save_replay_forward_to_smac(fake_smac):
    with SC2BatchedEnv("3m", n_envs=2, seed=0, env_factory=fake_smac) as env:
        env.reset()
        frame = env.render(env_index=1)
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        with pytest.raises(NotImplementedError, match="StarCraft II"):  # the simulator's SMAC API has no replays
            env.save_replay(env_index=1)
        with pytest.raises(NotImplementedError):  # both workers fail ...
            env.save_replay()
        obs = env.reset()[0]  # ... and both answers were read: the pipes are still in step
        assert obs.shape == (2, 3, env.obs_shape)


# --------------------------------------------------------------------------- real StarCraft II
@pytest.mark.sc2
def test_real_starcraft2_episode():
    try:
        load_starcraft2_env_class()
    except SC2NotAvailableError as error:
        pytest.skip(f"oxwhirl SMAC or StarCraft II is not available: {str(error).split('. ')[0]}")
    generator = torch.Generator().manual_seed(0)
    with SC2BatchedEnv("3m", n_envs=2, seed=0) as env:
        obs, state, avail = env.reset()
        assert obs.shape == (2, 3, env.obs_shape) and state.shape == (2, env.state_shape)
        terminated = torch.zeros(2, dtype=torch.bool)
        for _ in range(env.episode_limit):
            obs, state, avail, reward, done, info = env.step(random_actions(avail, generator))
            assert bool(((obs >= env.obs_low) & (obs <= env.obs_high)).all())
            terminated |= done
            if done.any():
                obs, state, avail = env.reset(done)
        assert terminated.all()  # every episode ends within the time limit
        assert env.get_stats()["battles_game"] >= 2
