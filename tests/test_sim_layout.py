"""Sizes, availability rules and observation ranges of the built-in SMAC simulator (smac-spec.md §3-§5)."""

import numpy as np
import pytest
import torch

from sb3_marl.envs import MAP_NAMES, SMACSimulator, get_map_params, make_env, observation_bounds

# spec §4.1: map -> (n_actions, obs_size, state_size) with SMAC's default flags
SPEC_SIZES = {
    "3m": (9, 30, 48),
    "8m": (14, 80, 168),
    "25m": (31, 250, 950),
    "5m_vs_6m": (12, 55, 98),
    "8m_vs_9m": (15, 85, 179),
    "10m_vs_11m": (17, 105, 243),
    "27m_vs_30m": (36, 285, 1170),
    "MMM": (16, 160, 290),
    "MMM2": (18, 176, 322),
    "2s3z": (11, 80, 120),
    "3s5z": (14, 128, 216),
    "3s5z_vs_3s6z": (15, 136, 230),
    "3s_vs_3z": (9, 36, 54),
    "3s_vs_4z": (10, 42, 61),
    "3s_vs_5z": (11, 48, 68),
    "1c3s5z": (15, 162, 270),
    "2m_vs_1z": (7, 16, 26),
    "corridor": (30, 156, 282),
    "6h_vs_8z": (14, 78, 140),
    "2s_vs_1sc": (7, 17, 27),
    "so_many_baneling": (38, 202, 397),
    "bane_vs_bane": (30, 336, 984),
    "2c_vs_64zg": (70, 332, 342),
}
# spec §5.3: max_reward per map
SPEC_MAX_REWARD = {
    "3m": 365,
    "2m_vs_1z": 360,
    "3s_vs_3z": 680,
    "2s3z": 1020,
    "MMM2": 1205,
    "2c_vs_64zg": 3080,
    "so_many_baneling": 1480,
    "6h_vs_8z": 1480,
    "2s_vs_1sc": 510,
    "1c3s5z": 1870,
}


def test_registry_has_the_23_maps():
    assert sorted(MAP_NAMES) == sorted(SPEC_SIZES)


@pytest.mark.parametrize("map_name", list(SPEC_SIZES))
def test_sizes_match_smac(map_name):
    env = SMACSimulator(map_name, n_envs=2, seed=0)
    n_actions, obs_size, state_size = SPEC_SIZES[map_name]
    obs, state, avail = env.reset()
    params = get_map_params(map_name)
    assert (env.n_actions, env.obs_shape, env.state_shape) == (n_actions, obs_size, state_size)
    assert obs.shape == (2, params.n_agents, obs_size) and obs.dtype == torch.float32
    assert state.shape == (2, state_size) and state.dtype == torch.float32
    assert avail.shape == (2, params.n_agents, n_actions) and avail.dtype == torch.bool
    assert env.obs_low.shape == env.obs_high.shape == (obs_size,)
    assert ((obs >= env.obs_low) & (obs <= env.obs_high)).all()
    if map_name in SPEC_MAX_REWARD:
        assert env.max_reward == SPEC_MAX_REWARD[map_name]


@pytest.mark.parametrize(
    ("flags", "obs_extra", "state_extra"),
    [
        ({"obs_last_action": True}, 2 * 9, 0),
        ({"obs_pathing_grid": True}, 8, 0),
        ({"obs_terrain_height": True}, 9, 0),
        ({"obs_timestep_number": True}, 2, 0),
        ({"state_last_action": False}, 0, -27),
        ({"state_timestep_number": True}, 0, 1),
        ({"obs_instead_of_state": True}, 0, 3 * 30 - 48),
    ],
)
def test_optional_features_change_sizes_like_smac(flags, obs_extra, state_extra):
    if flags.get("obs_terrain_height"):
        with pytest.warns(UserWarning, match="no terrain heights"):
            env = SMACSimulator("3m", seed=0, **flags)
    else:
        env = SMACSimulator("3m", seed=0, **flags)
    obs, state, _ = env.reset()
    assert obs.shape[-1] == 30 + obs_extra
    assert state.shape[-1] == 48 + state_extra
    # SMAC's quirk: the timestep adds a zero slot and the value, one more than get_obs_size() counts
    assert env.layout.obs_size == 30 + obs_extra - flags.get("obs_timestep_number", False)
    _, _, avail, *_ = env.step(torch.ones(1, 3, dtype=torch.long))
    assert ((env.get_obs() >= env.obs_low) & (env.get_obs() <= env.obs_high)).all()


def test_observation_bounds_function_matches_simulator():
    low, high = observation_bounds(get_map_params("2s3z"))
    env = SMACSimulator("2s3z", seed=0)
    assert torch.equal(env.obs_low, torch.as_tensor(low)) and torch.equal(env.obs_high, torch.as_tensor(high))
    assert (low == -1).sum() == 2 * (5 + 4)  # dx/9 and dy/9 of every enemy and ally row


def _set_positions(env, positions):
    env.unit_pos[0] = torch.tensor(positions, dtype=torch.float32)


def test_availability_rules():
    env = SMACSimulator("3m", seed=0)
    env.reset()
    # agent 0 at the top of the walkable band (y in [8, 24)); enemy 0 at distance 6.0, enemy 1 at 6.01
    _set_positions(env, [[5.0, 23.5], [5.0, 12.0], [9.0, 12.0], [11.0, 23.5], [5.0, 17.49], [30.0, 8.5]])
    env.unit_health[0, 5] = 0.0  # enemy 2 is dead
    avail = env.get_avail_actions()[0]
    assert avail[0].tolist() == [False, True, False, True, True, True, True, False, False]
    assert avail[1, 8].item() is False  # dead enemy never attackable
    assert avail[1, 7].item() is True  # distance 5.49 <= 6
    env.unit_health[0, 2] = 0.0
    assert env.get_avail_actions()[0, 2].tolist() == [True] + [False] * 8
    obs = env.get_obs()[0]
    assert torch.count_nonzero(obs[2]) == 0  # dead agents see zeros
    assert obs[0, 4].item() == 1.0  # enemy 0 attackable flag; d/9 = 6/9
    assert obs[0, 5].item() == pytest.approx(6 / 9)


def test_moves_at_the_west_edge_follow_smacs_integer_truncation():
    """SMAC probes ``int(x - 1)``: -0.5 truncates to column 0, walkable on the standard grid, so west stays available
    for 0 < x < 1 (rounding down gave column -1, outside the map); the unit stays on the map when it moves."""
    env = SMACSimulator("3m", seed=0)
    env.reset()
    for x, west in [(0.5, True), (0.999, True), (1.2, True), (0.0, False)]:  # int(-1.0) = -1: outside
        _set_positions(env, [[x, 16.0], [5.0, 12.0], [5.0, 14.0], [30.0, 8.5], [30.0, 10.5], [30.0, 12.5]])
        assert env.get_avail_actions()[0, 0, 5].item() is west, x
    _set_positions(env, [[0.5, 16.0], [5.0, 12.0], [5.0, 14.0], [30.0, 8.5], [30.0, 10.5], [30.0, 12.5]])
    env.get_avail_actions()  # refreshes the availability step() checks
    env.step(torch.tensor([[5, 1, 1]]))
    assert 0.0 <= env.unit_pos[0, 0, 0].item() < 0.5


def test_step_input_errors():
    env = SMACSimulator("3m", n_envs=2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        env.step(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="env 1, agent 2: action 0"):
        env.step(torch.tensor([[1, 1, 1], [1, 1, 0]]))
    with pytest.raises(ValueError, match="integer"):
        env.step(torch.ones(2, 3))
    with pytest.raises(ValueError, match="n_envs"):
        SMACSimulator("3m", n_envs=0)
    with pytest.raises(ValueError, match="Known maps: .*2s3z"):
        SMACSimulator("4m")
    for name, close in (("mmm", "MMM"), ("2c_vs_64z", "2c_vs_64zg")):  # a close name is suggested
        with pytest.raises(ValueError, match=f"Unknown SMAC map '{name}'. Did you mean '{close}'?"):
            make_env(name)
    with pytest.raises(TypeError, match=r"map_name=\['3m'\] must be a SMAC map name"):
        make_env(["3m"])  # was "unhashable type: 'list'"
    for device, message in (("tpu", "is not a torch device"), ("meta", "holds no data")):  # torch's raw errors
        with pytest.raises(ValueError, match=f"device='{device}' {message}"):
            SMACSimulator("3m", device=device)
    with pytest.raises(TypeError, match="obs_fancy"):
        SMACSimulator("3m", obs_fancy=True)
    with pytest.raises(ValueError, match="backend 'gym'"):
        make_env("3m", backend="gym")


def test_stepping_a_terminated_env_raises_until_reset():
    env = SMACSimulator("3m", n_envs=2, seed=0)
    env.reset()
    env.unit_health[1, :3] = 0.0  # all allies of env 1 dead: the episode ends at the next step
    stop = torch.where(env.get_avail_actions()[..., 0], 0, 1)
    *_, terminated, info = env.step(stop)
    assert terminated.tolist() == [False, True] and info["dead_allies"][1].item() == 3
    with pytest.raises(RuntimeError, match="env 1"):
        env.step(torch.where(env.get_avail_actions()[..., 0], 0, 1))
    obs, _, avail = env.reset(torch.tensor([False, True]))
    assert avail[1, :, 1].all() and env.episode_steps.tolist() == [1, 0]


@pytest.mark.parametrize("map_name", list(SPEC_SIZES))
def test_random_play_keeps_observations_in_range(map_name):
    env = SMACSimulator(map_name, n_envs=2, seed=0)
    gen = torch.Generator().manual_seed(0)
    obs, state, avail = env.reset()
    for _ in range(15):
        actions = torch.multinomial(avail.flatten(0, 1).float(), 1, generator=gen).view(2, -1)
        obs, state, avail, reward, terminated, _ = env.step(actions)
        assert ((obs >= env.obs_low) & (obs <= env.obs_high)).all()
        assert torch.isfinite(state).all() and (reward >= 0).all()
        obs, state, avail = env.reset(terminated)


SWITCHES = [
    "obs_all_health",
    "obs_own_health",
    "obs_last_action",
    "obs_pathing_grid",
    "obs_terrain_height",
    "obs_instead_of_state",
    "obs_timestep_number",
    "state_last_action",
    "state_timestep_number",
    "reward_sparse",
    "reward_only_positive",
    "reward_scale",
    "continuing_episode",
    "heuristic_ai",
    "heuristic_rest",
    "compile",
]


@pytest.mark.parametrize("value", ["False", "no", 0, 1, None])
@pytest.mark.parametrize("name", SWITCHES)
def test_switches_must_be_true_or_false(name, value):
    """bool("False") and bool("no") are True: every switch takes True or False only, and says so."""
    with pytest.raises(ValueError, match=f"^{name}={value!r} must be True or False$"):
        SMACSimulator("3m", seed=0, **{name: value})


def test_numpy_bools_switch_like_bools():
    env = SMACSimulator("3m", seed=0, obs_last_action=np.bool_(True), reward_sparse=np.bool_(False))
    assert env.flags.obs_last_action is True and env.obs_shape == 30 + 2 * 9
    assert env.reward_cfg["reward_sparse"] is False and env.continuing_episode is False


@pytest.mark.parametrize("source", ["reset", "step", "get_avail_actions"])
def test_edited_avail_does_not_unlock_actions(source):
    """The env checks the next actions against its own availability, not against what it returned."""
    env = SMACSimulator("3m", n_envs=2, seed=0)
    avail = {
        "reset": lambda: env.reset()[2],
        "step": lambda: env.step(torch.ones(2, 3, dtype=torch.long))[2],
        "get_avail_actions": env.get_avail_actions,
    }[source]()
    avail[:] = True
    with pytest.raises(ValueError, match="env 0, agent 0: action 0 is not available"):
        env.step(torch.zeros(2, 3, dtype=torch.long))  # only dead agents may no-op


def test_edited_terminated_does_not_restart_an_env():
    env = SMACSimulator("3m", n_envs=2, seed=0)
    env.unit_health[1, :3] = 0.0  # env 1's allies all die: its episode ends at the next step
    *_, terminated, _ = env.step(torch.where(env.get_avail_actions()[..., 0], 0, 1))
    assert terminated.tolist() == [False, True]
    terminated[:] = False
    with pytest.raises(RuntimeError, match="env 1 has terminated"):
        env.step(torch.where(env.get_avail_actions()[..., 0], 0, 1))


def test_edited_state_dict_does_not_change_the_next_state():
    env = SMACSimulator("3m", seed=0, obs_last_action=True)
    env.step(torch.ones(1, 3, dtype=torch.long))
    obs, state = env.get_obs(), env.get_state()
    env.state_dict()["last_action"][:] = 5.0
    assert torch.equal(env.get_obs(), obs) and torch.equal(env.get_state(), state)
