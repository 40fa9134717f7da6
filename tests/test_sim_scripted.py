"""Scripted-policy sanity of the simulator's combat: win rates over batched episodes with fixed seeds.

The scripts read the simulator's unit tensors directly (positions, the zealot's current target); they are
test probes, not agents.
"""

import torch

from sb3_marl.envs import SMACSimulator

N_EPISODES = 32


def _finish(avail, actions):
    """Dead agents must no-op."""
    return torch.where(avail[..., 0], 0, actions)


def _attack_else(avail, pick, fallback):
    attackable = avail[..., 6:]
    return _finish(avail, torch.where(attackable.any(-1), pick(attackable) + 6, fallback))


def do_nothing(env, avail):
    return _finish(avail, torch.ones_like(avail[..., 0], dtype=torch.long))


def focus_fire(env, avail):
    """Everybody shoots the lowest-index enemy in range; otherwise walk east toward the enemy."""
    return _attack_else(avail, lambda att: att.float().argmax(-1), torch.where(avail[..., 4], 4, 1))


def spread_fire(env, avail):
    """Agent i shoots the (i mod k)-th of the k enemies in range; otherwise walk east."""
    agent = torch.arange(env.n_agents)

    def pick(att):
        rank = att.long().cumsum(-1) - 1
        wanted = agent % att.sum(-1).clamp(min=1)
        return ((rank == wanted.unsqueeze(-1)) & att).float().argmax(-1)

    return _attack_else(avail, pick, torch.where(avail[..., 4], 4, 1))


def stand_and_shoot(env, avail):
    return _attack_else(avail, lambda att: att.float().argmax(-1), torch.ones_like(avail[..., 0], dtype=torch.long))


def _best_move(env, avail, score_fn):
    """The available move (2-5) whose 2-cell step maximises ``score_fn(new positions [B, N, 4, 2])``."""
    new = env.unit_pos[:, : env.n_agents].unsqueeze(2) + 2 * env._moves
    return score_fn(new).masked_fill(~avail[..., 2:6], -1e9).argmax(-1) + 2


def kite(env, avail):
    """2m_vs_1z: the marine the zealot chases runs (away from it, mildly toward the centre); the other shoots."""
    n = env.n_agents
    zealot = env.unit_pos[:, n]
    centre = torch.tensor([16.0, 16.0])
    dist = (env.unit_pos[:, :n] - zealot.unsqueeze(1)).norm(dim=-1)
    chased = (env._target[:, n].unsqueeze(-1) == torch.arange(n)) & (dist < 4.0)
    flee = _best_move(
        env, avail, lambda new: (new - zealot[:, None, None]).norm(dim=-1) - 0.2 * (new - centre).norm(dim=-1)
    )
    approach = _best_move(env, avail, lambda new: -(new - zealot[:, None, None]).norm(dim=-1))
    shoot = torch.where(avail[..., 6], 6, approach)
    return _finish(avail, torch.where(chased, flee, shoot))


def evaluate(map_name, policy, seed=0):
    """Win rate and mean return of ``policy`` over N_EPISODES batched episodes (one per env)."""
    env = SMACSimulator(map_name, n_envs=N_EPISODES, seed=seed)
    _, _, avail = env.reset()
    done = torch.zeros(N_EPISODES, dtype=torch.bool)
    won = torch.zeros(N_EPISODES, dtype=torch.bool)
    returns = torch.zeros(N_EPISODES)
    while not done.all():
        _, _, avail, reward, terminated, info = env.step(policy(env, avail))
        returns += reward * ~done
        won |= info["battle_won"] & ~done
        done |= terminated
        env.reset(terminated)  # finished envs restart; their new episodes are not counted
        avail = env.get_avail_actions()
    return won.float().mean().item(), returns.mean().item(), returns[won]


def test_doing_nothing_loses():
    win_rate, mean_return, _ = evaluate("3m", do_nothing)
    assert win_rate == 0.0 and mean_return == 0.0


def test_focus_fire_beats_spreading_fire_on_3m():
    focus_win, focus_return, won_returns = evaluate("3m", focus_fire)
    spread_win, spread_return, _ = evaluate("3m", spread_fire)
    assert focus_return > spread_return and focus_win > spread_win
    # with the default reward, every won episode on 3m (no shields, no healing) returns exactly 20
    assert len(won_returns) > 0 and torch.allclose(won_returns, torch.full_like(won_returns, 20.0), atol=1e-4)


def test_kiting_beats_standing_against_the_zealot():
    stand_win, stand_return, _ = evaluate("2m_vs_1z", stand_and_shoot)
    kite_win, kite_return, _ = evaluate("2m_vs_1z", kite)
    assert stand_win <= 0.1 < 0.9 <= kite_win
    assert kite_return > stand_return + 5.0
