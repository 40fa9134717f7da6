"""One-off look at what a model does on 2s3z: one greedy episode (env seed 123) of a vanilla QMIX file and of a
RegularizedQMIX file, the count of each action and the first twelve steps' joint actions.

    python trial_regularized_2s3z_actions.py VANILLA.zip REGULARIZED.zip
"""

import collections
import sys

import numpy as np
import torch

from sb3_marl.envs.make_env import make_env
from sb3_marl.qmix import QMIX
from sb3_marl.robust import RegularizedQMIX

torch.set_num_threads(2)
NAMES = ["noop", "stop", "N", "S", "E", "W"] + [f"atk{j}" for j in range(5)]
for path, cls in ((sys.argv[1], QMIX), (sys.argv[2], RegularizedQMIX)):
    m = cls.load(path, device="cpu")
    env = make_env("2s3z", n_envs=1, seed=123)
    obs, state, avail = env.reset()
    counts = collections.Counter()
    hidden, start = None, np.ones(1, bool)
    first = []
    for t in range(120):
        actions, hidden = m.predict(obs.numpy(), state=hidden, episode_start=start, avail_actions=avail.numpy())
        start = np.zeros(1, bool)
        a = np.asarray(actions)
        counts.update(NAMES[x] for x in a.ravel())
        if t < 12:
            first.append(" ".join(NAMES[x] for x in a[0]))
        obs, state, avail, reward, done, info = env.step(torch.as_tensor(a))
        if done[0]:
            print("ended at", t, "won", bool(info["battle_won"][0]))
            break
    print(cls.__name__, path, dict(counts.most_common()))
    print("  first steps:", " | ".join(first))
