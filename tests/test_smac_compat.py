"""StarCraft2SimEnv: SMAC's StarCraft2Env API on the built-in simulator, driven by a PyMARL-style loop."""

import re

import numpy as np
import pytest

from sb3_marl.envs import StarCraft2SimEnv


def test_pymarl_style_loop_runs_unchanged():
    env = StarCraft2SimEnv(map_name="3m", seed=3)
    info = env.get_env_info()
    assert info["n_agents"] == 3 and info["n_actions"] == 9 and info["episode_limit"] == 60
    assert (info["obs_shape"], info["state_shape"]) == (30, 48)
    assert info["agent_features"] == ["health", "energy/cooldown", "rel_x", "rel_y"]
    assert info["enemy_features"] == ["health", "rel_x", "rel_y"]
    rng = np.random.default_rng(0)
    for _ in range(2):
        obs, state = env.reset()
        terminated, episode_return, steps = False, 0.0, 0
        while not terminated:
            obs, state = env.get_obs(), env.get_state()
            avail = env.get_avail_actions()
            assert isinstance(obs, list) and len(obs) == 3 and obs[0].dtype == np.float32 and obs[0].shape == (30,)
            assert state.shape == (48,) and isinstance(avail[0][0], int)
            actions = [int(rng.choice(np.nonzero(a)[0])) for a in avail]
            reward, terminated, info = env.step(actions)
            assert isinstance(reward, float) and isinstance(terminated, bool)
            episode_return += reward
            steps += 1
        assert set(info) == {"battle_won", "dead_allies", "dead_enemies"}  # no episode_limit key by default
        assert steps <= env.episode_limit and 0.0 <= episode_return <= 20.0 + 1e-4
    stats = env.get_stats()
    # SMAC's public counters (an AttributeError before)
    assert (env.battles_game, env.battles_won, env.timeouts, env.force_restarts) == (2, stats["battles_won"], 0, 0)
    assert stats["battles_game"] == 2.0 and set(stats) == {
        "battles_won",
        "battles_game",
        "battles_draw",
        "win_rate",
        "timeouts",
        "restarts",
    }
    env.close()


def test_helpers_and_sc2_only_methods():
    env = StarCraft2SimEnv(map_name="2s3z", seed=1, continuing_episode=True)
    obs, state = env.reset()
    assert env.get_obs_size() == 80 and env.get_state_size() == 120 and env.get_total_actions() == 11
    assert env.get_obs_enemy_feats_size() == (5, 8) and env.get_obs_ally_feats_size() == (4, 8)
    assert env.get_obs_move_feats_size() == 4 and env.get_obs_own_feats_size() == 4
    assert np.array_equal(env.get_obs_agent(1), obs[1])
    assert env.get_avail_agent_actions(0)[:2] == [0, 1]
    parts = env.get_state_dict()
    assert [p.shape for p in parts.values()] == [(5, 7), (5, 6), (5, 11)]
    assert np.array_equal(np.concatenate([p.ravel() for p in parts.values()]), state)
    assert env.get_visibility_matrix().shape == (5, 10) and env.seed() == 1
    assert env.unit_max_shield(0) == 80 and env.unit_max_cooldown(0) == 35 and env.unit_shoot_range(0) == 6
    assert env.get_unit_types()[:2] == [74, 74]
    with pytest.raises(NotImplementedError, match="StarCraft II"):
        env.save_replay()
    with pytest.raises(ValueError, match=r"agent_id=7 must be an integer in \[0, 4\]"):
        env.get_obs_agent(7)


def test_timeout_sets_episode_limit_only_with_continuing_episode():
    for continuing in (False, True):
        env = StarCraft2SimEnv(map_name="3m", seed=0, continuing_episode=continuing)
        env.reset()
        env.sim.unit_pos[0, 3:, 0] = 31.0  # enemies far away and held: the time limit ends the episode
        env.sim._walking[0, 3:] = False
        terminated = False
        while not terminated:
            reward, terminated, info = env.step([1, 1, 1])
        assert info.get("episode_limit", False) is continuing and env._episode_steps == env.episode_limit


def test_stepping_a_terminated_episode_raises_until_reset():
    """SMAC has no check (it steps the decided game on); the simulator neither resets silently (which then refused
    a dead agent's no-op as 'action 0 is not available') nor steps on: it asks for reset()."""
    env = StarCraft2SimEnv(map_name="3m", seed=0)
    env.reset()
    env.sim.unit_health[0, :3] = 0.0  # every ally dies: the battle is lost at the next step
    env.get_avail_actions()
    reward, terminated, info = env.step([0, 0, 0])
    assert terminated and info["dead_allies"] == 3
    for actions in ([0, 0, 0], [1, 1, 1]):
        with pytest.raises(RuntimeError, match=r"episode has terminated: call reset\(\) before step\(\)"):
            env.step(actions)
    assert env.get_stats()["battles_game"] == 1.0  # the refused steps counted nothing
    env.reset()
    assert env.step([1, 1, 1])[1] is False and env._episode_steps == 1


@pytest.mark.parametrize("agent_id", [1.9, True, -1, 3, "1", float("nan")])
@pytest.mark.parametrize("method", ["get_obs_agent", "get_avail_agent_actions", "unit_max_cooldown"])
def test_agent_ids_must_be_integers_in_range(method, agent_id):
    env = StarCraft2SimEnv(map_name="3m", seed=0)
    with pytest.raises(ValueError, match=re.escape(f"agent_id={agent_id!r} must be an integer")):
        getattr(env, method)(agent_id)
    assert len(env.get_obs_agent(np.int64(2))) == 30 and env.get_avail_agent_actions(2.0)[1] == 1


def test_keywords_are_checked_and_read_as_checked():
    with pytest.raises(ValueError, match="continuing_episode='False' must be True or False"):
        StarCraft2SimEnv(map_name="3m", seed=0, continuing_episode="False")
    with pytest.raises(ValueError, match="reward_scale_rate=0 must be a finite number > 0"):
        StarCraft2SimEnv(map_name="3m", seed=0, reward_scale_rate=0)
    env = StarCraft2SimEnv(map_name="3m", seed=0, continuing_episode=np.bool_(True), reward_scale_rate=np.int64(10))
    assert env.continuing_episode is True and env.reward_scale_rate == 10.0 and type(env.reward_scale_rate) is float


def test_state_dict_is_a_copy():
    """Editing get_state_dict()'s arrays (SMAC's own dict layout) does not change the env's next state."""
    env = StarCraft2SimEnv(map_name="3m", seed=0, state_timestep_number=True)
    env.reset()
    env.step([1, 1, 1])
    parts = env.get_state_dict()
    assert parts["timestep"].shape == (1,)  # documented difference: SMAC's is a Python float
    state = env.get_state()
    parts["last_action"][:] = 7.0
    assert np.array_equal(env.get_state(), state)


def test_an_action_out_of_range_is_named_with_the_range():
    """The simulator's check (check_joint_actions) names the bad value, agent and the action range."""
    env = StarCraft2SimEnv(map_name="3m", seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"^env 0, agent 1: action 9 is not available: .* in \[0, 9\) "):
        env.step([1, 9, 1])
    with pytest.raises(ValueError, match=r"^env 0, agent 2: action 0 is not available \(available actions: \[1, "):
        env.step([1, 1, 0])  # only dead agents no-op
    with pytest.raises(ValueError, match=r"^step\(\) takes one action per agent: 3 actions, got 2$"):
        env.step([1, 1])  # was named in the batch's terms, shape (1, 3) = (n_envs, n_agents)
    assert env.step([1, 1, 1])[1] is False and env._episode_steps == 1  # the refused steps changed nothing


@pytest.mark.parametrize(
    "actions, given",
    [("abc", "'abc'"), (None, "None"), ([[1, 1, 1], [1, 1]], re.escape("[[1, 1, 1], [1, 1]]"))],
)
def test_actions_torch_cannot_read_are_named_with_the_shape_and_dtype(actions, given):
    """The batched env's step passed them to torch: "new(): invalid data type 'str'", "Could not infer dtype of
    NoneType", "expected sequence of length 3 at dim 1 (got 2)", none naming the argument or what it takes."""
    from sb3_marl.envs import make_env

    env = make_env("3m", n_envs=2, seed=0)
    env.reset()
    message = r"^actions must be integer action indices of shape \(2, 3\) = \(n_envs, n_agents\) \(a tensor, an "
    with pytest.raises(ValueError, match=message + rf"array or nested lists\), got {given}$"):
        env.step(actions)
    assert env.step([[1, 1, 1], [1, 1, 1]])[4].tolist() == [False, False]  # the refused steps changed nothing


@pytest.mark.parametrize(
    ("actions", "given"), [(None, "None"), ("abc", "'abc'"), ([[1], [1], [1]], r"\[\[1\], \[1\], \[1\]\]")]
)
def test_the_single_episode_env_names_actions_it_cannot_read(actions, given):
    """StarCraft2SimEnv.step said "'NoneType' object is not iterable", "invalid literal for int() with base 10: 'a'"
    or "int() argument must be ... not 'list'"."""
    env = StarCraft2SimEnv(map_name="3m", seed=0)
    env.reset()
    with pytest.raises(
        ValueError, match=rf"^step\(\) takes one integer action index per agent \(n_agents=3\), got actions={given}$"
    ):
        env.step(actions)
    assert env.step([1, 1, 1])[1] is False  # the refused steps changed nothing


def test_the_install_hint_for_real_starcraft_ii_is_the_setup_script(monkeypatch, tmp_path):
    """The hint said `pip install -e ".[smac]"`, which could pull a CUDA build of torch; the README says to use
    scripts/setup.sh."""
    import sys

    from sb3_marl.envs.sc2_backend import SC2NotAvailableError, load_starcraft2_env_class

    monkeypatch.setitem(sys.modules, "smac", None)  # makes `import smac` fail
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    with pytest.raises(SC2NotAvailableError) as error:
        load_starcraft2_env_class()
    assert "Install oxwhirl SMAC with `bash scripts/setup.sh smac` in the sb3-marl checkout (" in str(error.value)
    assert "pip install -e" not in str(error.value)
