"""SC2 combat rules of the built-in simulator: damage arithmetic, shields, cooldowns, rewards, seeding."""

import numpy as np
import pytest
import torch

from sb3_marl.envs import SMACSimulator
from sb3_marl.envs.units import life_damage, unit_stats

B = torch.tensor


def _fire(env, shooters, targets):
    """Make units ``shooters`` hit ``targets`` once in env 0 (one game loop's worth of shots)."""
    fire = torch.zeros(1, env.n_units, dtype=torch.bool)
    tgt = torch.zeros(1, env.n_units, dtype=torch.long)
    fire[0, shooters] = True
    tgt[0, shooters] = torch.tensor(targets)
    pos = env.unit_pos
    edge = (pos.unsqueeze(2) - pos.unsqueeze(1)).norm(dim=-1) - env._radius_sum
    env._apply_damage(fire, tgt, pos, edge)


def test_marine_on_zealot_shield_then_life_armor():
    env = SMACSimulator("2m_vs_1z", seed=0)  # units: marine 0, marine 1, zealot 2
    _fire(env, [0], [2])
    assert (env.unit_shield[0, 2].item(), env.unit_health[0, 2].item()) == (44.0, 100.0)
    env.unit_shield[0, 2] = 3.0  # the hit breaks the shield: 3 absorbed, 6 - 3 - 1 armor to life
    _fire(env, [0], [2])
    assert (env.unit_shield[0, 2].item(), env.unit_health[0, 2].item()) == (0.0, 98.0)
    _fire(env, [0], [2])  # no shield left: 6 - 1 armor
    assert env.unit_health[0, 2].item() == 93.0
    env.unit_shield[0, 2] = 8.0  # two marines in the same loop: 6 on shield, then 2 on shield + 6 - 2 - 1 on life
    _fire(env, [0, 1], [2, 2])
    assert (env.unit_shield[0, 2].item(), env.unit_health[0, 2].item()) == (0.0, 90.0)


def test_zealot_hits_twice_and_armor_applies_per_hit():
    env = SMACSimulator("2m_vs_1z", seed=0)
    _fire(env, [2], [0])  # 2 x 8 on a 0-armor marine
    assert env.unit_health[0, 0].item() == 45.0 - 16.0
    env = SMACSimulator("2s3z", seed=0)  # allies: stalker 0, 1, zealot 2, 3, 4; enemies: stalker 5, 6, zealot 7..9
    env.unit_shield[0, 0] = 10.0  # first hit 8 on shield, second: 2 on shield, 8 - 2 - 1 armor on life
    _fire(env, [7], [0])
    assert (env.unit_shield[0, 0].item(), env.unit_health[0, 0].item()) == (0.0, 75.0)
    env.unit_shield[0, 1] = 0.0  # both hits on life: 2 x (8 - 1)
    _fire(env, [8], [1])
    assert env.unit_health[0, 1].item() == 80.0 - 14.0


def test_mixed_weapons_breaking_a_shield_in_one_loop():
    env = SMACSimulator("2s3z", seed=0)
    env.unit_shield[0, 5] = 10.0  # stalker (18 vs armored) then zealot (2 x 8) on a stalker: 34 damage in 3 hits
    _fire(env, [0, 2], [5, 5])
    assert env.unit_shield[0, 5].item() == 0.0
    # The simulator's rule for hits of mixed damage on one target in one loop (simulator.py, _apply_shot_damage):
    # the shield-breaking hit is located as if every hit dealt the mean, 34 / 3; the shield (10) stops no whole hit,
    # so the first hit breaks it, (34/3 - 10 - 1 armor) to life, and the other two reach life, 2 x (34/3 - 1 armor):
    # 21 in all, which here equals the hits in unit index order (smac-spec §7.3): 18 - 10 - 1 + 2 x (8 - 1).
    assert env.unit_health[0, 5].item() == pytest.approx(80.0 - 21.0, abs=1e-4)


def test_stalker_bonus_against_armored_before_armor():
    env = SMACSimulator("2s3z", seed=0)
    _fire(env, [0, 1], [5, 7])  # stalker vs stalker (armored: 13 + 5) and vs zealot (light: 13)
    assert env.unit_shield[0, 5].item() == 80.0 - 18.0
    assert env.unit_shield[0, 7].item() == 50.0 - 13.0
    env.unit_shield[0, 5] = 0.0
    _fire(env, [0], [5])
    assert env.unit_health[0, 5].item() == 80.0 - (18.0 - 1.0)


def test_minimum_half_damage_per_hit():
    assert life_damage(1.0, 2.0) == 0.5
    assert life_damage(25.0 + 5.0, 1.0) == 29.0
    spine, stalker = unit_stats("spine_crawler", False), unit_stats("stalker", True)
    assert spine.hit_damage(stalker) == 30.0 and stalker.hit_damage(spine) == 18.0


def test_shield_regeneration_after_ten_game_seconds_at_two_per_second():
    env = SMACSimulator("2s3z", seed=0)
    env.unit_shield[0, 0] = 10.0
    env._since_damage[0, 0] = 0.0
    not_struck = torch.zeros(1, env.n_units, dtype=torch.bool)
    for _ in range(159):  # 159 game loops: still inside the 10 s (160 loops) delay
        env._regenerate(not_struck)
    assert env.unit_shield[0, 0].item() == 10.0
    for _ in range(16):  # then 2 shield per game-second (16 loops)
        env._regenerate(not_struck)
    assert env.unit_shield[0, 0].item() == pytest.approx(12.0)
    env._regenerate(B([[True] + [False] * 9]))  # damage restarts the delay
    env._regenerate(not_struck)
    assert env.unit_shield[0, 0].item() == pytest.approx(12.0)


def test_attack_order_fires_once_per_step_with_cooldown_jitter():
    env = SMACSimulator("3m", seed=0)
    env.unit_pos[0, 0] = torch.tensor([12.0, 16.0])
    env.unit_pos[0, 3] = torch.tensor([17.0, 16.0])  # edge distance 5 - 0.75 = 4.25 <= marine range 5
    avail = env.get_avail_actions()
    assert avail[0, 0, 6]
    env.step(B([[6, 1, 1]]))
    assert env.unit_attack_target[0, 0].item() == 3
    assert env.unit_health[0, 3].item() == 45.0 - 6.0  # one shot per 8 loops (period 13.8 loops)
    period = unit_stats("marine", True).cooldown_loops
    # fired on loop 1, then 7 more loops elapsed; jitter is -1..+2 loops
    assert period - 1 - 7 <= env._cd[0, 0].item() <= period + 2 - 7


def test_allies_are_passive_and_enemies_attack_move():
    env = SMACSimulator("3m", seed=0)
    stop = B([[1, 1, 1]])
    for _ in range(4):
        env.step(stop)
    assert (env.unit_pos[0, :3] == torch.as_tensor(env._spawn_pos[:3])).all()  # allies hold still
    assert (env.unit_pos[0, 3:, 0] < env._spawn_pos[3:, 0]).all()  # enemies walk toward (9, 16)
    assert (env.unit_attack_target[0, :3] == -1).all()


def _random_rollout(env, n_steps, action_seed):
    """Roll random valid actions, drawn per env from generators seeded ``action_seed + b``; return the records."""
    gens = [torch.Generator().manual_seed(action_seed + b) for b in range(env.n_envs)]
    obs, state, avail = env.reset()
    records = []
    for _ in range(n_steps):
        actions = torch.stack(
            [torch.multinomial(avail[b].float(), 1, generator=gens[b]).squeeze(-1) for b in range(env.n_envs)]
        )
        obs, state, avail, reward, terminated, info = env.step(actions)
        records.append((obs.clone(), state.clone(), reward.clone(), terminated.clone()))
        if terminated.any():
            obs, state, avail = env.reset(terminated)
    return records


@pytest.mark.parametrize("map_name", ["2m_vs_1z", "2s3z"])
def test_same_seed_same_episode_and_batch_equals_single_runs(map_name):
    batched = _random_rollout(SMACSimulator(map_name, n_envs=3, seed=11), 80, action_seed=5)
    again = _random_rollout(SMACSimulator(map_name, n_envs=3, seed=11), 80, action_seed=5)
    for a, b in zip(batched, again):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    for env_id in range(3):
        single = _random_rollout(SMACSimulator(map_name, n_envs=1, seed=11 + env_id), 80, action_seed=5 + env_id)
        for a, b in zip(batched, single):
            assert all(torch.allclose(x[env_id], y[0], atol=1e-5) for x, y in zip(a, b))


def test_different_seeds_differ():
    one = SMACSimulator("2m_vs_1z", n_envs=8, seed=0)
    other = SMACSimulator("2m_vs_1z", n_envs=8, seed=100)
    assert not torch.equal(one._goal[:, 2], other._goal[:, 2])  # random attack point between the marines
    assert ((one._goal[:, 2, 0] >= 13) & (one._goal[:, 2, 0] <= 19) & (one._goal[:, 2, 1] == 12)).all()


def test_engineered_perfect_win_returns_twenty_and_reward_options():
    for kwargs, expected in [({}, 20.0), ({"reward_sparse": True}, 1.0 / (365 / 20)), ({"reward_scale": False}, 365.0)]:
        env = SMACSimulator("3m", seed=0, **kwargs)
        env.unit_health[0, 3:] = 0.0  # every enemy dies at once: all damage, kills and the win bonus at once
        _, _, _, reward, terminated, info = env.step(B([[1, 1, 1]]))
        assert terminated.item() and info["battle_won"].item() and not info["episode_limit"].item()
        assert reward.item() == pytest.approx(expected)


def test_only_positive_false_penalises_ally_losses():
    env = SMACSimulator("3m", seed=0, reward_only_positive=False)
    env.unit_health[0, 0] = 0.0  # ally 0 dies: -(45 + 10) * 0.5 before scaling
    assert env.get_avail_actions()[0, 0].tolist() == [True] + [False] * 8
    _, _, _, reward, *_ = env.step(B([[0, 1, 1]]))
    assert reward.item() == pytest.approx(-(45 + 10) * 0.5 / (365 / 20))
    env = SMACSimulator("3m", seed=0)  # default: ally losses ignored
    env.unit_health[0, 0] = 0.0
    env.get_avail_actions()
    _, _, _, reward, *_ = env.step(B([[0, 1, 1]]))
    assert reward.item() == 0.0


def test_time_limit_ends_the_episode():
    env = SMACSimulator("3m", seed=0)
    env.unit_pos[0, 3:, 0] = 31.0  # nothing happens while enemies are far and nobody moves
    env._walking[0, 3:] = False
    for step in range(env.episode_limit):
        *_, terminated, info = env.step(B([[1, 1, 1]]))
        assert terminated.item() == (step == env.episode_limit - 1)
    assert info["episode_limit"].item() and not info["battle_won"].item()
    assert env.get_stats()["timeouts"] == 1.0 and env.get_stats()["battles_game"] == 1.0


def test_medivac_heals_biological_allies_for_energy():
    env = SMACSimulator("MMM", seed=0)  # agents: marauder 0, 1, marines 2..8, medivac 9
    env.unit_pos[0, 9] = env.unit_pos[0, 2] + torch.tensor([1.0, 0.0])
    env.unit_health[0, 2] = 20.0
    avail = env.get_avail_actions()
    assert avail[0, 9, 6 + 2] and not avail[0, 9, 6 + 9]  # heal ally 2; never another medivac (itself)
    actions = torch.where(avail[0, :, 1], 1, 0).unsqueeze(0)
    actions[0, 9] = 6 + 2
    env.step(actions)
    healed = 8 * 9.0 / 16  # 8 loops at 9 life per game-second
    assert env.unit_health[0, 2].item() == pytest.approx(20.0 + healed)
    assert env._energy[0, 9].item() == pytest.approx(50.0 - healed / 3 + 8 * 0.5625 / 16)
    assert env.unit_attack_target[0, 9].item() == 2


def test_an_attack_order_on_a_unit_the_weapon_cannot_target_is_rejected():
    """MMM: a marauder's weapon hits ground only. Ordered at the enemy medivac (the action stays available, as in
    SMAC) it did 19 damage a step, paid as reward; SC2 rejects the order and the marauder keeps its previous one."""
    env = SMACSimulator("MMM", seed=0)  # agents: marauders 0, 1, marines 2..8, medivac 9; enemies alike
    n, medivac = env.n_agents, 9
    env.unit_pos[0, :n] = torch.tensor([2.0, 10.0]) + torch.arange(n).float().unsqueeze(-1) * torch.tensor([0.0, 1.3])
    env.unit_pos[0, n:] = torch.tensor([30.0, 22.0])
    env.unit_pos[0, 0] = torch.tensor([10.0, 16.0])
    env.unit_pos[0, 2] = torch.tensor([10.0, 17.0])
    env.unit_pos[0, n + medivac] = torch.tensor([13.0, 16.0])
    assert env.get_avail_actions()[0, 0, 6 + medivac]
    actions = torch.ones(1, n, dtype=torch.long)  # stop
    actions[0, 0] = 4  # move east first: the rejected order leaves the marauder walking east
    env.step(actions)
    x_before, health = env.unit_pos[0, 0, 0].item(), env.unit_health[0, n + medivac].item()
    actions[0, 0] = 6 + medivac
    _, _, _, reward, _, _ = env.step(actions)
    assert env.unit_health[0, n + medivac].item() == health and reward.item() == 0.0
    assert env.unit_pos[0, 0, 0].item() > x_before and env.unit_attack_target[0, 0].item() == -1
    actions[0, 2] = 6 + medivac  # a marine's weapon hits air
    env.step(actions)
    assert env.unit_health[0, n + medivac].item() < health


def test_baneling_burst_hits_the_area_and_kills_the_baneling():
    env = SMACSimulator("bane_vs_bane", seed=0)  # agents: banelings 0..3, zerglings 4..23; enemies from 24
    enemy_zerglings = [24, 25, 26]
    env.unit_pos[0, enemy_zerglings] = torch.tensor([[16.0, 16.0], [17.0, 16.0], [19.5, 16.0]])
    env.unit_pos[0, 0] = torch.tensor([16.0, 16.8])
    _fire(env, [0], [24])
    assert env.unit_health[0, 24].item() == env.unit_health[0, 25].item() == 35.0 - 35.0  # 16 + 19 vs light
    assert env.unit_health[0, 26].item() == 35.0  # 3.6 away: outside the 2.2 burst


def test_colossus_lances_hit_a_line_across_the_target():
    env = SMACSimulator("2c_vs_64zg", seed=0)  # agents: colossus 0, 1; zerglings from 2
    env.unit_pos[0, 0] = torch.tensor([10.0, 16.0])
    env.unit_pos[0, 2:5] = torch.tensor([[15.0, 16.0], [15.0, 17.0], [16.5, 16.0]])
    _fire(env, [0], [2])
    per_hit_life = 10.0 + 5.0  # bonus vs light, zergling armor 0
    assert env.unit_health[0, 2].item() == env.unit_health[0, 3].item() == 35.0 - 2 * per_hit_life
    assert env.unit_health[0, 4].item() == 35.0  # behind the target, off the line


def test_enemies_walk_around_walls():
    env = SMACSimulator("2c_vs_64zg", seed=0)  # zerglings spawn under a wall; colossi sit on the other side
    stop = torch.ones(1, 2, dtype=torch.long)
    zerglings = slice(2, None)
    for _ in range(25):
        env.step(stop)
        cells = env.unit_pos[0, zerglings].long()  # around the wall, not through it: every zergling on walkable ground
        alive = env.unit_health[0, zerglings] > 0
        assert env.pathing_grid[cells[:, 0], cells[:, 1]][alive].all()
    assert (env.unit_health[0, :2] < env.unit_health_max[:2]).any() or (env.unit_shield[0, :2] < 150).any()


@pytest.mark.parametrize("on_path", [(), ("clang++",)], ids=["no compiler", "clang++ only"])
def test_compile_without_the_compiler_inductor_uses_is_refused_up_front(monkeypatch, on_path):
    # inductor's own search on Linux without $CXX: g++ (clang++ only when CXX names it)
    monkeypatch.setattr("torch._inductor.config.cpp.cxx", (None, "g++"))
    monkeypatch.delenv("TORCH_INDUCTOR_INSTALL_GXX", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}" if name in on_path else None)
    with pytest.raises(RuntimeError, match="compile=True needs a C\\+\\+ compiler.*\\['g\\+\\+'\\].*CXX=clang"):
        SMACSimulator("3m", n_envs=2, seed=0, compile=True)
    assert SMACSimulator("3m", n_envs=2, seed=0).compiled is False  # the eager step needs none


def test_compile_accepts_the_compiler_cxx_names(monkeypatch):
    monkeypatch.setattr("torch._inductor.config.cpp.cxx", (None, "clang++"))  # what CXX=clang++ gives inductor
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/clang++" if name == "clang++" else None)
    assert SMACSimulator("3m", n_envs=2, seed=0, compile=True).compiled is True  # compiles lazily, at the first step


@pytest.mark.slow
@pytest.mark.parametrize("step_mul", [8, 6])
def test_compiled_step_matches_eager(step_mul):
    """compile=True runs the same dynamics (torch.compile'd stages; equal up to float rounding), also when the game
    loops do not split evenly into the compiled graphs of loops (step_mul 6: one graph of 4 loops, one of 2)."""
    eager, compiled = (
        SMACSimulator("2s3z", n_envs=4, seed=5, compile=flag, step_mul=step_mul) for flag in (False, True)
    )
    for _ in range(12):
        actions = eager.get_avail_actions().float().argmax(-1)  # highest available index: attack when possible
        out_e, out_c = eager.step(actions), compiled.step(actions)
        for a, b in zip(out_e[:5], out_c[:5]):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "name, value, allowed",
    [
        ("step_mul", 8.9, "an integer >= 1"),
        ("step_mul", True, "an integer >= 1"),
        ("step_mul", NAN, "an integer >= 1"),
        ("step_mul", 0, "an integer >= 1"),
        ("step_mul", "8", "an integer >= 1"),
        ("move_amount", 1.5, "an integer >= 1"),
        ("move_amount", 0, "an integer >= 1"),
        ("move_amount", NAN, "an integer >= 1"),
        ("reward_scale_rate", 0, "a finite number > 0"),
        ("reward_scale_rate", -20, "a finite number > 0"),
        ("reward_scale_rate", INF, "a finite number > 0"),
        ("reward_death_value", NAN, "a finite number >= 0"),
        ("reward_death_value", -10, "a finite number >= 0"),
        ("reward_win", NAN, "a finite number >= 0"),
        ("reward_win", "200", "a finite number >= 0"),
        ("reward_defeat", NAN, "a finite number <= 0"),
        ("reward_defeat", 5, "a finite number <= 0"),
        ("reward_negative_scale", -0.5, "a finite number >= 0"),
        ("reward_negative_scale", True, "a finite number >= 0"),
    ],
)
def test_number_settings_are_checked(name, value, allowed):
    """Before: step_mul 8.9 -> 8, True -> 1; a fractional move_amount broke SMAC's pathing probes; a zero scale rate
    failed at the first step (ZeroDivisionError), NaN rewards went through; messages did not name the setting."""
    with pytest.raises(ValueError, match=f"^{name}={value!r} must be {allowed}$"):
        SMACSimulator("3m", seed=0, **{name: value})


def test_numpy_and_negative_numbers_where_smac_allows_them():
    """numpy numbers are accepted; a defeat penalty may be negative (SMAC: 'should be nonpositive')."""
    settings = dict(step_mul=np.int64(4), move_amount=np.int32(3), reward_scale_rate=np.float32(10.0))
    env = SMACSimulator("3m", seed=0, reward_defeat=-50, reward_only_positive=False, **settings)
    assert (env.step_mul, env.move_amount) == (4, 3.0) and env.reward_cfg["reward_scale_rate"] == 10.0
    env.unit_health[0, :3] = 0.0  # a lost battle: the defeat penalty, scaled
    env.get_avail_actions()
    reward = env.step(B([[0, 0, 0]]))[3]
    assert reward.item() == pytest.approx((-(3 * 45 + 3 * 10) * 0.5 - 50) / (365 / 10))


BAD_SEEDS = [(1.7, 1), (True, 1), (-5, 1), (2**70, 1), (2**32, 1), (2**32 - 1, 2), (2**63 - 1, 2)]


def _seed_message(seed: object, n_envs: int) -> str:
    return rf"^seed={seed!r} must be an integer in \[0, {2**32 - n_envs}\]"


@pytest.mark.parametrize("seed, n_envs", BAD_SEEDS)
def test_seeds_are_unsigned_32_bit_for_every_env(seed, n_envs):
    """Before: 1.7 and True -> 1, -5 accepted, 2**70 an OverflowError, 2**63 - 1 wrapped in env 1, and seeds
    2**32 apart gave identical episodes (the hash keeps 32 bits)."""
    with pytest.raises(ValueError, match=_seed_message(seed, n_envs)):
        SMACSimulator("2m_vs_1z", n_envs=n_envs, seed=seed)
    high = 2**32 - n_envs
    env = SMACSimulator("2m_vs_1z", n_envs=n_envs, seed=np.uint32(high))  # the highest seed, as a numpy int
    assert env.seed_value == high and type(env.seed_value) is int


@pytest.mark.parametrize("seed, n_envs", BAD_SEEDS)
def test_reset_checks_its_seed_like_the_constructor(seed, n_envs):
    env = SMACSimulator("2m_vs_1z", n_envs=n_envs, seed=3)
    with pytest.raises(ValueError, match=_seed_message(seed, n_envs)):
        env.reset(seed=seed)
    env.reset(seed=None)  # keeps the stream
    assert env.seed_value == 3 and env._env_seed.tolist() == [3 + b for b in range(n_envs)]


def test_seed_value_stays_the_seed_of_env_0():
    """reset(env_mask, seed) reseeds env b of the mask with seed + b; seed_value follows only when env 0 is in it."""
    env = SMACSimulator("2m_vs_1z", n_envs=3, seed=10)
    env.reset(B([False, True, True]), seed=50)
    assert env.seed_value == 10 and env._env_seed.tolist() == [10, 51, 52]
    env.reset(B([True, False, False]), seed=70)
    assert env.seed_value == 70 and env._env_seed.tolist() == [70, 51, 52]
    env.reset(seed=90)
    assert env.seed_value == 90 and env._env_seed.tolist() == [90, 91, 92]


def test_check_joint_actions():
    """The one check of joint actions of every env (simulator, SC2 backend, toy env, PA-AD's target actions)."""
    from sb3_marl.envs.base import check_joint_actions

    avail = torch.ones(2, 3, 4, dtype=torch.bool)
    avail[1, 2, 1:] = False  # env 1, agent 2: only action 0
    actions = torch.zeros(2, 3, dtype=torch.long)
    assert check_joint_actions(actions, avail) is actions  # valid int64 actions: the same tensor (no copy)
    for dtype in (torch.int8, torch.uint8, torch.int16, torch.int32):
        checked = check_joint_actions(actions.to(dtype), avail)
        assert checked.dtype == torch.int64 and torch.equal(checked, actions)
    assert torch.equal(check_joint_actions(np.zeros((2, 3), dtype=np.int32), avail), actions)
    assert torch.equal(check_joint_actions([[0, 1, 2], [3, 3, 0]], avail), B([[0, 1, 2], [3, 3, 0]]))
    for bad in (actions.bool(), actions.float(), actions.to(torch.complex64), actions[:1], actions.T):
        with pytest.raises(ValueError, match=r"^actions must be integer action indices of shape \(2, 3\) = "):
            check_joint_actions(bad, avail)
    with pytest.raises(
        ValueError,
        match=r"^env 1, agent 2: action 1 is not available \(available actions: \[0\]; .*"
        r"a model's predict\(\) takes the env's avail_actions",
    ):
        check_joint_actions(B([[0, 0, 0], [0, 0, 1]]), avail)
    # the first bad entry in row-major order, out of range before unavailable
    with pytest.raises(ValueError, match=r"^env 1, agent 0: action 4 is not available: it is not an action index in"):
        check_joint_actions(B([[0, 0, 0], [4, 0, 1]]), avail)
    huge = np.zeros((2, 3), dtype=np.uint64)
    huge[0, 1] = 2**63 + 5  # int64 wraps it to a negative number: named as given
    with pytest.raises(ValueError, match=r"^env 0, agent 1: action 9223372036854775813 is not available: it is not"):
        check_joint_actions(huge, avail)
    stopped = B([False, True])
    with pytest.raises(RuntimeError, match="^env 1 has terminated and was not reset; call reset"):
        check_joint_actions(B([[0, 0, 0], [0, 0, 1]]), avail, stopped=stopped)  # before the (stale) availability
    with pytest.raises(ValueError, match="integer action indices"):
        check_joint_actions(actions.float(), avail, stopped=stopped)  # after the shape and dtype
    with pytest.raises(RuntimeError, match="^Env 1 is done$"):
        check_joint_actions(actions, avail, stopped=stopped, stopped_message="Env {env} is done")
    assert check_joint_actions(actions, avail, stopped=B([False, False])) is actions


@pytest.mark.parametrize("dtype", [torch.bool, torch.complex64, torch.float16])
def test_the_simulator_refuses_non_integer_actions(dtype):
    env = SMACSimulator("3m", n_envs=2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match=rf"^actions must be integer action indices of shape \(2, 3\) .* got {dtype}"):
        env.step(torch.ones(2, 3, dtype=dtype))


def test_sc2_process_settings_are_checked_as_smac_would():
    """difficulty='99' was accepted by the simulator and recorded in the model file, failing only on backend='sc2'."""
    from sb3_marl.envs import make_env
    from sb3_marl.envs.simulator import SMAC_DIFFICULTIES

    with pytest.raises(ValueError, match=r"difficulty='99'; SMAC's difficulties are \['1'"):
        make_env("3m", difficulty="99")
    with pytest.raises(ValueError, match="game_version=5 must be a StarCraft II version string or None"):
        make_env("3m", game_version=5)
    assert make_env("3m", difficulty="A", game_version="4.10").env_kwargs["difficulty"] in SMAC_DIFFICULTIES
    assert make_env("3m", difficulty=7).env_kwargs["difficulty"] == "7"  # as YAML reads difficulty: 7
