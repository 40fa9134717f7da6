"""One-off: in which 2m_vs_1z games a saved QMIX model loses: the zealot's first target, the side it comes from,
which marine dies first. Usage: python analyse_2m.py MODEL.zip [episodes]"""

import sys
from collections import Counter

import torch

from sb3_marl.envs.make_env import make_env
from sb3_marl.qmix import QMIX

torch.set_num_threads(1)
model = QMIX.load(sys.argv[1], device="cpu")
n_episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 256
env = make_env("2m_vs_1z", n_envs=16, seed=5000)
policy = model.policy
policy.eval()
obs, state, avail = env.reset()
hidden = policy.initial_hidden(16)
last = torch.zeros(16, 2, policy.n_actions)
first_target = torch.full((16,), -1)
first_dead = torch.full((16,), -1)
start_x = env.unit_pos[:, 2, 0].clone()
marine_x = env.unit_pos[:, :2, 0].clone()
rows = []
while len(rows) < n_episodes:
    with torch.no_grad():
        q, hidden = policy.q_values(obs, last, hidden)
        actions = policy.select_actions(q, avail, 0.0, None)
    obs, state, avail, reward, terminated, info = env.step(actions)
    last = torch.nn.functional.one_hot(actions, policy.n_actions).float()
    tgt = env._target[:, 2]
    first_target = torch.where((first_target < 0) & (tgt >= 0), tgt, first_target)
    dead = env.unit_health[:, :2] <= 0
    newly = (first_dead < 0) & dead.any(1)
    first_dead = torch.where(newly, dead.float().argmax(1), first_dead)
    for i in terminated.nonzero().flatten().tolist():
        won = bool(info["battle_won"][i])
        rows.append((won, int(first_target[i]), int(first_dead[i]), float(marine_x[i, 0]), float(marine_x[i, 1])))
    if terminated.any():
        keep = ~terminated
        hidden, last = hidden * keep.view(-1, 1, 1), last * keep.view(-1, 1, 1)
        obs, state, avail = env.reset(terminated)
        first_target = torch.where(terminated, -1, first_target)
        first_dead = torch.where(terminated, -1, first_dead)
        marine_x = torch.where(terminated.view(-1, 1), env.unit_pos[:, :2, 0], marine_x)
rows = rows[:n_episodes]
print(sys.argv[1], "win rate", sum(r[0] for r in rows) / len(rows))
by_target = Counter((r[1], r[0]) for r in rows)
for t in (-1, 0, 1):
    won, lost = by_target[(t, True)], by_target[(t, False)]
    if won + lost:
        print(f"  zealot's first target marine {t}: {won + lost} games, won {won} ({won / (won + lost):.2f})")
for t in (0, 1):
    sub = [r for r in rows if r[1] == t]
    east = [r for r in sub if r[3 + t] > 16]  # the chased marine's spawn side
    if sub:
        west = [r for r in sub if r[3 + t] <= 16]
        print(
            f"  chased marine {t} spawned east of x=16: {len(east)} games won {sum(r[0] for r in east)}; "
            f"west: {len(west)} won {sum(r[0] for r in west)}"
        )
print("  first marine to die among lost games:", Counter(r[2] for r in rows if not r[0]))
