"""Relabelling interchangeable agents of sampled episodes (data augmentation of the replay batches).

Two allies of the same unit type are the same unit in SC2: swapping their agent ids (and every per-agent entry of
the stored episode with them) gives an episode of the same game. With shared agent weights and an agent-id input,
the network otherwise learns each id's role from that id's own experience only: on 2m_vs_1z the zealot chases one
marine or the other, and a policy can kite well with one id and badly with the other (benchmarks/README.md, ninth
session). :class:`AgentPermutation` draws one permutation per sampled episode within each unit type and applies it
to the agent axis of the observations, actions and available actions, to the ally blocks inside every observation
(each agent lists its allies in id order, itself left out), and to the ally and last-action blocks of the state.
Enemy blocks, rewards and masks are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sb3_marl.envs.layout import ObsLayout
from sb3_marl.envs.maps import spawn_layout
from sb3_marl.envs.units import unit_stats

#: per-step fields laid out as one observation per agent, [B, T+1, N, O]
OBSERVATION_FIELDS = ("obs", "obs_perturbed")
#: per-step fields with an agent axis and no ally features, [B, T+1, N, ...]
AGENT_FIELDS = ("actions", "avail_actions")


class AgentPermutation:
    """Random relabelling of same-type agents in batches of episodes (see the module docstring).

    :param layout: the env's observation and state layout.
    :param ally_units: the unit type of each agent, in agent-id order.
    """

    def __init__(self, layout: ObsLayout, ally_units: Sequence[str]) -> None:
        name, n = layout.params.name, layout.params.n_agents
        if len(ally_units) != n:
            raise ValueError(f"{len(ally_units)} ally unit types given for the {n} agents of {name}")
        if layout.flags.obs_instead_of_state:
            raise ValueError("agent_permutation does not support obs_instead_of_state=True (the state is then obs)")
        healers = sorted({unit for unit in ally_units if unit_stats(unit, True).is_healer})
        if healers:
            raise ValueError(
                f"agent_permutation cannot relabel agents on {name}: the actions of its {healers} target allies by id"
            )
        self.layout = layout
        #: agent ids of each unit type that has more than one agent
        self.groups = [
            group
            for unit in dict.fromkeys(ally_units)
            if len(group := [i for i, u in enumerate(ally_units) if u == unit]) > 1
        ]
        if not self.groups:
            raise ValueError(f"agent_permutation needs two agents of one unit type; {name} has {list(ally_units)}")

    @classmethod
    def for_env(cls, env: object) -> AgentPermutation:
        """The permutation for a simulator or SC2 env (both expose ``layout``; agents are in SMAC's id order)."""
        layout = getattr(env, "layout", None)
        if not isinstance(layout, ObsLayout):
            raise ValueError(
                f"agent_permutation needs a SMAC env whose observation layout is known (`layout`); got {type(env)}"
            )
        return cls(layout, spawn_layout(layout.params.name).ally_units)

    def sample(self, n_episodes: int, generator: torch.Generator) -> torch.Tensor:
        """int64[n_episodes, N] on the generator's device: for each episode, the old agent id that each new id takes
        its data from (uniform over the permutations within unit types)."""
        device = generator.device
        perm = torch.arange(self.layout.params.n_agents, device=device).repeat(n_episodes, 1)
        for group in self.groups:
            ids = torch.tensor(group, device=device)
            order = torch.rand(n_episodes, len(group), device=device, generator=generator).argsort(dim=1)
            perm[:, ids] = ids[order]
        return perm

    def observation_index(self, perm: torch.Tensor) -> torch.Tensor:
        """int64[B, N, O]: feature ``f`` of new agent ``j``'s observation is feature ``index[b, j, f]`` of the old
        agent ``perm[b, j]``'s observation (only the ally blocks move)."""
        layout, n, device = self.layout, self.layout.params.n_agents, perm.device
        index = torch.arange(layout.obs_len, device=device).repeat(perm.shape[0], n, 1)
        # new agent j lists its allies k != j in increasing order: the r-th is k = r + (r >= j)
        rank = torch.arange(n - 1, device=device).view(1, -1)
        allies_new = rank + (rank >= torch.arange(n, device=device).view(-1, 1)).long()  # [N, N-1]
        allies_old = perm[:, allies_new]  # [B, N, N-1]: old id of each listed ally
        own_old = perm.unsqueeze(-1)  # [B, N, 1]
        position = allies_old - (allies_old > own_old).long()  # where that ally's block sits in the old observation
        start = layout.move_feats + layout.params.n_enemies * layout.enemy_feats
        width = layout.ally_feats
        features = start + position.unsqueeze(-1) * width + torch.arange(width, device=device)  # [B, N, N-1, width]
        index[:, :, start : start + (n - 1) * width] = features.flatten(2)
        return index

    def state_index(self, perm: torch.Tensor) -> torch.Tensor:
        """int64[B, S]: entry ``s`` of the new state is entry ``index[b, s]`` of the old one (the ally blocks and the
        last-action blocks follow the agents)."""
        layout, n, device = self.layout, self.layout.params.n_agents, perm.device
        index = torch.arange(layout.state_len, device=device).repeat(perm.shape[0], 1)
        blocks = [(0, layout.state_ally_feats)]
        if layout.flags.state_last_action:
            last_action_start = n * layout.state_ally_feats + layout.params.n_enemies * layout.state_enemy_feats
            blocks.append((last_action_start, layout.n_actions))
        for start, width in blocks:
            moved = start + perm.unsqueeze(-1) * width + torch.arange(width, device=device)  # [B, N, width]
            index[:, start : start + n * width] = moved.flatten(1)
        return index

    def __call__(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A copy of ``batch`` (episodes [B, T+1, ...] on ``generator``'s device) with each episode's agents relabelled
        at random."""
        state = batch["state"]
        perm = self.sample(state.shape[0], generator)
        obs_index, state_index = self.observation_index(perm), self.state_index(perm)
        steps = state.shape[1]
        out = dict(batch)
        for key in (*OBSERVATION_FIELDS, *AGENT_FIELDS):
            if key not in batch:
                continue
            value = batch[key]
            agents = perm.view(perm.shape[0], 1, -1, *([1] * (value.dim() - 3)))
            value = value.gather(2, agents.expand(-1, steps, -1, *value.shape[3:]))
            if key in OBSERVATION_FIELDS:
                value = value.gather(3, obs_index.unsqueeze(1).expand(-1, steps, -1, -1))
            out[key] = value
        out["state"] = state.gather(2, state_index.unsqueeze(1).expand(-1, steps, -1))
        return out
