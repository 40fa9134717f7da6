"""Train QMIX on 2m_vs_1z (built-in simulator, yml settings) and, before every rollout from a given step on, test
the online network and the target network greedily on the same 32 episodes (envs seeded ``seed + 1000``).

Shows how much the greedy policy changes from one rollout to the next late in training.

    PYTHONPATH=. python late_rollouts_probe.py SEED FIRST_STEP [-params key:value ...]  # e.g. 0 120000
"""

import argparse
import time

import torch
from stable_baselines3.common.callbacks import BaseCallback

from sb3_marl import QMIX
from sb3_marl.common.evaluation import evaluate_policy
from sb3_marl.envs import make_env
from zoo.utils import StoreDict, hyperparams_entry, parse_schedule

MAP = "2m_vs_1z"
N_EPISODES = 32


def test(model: QMIX, seed: int, network: str) -> float:
    """Greedy win rate of the ``"online"`` or ``"target"`` agent network on the fixed test episodes."""
    agent = model.policy.agent
    online = {name: value.clone() for name, value in agent.state_dict().items()}
    if network == "target":
        agent.load_state_dict(model.policy.agent_target.state_dict())
    try:
        win_rate, _, _ = evaluate_policy(model, make_env(MAP, n_envs=N_EPISODES, seed=seed + 1000), N_EPISODES)
    finally:
        agent.load_state_dict(online)
    return win_rate


class Probe(BaseCallback):
    """Print both win rates before each rollout once ``first_step`` env steps are done."""

    def __init__(self, seed: int, first_step: int) -> None:
        super().__init__()
        self.seed, self.first_step = seed, first_step

    def _on_rollout_start(self) -> None:
        if self.num_timesteps >= self.first_step:
            model = self.model
            print(
                f"step {self.num_timesteps} updates {model._n_updates} online {test(model, self.seed, 'online'):.3f} "
                f"target {test(model, self.seed, 'target'):.3f}",
                flush=True,
            )

    def _on_step(self) -> bool:
        return True


def main(seed: int, first_step: int, overrides: dict) -> None:
    torch.set_num_threads(1)
    entry = {**hyperparams_entry("qmix", MAP), **overrides}
    skip = ("n_timesteps", "n_envs", "env_kwargs")
    kwargs = {key: parse_schedule(key, value) for key, value in entry.items() if key not in skip}
    env = make_env(MAP, n_envs=entry["n_envs"], seed=seed, compile=True)
    model = QMIX(env, seed=seed, device="cpu", **kwargs)
    start = time.perf_counter()
    model.learn(int(entry["n_timesteps"]), callback=Probe(seed, first_step))
    print(
        f"final step {model.num_timesteps} online {test(model, seed, 'online'):.3f} "
        f"target {test(model, seed, 'target'):.3f} wall {time.perf_counter() - start:.0f}s",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seed", type=int)
    parser.add_argument("first_step", type=int, help="env steps before the first probe")
    parser.add_argument("-params", "--hyperparams", nargs="+", action=StoreDict, default={}, help="yml overrides")
    args = parser.parse_args()
    main(args.seed, args.first_step, args.hyperparams)
