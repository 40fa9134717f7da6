"""Play a saved QMIX on 2m_vs_1z (built-in simulator, 32 greedy episodes on envs seeded 1000-1031) and print the
win rate, mean return and length; the step at which the first marine died in each episode (-1: none died); the
zealot's lowest life + shield in each episode; then the first 70 steps of env 0 (positions, life, the zealot's
shield, the zealot's target, the agents' actions).

    python failing_policy_trace.py <model.zip>
"""

import sys

import torch

from sb3_marl import QMIX
from sb3_marl.envs import SMACSimulator

N_EPISODES = 32


def main(model_path: str) -> None:
    torch.set_num_threads(1)
    model = QMIX.load(model_path, device="cpu")
    env = SMACSimulator("2m_vs_1z", n_envs=N_EPISODES, seed=1000)
    obs, _, avail = env.reset()
    done = torch.zeros(N_EPISODES, dtype=torch.bool)
    won = torch.zeros(N_EPISODES, dtype=torch.bool)
    returns, lengths = torch.zeros(N_EPISODES), torch.zeros(N_EPISODES)
    first_death = torch.full((N_EPISODES,), -1)
    zealot_lowest = torch.full((N_EPISODES,), float("inf"))
    recurrent, trace = None, []
    for t in range(env.episode_limit):
        actions, recurrent = model.predict(obs, recurrent, avail_actions=avail)
        actions = torch.as_tensor(actions)
        trace.append(
            (
                t,
                env.unit_pos[0].tolist(),
                env.unit_health[0].tolist(),
                env.unit_shield[0, 2].item(),
                env._target[0, 2].item(),
                actions[0].tolist(),
            )
        )
        obs, _, avail, reward, terminated, info = env.step(actions)
        marines_alive = (env.unit_health[:, :2] > 0).sum(1)
        first_death = torch.where((first_death < 0) & (marines_alive < 2) & ~done, t, first_death)
        zealot = env.unit_health[:, 2] + env.unit_shield[:, 2]
        zealot_lowest = torch.where(done, zealot_lowest, torch.minimum(zealot_lowest, zealot))
        returns += reward * ~done
        lengths += ~done
        won |= info["battle_won"] & ~done
        done |= terminated
        if done.all():
            break
        env.reset(terminated)  # finished envs restart; their new episodes are not counted
        obs, avail = env.get_obs(), env.get_avail_actions()
    print(f"win rate {won.float().mean():.3f}, return {returns.mean():.2f}, length {lengths.mean():.1f}")
    print("first marine death step", first_death.tolist())
    print("zealot lowest life + shield", [round(x) for x in zealot_lowest.tolist()])
    for t, pos, life, shield, target, acted in trace[:70]:
        print(
            t,
            [tuple(round(v, 1) for v in p) for p in pos],
            [round(v) for v in life],
            round(shield),
            "zealot target",
            target,
            "actions",
            acted,
        )


if __name__ == "__main__":
    main(sys.argv[1])
