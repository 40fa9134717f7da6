"""One-off trial: 2m_vs_1z with the two symmetries coupled. The yml draws the agent swap and the mirror image
independently (a half each), so half the augmented episodes put each marine id at the other's spawn, which the game
never does (marine 0 always starts at (13, 12), marine 1 at (19, 12)); only swap + mirror together maps a start onto a
start. Here one coin per sampled episode applies both or neither.
Run from benchmarks/: python bench_coupled.py <bench_qmix args>"""

import runpy
import sys

import torch

from sb3_marl.common import augmentation as aug

_shared: dict[str, torch.Tensor] = {}


def coupled_sample(self, n_episodes: int, generator: torch.Generator) -> torch.Tensor:
    device = generator.device
    flip = torch.rand(n_episodes, device=device, generator=generator) < 0.5
    _shared["flip"] = flip.long()
    perm = torch.arange(self.layout.params.n_agents, device=device).repeat(n_episodes, 1)
    (group,) = self.groups
    ids = torch.tensor(group, device=device)
    perm[flip.nonzero().view(-1, 1), ids] = ids.flip(0)
    return perm


def coupled_mirror(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    device = generator.device
    flip = _shared.pop("flip")
    return aug.transform_episodes(
        batch,
        obs_index=self.obs_index.to(device)[flip].unsqueeze(1),
        obs_sign=self.obs_sign.to(device)[flip].unsqueeze(1),
        state_index=self.state_index.to(device)[flip],
        state_sign=self.state_sign.to(device)[flip],
        action_index=self.action_index.to(device)[flip],
    )


aug.AgentPermutation.sample = coupled_sample
aug.MirrorFlip.__call__ = coupled_mirror
print("coupled symmetries: agent swap and mirror image together on one coin per episode", flush=True)
if __name__ == "__main__":
    sys.argv = ["bench_qmix.py", *sys.argv[1:]]
    runpy.run_path("bench_qmix.py", run_name="__main__")
