"""One-off trial: 2m_vs_1z in a canonical mirror frame. From the first step on, each episode whose zealot heads west of
x = 16 is shown to the agents as its mirror image (map mirrored about x = 16, marines' ids swapped: the game's
symmetry that maps a start onto a start), so the agents only ever see the zealot heading east; their actions are
mapped back before the env steps. Needs MirrorSymmetry of the trial branch (commit 5dca74e, not merged). The frame
is decided on the state after step 0 (the zealot's x offset from the centre, which each marine can also read from
its own observation: zealot dx minus half the ally's dx); step 0's inputs are the same in both frames (the start is
symmetric).
Run from benchmarks/: python bench_canon.py <bench_qmix args>"""

import importlib
import runpy
import sys

import torch

from sb3_marl.common.augmentation import AgentPermutation, MirrorFlip, MirrorSymmetry
from sb3_marl.envs.base import BatchedMultiAgentEnv

make_env_module = importlib.import_module("sb3_marl.envs.make_env")
_original_make_env = make_env_module.make_env


class CanonicalMirror(BatchedMultiAgentEnv):
    def __init__(self, env):
        self.env = env
        layout = env.layout
        sym = MirrorSymmetry.for_env(env)
        self.agent_index, self.obs_index, self.obs_sign, self.action_index = (
            sym.agent_index,
            sym.obs_index,
            sym.obs_sign,
            sym.action_index,
        )
        mirror = MirrorFlip(layout)
        relabel = AgentPermutation(layout, ["marine", "marine"]).state_index(sym.agent_index.view(1, -1))[0]
        # state: relabel then mirror
        self.state_index = relabel[mirror.state_index[1]]
        self.state_sign = mirror.state_sign[1]
        self.zealot_x = layout.state_enemy_start + 1  # enemy block: health, rel_x, rel_y, ...
        self.flip = torch.zeros(env.n_envs, dtype=torch.bool)
        self.steps = torch.zeros(env.n_envs, dtype=torch.long)

    def __getattr__(self, name):
        return getattr(self.__dict__["env"], name)

    def _canon(self, obs, state, avail):
        f = self.flip
        if f.any():
            obs, state, avail = obs.clone(), state.clone(), avail.clone()
            obs[f] = obs[f].flatten(-2)[..., self.obs_index] * self.obs_sign
            state[f] = state[f][..., self.state_index] * self.state_sign
            avail[f] = avail[f][..., self.agent_index, :][..., self.action_index]
        return obs, state, avail

    def reset(self, env_mask=None, seed=None):
        out = self.env.reset(env_mask, seed=seed) if seed is not None else self.env.reset(env_mask)
        mask = torch.ones(self.env.n_envs, dtype=torch.bool) if env_mask is None else env_mask.bool().cpu()
        self.flip[mask] = False
        self.steps[mask] = 0
        return self._canon(*out)

    def step(self, actions):
        f = self.flip.to(actions.device)
        mapped = self.action_index.to(actions.device)[actions[:, self.agent_index]]
        env_actions = torch.where(f.view(-1, 1), mapped, actions)
        obs, state, avail, reward, terminated, info = self.env.step(env_actions)
        self.steps += 1
        first = self.steps == 1
        if first.any():
            self.flip = torch.where(first, state[:, self.zealot_x].cpu() < 0, self.flip)
        obs, state, avail = self._canon(obs, state, avail)
        return obs, state, avail, reward, terminated, info

    def get_stats(self):
        return self.env.get_stats()

    def close(self):
        self.env.close()


def make_env(*args, **kwargs):
    return CanonicalMirror(_original_make_env(*args, **kwargs))


make_env_module.make_env = make_env
sys.argv = ["bench_qmix.py"] + sys.argv[1:]
runpy.run_path("bench_qmix.py", run_name="__main__")
