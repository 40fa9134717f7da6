"""Symmetries of the game applied to sampled episodes (data augmentation of the replay batches).

Two allies of the same unit type are the same unit in SC2: swapping their agent ids (and every per-agent entry of
the stored episode with them) gives an episode of the same game. With shared agent weights and an agent-id input,
the network otherwise learns each id's role from that id's own experience only: on 2m_vs_1z the zealot chases one
marine or the other, and a policy can kite well with one id and badly with the other (benchmarks/README.md, ninth
session). :class:`AgentPermutation` draws one permutation per sampled episode within each unit type and applies it
to the agent axis of the observations, actions and available actions, to the ally blocks inside every observation
(each agent lists its allies in id order, itself left out), and to the ally and last-action blocks of the state.
Enemy blocks, rewards and masks are unchanged. :class:`MirrorFlip` mirrors episodes of a map that is symmetric about
its vertical centre line (2m_vs_1z, where the zealot's chase of the left marine and of the right one are mirror
images of each other).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sb3_marl.envs.layout import N_ACTIONS_MOVE, N_ACTIONS_NO_ATTACK, ObsLayout
from sb3_marl.envs.maps import MAP_SIZE, MapParams, pathing_grid, spawn_layout
from sb3_marl.envs.units import unit_stats

#: per-step fields laid out as one observation per agent, [B, T+1, N, O] (``obs_perturbed``: robust variants)
OBSERVATION_FIELDS = ("obs", "obs_perturbed")
#: action ids of the moves east and west (SMAC: no-op, stop, north, south, east, west, then the attacks)
MOVE_EAST, MOVE_WEST = 4, 5


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
        layout = env_layout(env, "agent_permutation")
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
        start, width = layout.obs_ally_start, layout.ally_feats
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
            blocks.append((layout.state_enemy_end, layout.n_actions))
        for start, width in blocks:
            moved = start + perm.unsqueeze(-1) * width + torch.arange(width, device=device)  # [B, N, width]
            index[:, start : start + n * width] = moved.flatten(1)
        return index

    def __call__(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A copy of ``batch`` (episodes [B, T+1, ...] on ``generator``'s device) with each episode's agents relabelled
        at random."""
        perm = self.sample(batch["state"].shape[0], generator)
        return transform_episodes(
            batch, agent_index=perm, obs_index=self.observation_index(perm), state_index=self.state_index(perm)
        )


class MirrorFlip:
    """Mirror image of half the sampled episodes about the vertical axis through the map's centre.

    On a map whose walkable area and enemy orders are symmetric about ``x = 16`` (2m_vs_1z), the mirror image of an
    episode is an episode of the same game: every x offset changes sign, and east and west swap in the actions, the
    available actions, the observed move directions and the last actions. Each sampled episode is flipped with
    probability 1/2.

    :param layout: the env's observation and state layout (without the pathing-grid or terrain-height features).
    """

    def __init__(self, layout: ObsLayout) -> None:
        params, flags = layout.params, layout.flags
        if flags.obs_instead_of_state or flags.obs_pathing_grid or flags.obs_terrain_height:
            raise ValueError(
                "mirror_augmentation does not support obs_instead_of_state, obs_pathing_grid or obs_terrain_height"
            )
        if not map_is_mirror_symmetric(params):
            raise ValueError(
                f"mirror_augmentation needs a map symmetric about x = {MAP_SIZE // 2} (terrain and enemy orders); "
                f"{params.name} is not"
            )
        self.layout = layout
        n, n_actions = params.n_agents, layout.n_actions
        swap = torch.arange(n_actions)
        swap[[MOVE_EAST, MOVE_WEST]] = torch.tensor([MOVE_WEST, MOVE_EAST])
        # Each table has two rows, indexed by an episode's flip: row 0 leaves the episode as it is, row 1 mirrors it.
        #: action (and available-action column) ``a`` of the mirror image is action ``action_index[1, a]``
        self.action_index = torch.stack([torch.arange(n_actions), swap])
        #: observation feature ``f`` of the mirror image is feature ``obs_index[1, f]`` times ``obs_sign[1, f]``
        self.obs_index, self.obs_sign = torch.arange(layout.obs_len).repeat(2, 1), torch.ones(2, layout.obs_len)
        # the move features are the availability of the moves north, south, east, west (actions 2-5)
        east = MOVE_EAST - (N_ACTIONS_NO_ATTACK - N_ACTIONS_MOVE)
        self.obs_index[1, [east, east + 1]] = torch.tensor([east + 1, east])
        start = layout.move_feats
        for _ in range(params.n_enemies):  # enemy block: attackable, distance, dx, dy, ...
            self.obs_sign[1, start + 2] = -1.0
            start += layout.enemy_feats
        for _ in range(n - 1):  # ally block: visible, distance, dx, dy, ..., last action
            self.obs_sign[1, start + 2] = -1.0
            if flags.obs_last_action:
                last = start + layout.ally_feats - n_actions
                self.obs_index[1, last : last + n_actions] = last + swap
            start += layout.ally_feats
        #: state entry ``s`` of the mirror image is entry ``state_index[1, s]`` times ``state_sign[1, s]``
        self.state_index, self.state_sign = torch.arange(layout.state_len).repeat(2, 1), torch.ones(2, layout.state_len)
        # rel_x is entry 2 of each ally block (health, cooldown, rel_x, rel_y, ...), 1 of each enemy block (health,
        # rel_x, rel_y, ...)
        enemies_start, enemies_end = layout.state_enemy_start, layout.state_enemy_end
        self.state_sign[1, 2 : enemies_start : layout.state_ally_feats] = -1.0
        self.state_sign[1, enemies_start + 1 : enemies_end : layout.state_enemy_feats] = -1.0
        if flags.state_last_action:
            for agent in range(n):
                last = enemies_end + agent * n_actions
                self.state_index[1, last : last + n_actions] = last + swap

    @classmethod
    def for_env(cls, env: object) -> MirrorFlip:
        """The mirror of a simulator or SC2 env's episodes (both expose ``layout``)."""
        return cls(env_layout(env, "mirror_augmentation"))

    def __call__(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A copy of ``batch`` (episodes [B, T+1, ...] on ``generator``'s device) with half its episodes, drawn at
        random, replaced by their mirror images."""
        device = generator.device
        flip = (torch.rand(batch["state"].shape[0], device=device, generator=generator) < 0.5).long()
        return transform_episodes(
            batch,
            obs_index=self.obs_index.to(device)[flip].unsqueeze(1),
            obs_sign=self.obs_sign.to(device)[flip].unsqueeze(1),
            state_index=self.state_index.to(device)[flip],
            state_sign=self.state_sign.to(device)[flip],
            action_index=self.action_index.to(device)[flip],
        )


#: setting name of the algorithms -> the augmentation it turns on, in the order they are applied
AUGMENTATIONS: dict[str, type[AgentPermutation] | type[MirrorFlip]] = {
    "agent_permutation": AgentPermutation,
    "mirror_augmentation": MirrorFlip,
}


def allowed_augmentations(env: object) -> list[str]:
    """The settings of :data:`AUGMENTATIONS` that ``env`` (its map and observation flags) allows: those whose
    augmentation's ``for_env`` does not refuse it."""
    allowed = []
    for name, augmentation in AUGMENTATIONS.items():
        try:
            augmentation.for_env(env)
        except ValueError:
            continue
        allowed.append(name)
    return allowed


def map_is_mirror_symmetric(params: MapParams) -> bool:
    """Whether map ``params``'s walkable cells and enemy orders are symmetric about ``x = MAP_SIZE / 2``."""
    grid = pathing_grid(params.grid)  # indexed [x, y]
    if not np.array_equal(grid, grid[::-1]):
        return False
    if params.attack in ("point", "segment"):  # the enemies attack-move to these points (or the segment between)
        return {(MAP_SIZE - x, y) for x, y in params.attack_points} == set(params.attack_points)
    return True  # toward the allies, or standing still


def env_layout(env: object, option: str) -> ObsLayout:
    """The observation layout of a simulator or SC2 env (``env.layout``), or a ValueError naming ``option``."""
    layout = getattr(env, "layout", None)
    if not isinstance(layout, ObsLayout):
        raise ValueError(f"{option} needs a SMAC env whose observation layout is known (`layout`); got {type(env)}")
    return layout


def transform_episodes(
    batch: dict[str, torch.Tensor],
    agent_index: torch.Tensor | None = None,
    obs_index: torch.Tensor | None = None,
    obs_sign: torch.Tensor | None = None,
    state_index: torch.Tensor | None = None,
    state_sign: torch.Tensor | None = None,
    action_index: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """A copy of ``batch`` (episodes [B, T+1, ...]) with its per-agent, observation, state and action entries moved
    (None: unchanged). New entries are gathered from old ones, per episode ``b``:

    :param agent_index: int64[B, N]: new agent ``j`` takes the entries of old agent ``agent_index[b, j]``.
    :param obs_index: int64[B, N or 1, O]: observation feature ``f`` of (new) agent ``j`` is its old feature
        ``obs_index[b, j, f]``, times ``obs_sign[b, j, f]`` (float, same shape) when given.
    :param state_index: int64[B, S]: state entry ``s`` is old entry ``state_index[b, s]``, times ``state_sign``.
    :param action_index: int64[B, A], an involution: action ``a`` becomes ``action_index[b, a]``, and the available
        action column ``a`` is the old column ``action_index[b, a]``.
    """
    state = batch["state"]
    episodes, steps = state.shape[:2]
    n_agents, device = batch["actions"].shape[2], state.device
    if agent_index is None:
        agent_index = torch.arange(n_agents, device=device).expand(episodes, -1)

    def gather_agents(value: torch.Tensor, inner: torch.Tensor | None) -> torch.Tensor:
        """``value`` [B, T+1, N, W] with new agent ``j``'s entry ``w`` taken from old agent ``agent_index[b, j]``'s
        entry ``inner[b, j, w]`` (``inner`` [B, N or 1, W]; None: ``w``), in one gather over the agents' entries."""
        width = value.shape[-1]
        if inner is None:
            inner = torch.arange(width, device=device).view(1, 1, -1)
        flat = (agent_index.unsqueeze(-1) * width + inner.expand(episodes, n_agents, width)).flatten(1)
        return value.flatten(2).gather(2, flat.unsqueeze(1).expand(-1, steps, -1)).view(value.shape)

    out = dict(batch)
    for key in OBSERVATION_FIELDS:
        if key in batch:
            out[key] = gather_agents(batch[key], obs_index)
            if obs_sign is not None:
                out[key] = out[key] * obs_sign.unsqueeze(1)
    actions = gather_agents(batch["actions"].unsqueeze(-1), None).squeeze(-1)
    if action_index is not None:
        actions = action_index.gather(1, actions.flatten(1)).view_as(actions)
    out["actions"] = actions
    columns = None if action_index is None else action_index.unsqueeze(1)
    out["avail_actions"] = gather_agents(batch["avail_actions"], columns)
    if state_index is not None:
        out["state"] = state.gather(2, state_index.unsqueeze(1).expand(-1, steps, -1))
        if state_sign is not None:
            out["state"] = out["state"] * state_sign.unsqueeze(1)
    return out
