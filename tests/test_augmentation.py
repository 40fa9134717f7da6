"""Symmetries applied to sampled episodes: agent relabelling and mirror images (sb3_marl.common.augmentation)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sb3_marl.common.augmentation import AgentPermutation, MirrorFlip
from sb3_marl.common.toy_env import CueMatchingEnv
from sb3_marl.envs.layout import LayoutFlags, ObsLayout
from sb3_marl.envs.make_env import make_env
from sb3_marl.envs.maps import get_map_params
from sb3_marl.qmix import QMIX


def collected_batch(map_name: str, **env_kwargs: bool) -> tuple[dict[str, torch.Tensor], ObsLayout]:
    """Four random-play episodes of ``map_name`` as the replay buffer samples them, and the env's layout."""
    env = make_env(map_name, n_envs=4, seed=3, **env_kwargs)
    model = QMIX(env, learning_starts=10**9, batch_size=4, buffer_size=8, seed=0)
    model.learn(total_timesteps=4 * env.episode_limit)
    return model.replay_buffer.sample(4, model._generator), env.layout


def ally_block(obs: torch.Tensor, layout: ObsLayout, viewer: int, other: int) -> torch.Tensor:
    """Agent ``viewer``'s features of ally ``other`` in observations [..., N, O]."""
    start = layout.move_feats + layout.params.n_enemies * layout.enemy_feats
    position = other - int(other > viewer)
    return obs[..., viewer, start + position * layout.ally_feats : start + (position + 1) * layout.ally_feats]


def check_episode_invariants(batch: dict[str, torch.Tensor], layout: ObsLayout) -> None:
    """What every simulator episode satisfies, across fields: the observed move directions are the available moves,
    the state's last actions are the actions taken, and each observed offset to a unit is its state position minus the
    observer's (SMAC scales offsets by the sight range 9 and state positions by the map size 32)."""
    n, n_enemies = layout.params.n_agents, layout.params.n_enemies
    filled, obs, state, avail = batch["filled"], batch["obs"], batch["state"], batch["avail_actions"]
    alive = filled.unsqueeze(-1) & ~avail[..., 0]  # a living agent cannot choose the no-op
    assert torch.equal(obs[..., :4][alive], avail[..., 2:6][alive].float())
    if layout.flags.state_last_action:
        last_start = n * layout.state_ally_feats + n_enemies * layout.state_enemy_feats
        last = state[:, 1:, last_start : last_start + n * layout.n_actions].unflatten(-1, (n, layout.n_actions))
        taken = torch.nn.functional.one_hot(batch["actions"][:, :-1], layout.n_actions).float()
        assert torch.equal(last[filled[:, 1:]], taken[filled[:, 1:]])
    ally_xy = state[..., : n * layout.state_ally_feats].unflatten(-1, (n, -1))[..., 2:4] * 32
    enemy_end = n * layout.state_ally_feats + n_enemies * layout.state_enemy_feats
    enemy_xy = state[..., n * layout.state_ally_feats : enemy_end].unflatten(-1, (n_enemies, -1))[..., 1:3] * 32
    enemy_start = layout.move_feats
    enemies_checked = allies_checked = 0
    for j in range(n):
        for e in range(n_enemies):
            block = obs[..., j, enemy_start + e * layout.enemy_feats :][..., :4]
            seen = alive[..., j] & (block[..., 1] > 0)  # distance > 0: in sight
            offset = enemy_xy[..., e, :] - ally_xy[..., j, :]
            assert torch.allclose(block[..., 2:4][seen] * 9, offset[seen], atol=1e-3)
            enemies_checked += int(seen.sum())
        for k in range(n):
            if k != j:
                block = ally_block(obs, layout, j, k)
                seen = alive[..., j] & (block[..., 0] > 0)
                offset = ally_xy[..., k, :] - ally_xy[..., j, :]
                assert torch.allclose(block[..., 2:4][seen] * 9, offset[seen], atol=1e-3)
                allies_checked += int(seen.sum())
    assert enemies_checked > 0 and (n == 1 or allies_checked > 0)


def check_relabelled(
    batch: dict[str, torch.Tensor], out: dict[str, torch.Tensor], layout: ObsLayout, perms: torch.Tensor
) -> None:
    """``out`` is ``batch`` with episode ``b``'s new agent ``j`` taking the data of the old agent ``perms[b, j]``."""
    n = layout.params.n_agents
    state_ally, state_last = layout.state_ally_feats, layout.n_actions
    last_start = n * state_ally + layout.params.n_enemies * layout.state_enemy_feats
    own_start = layout.obs_len - layout.own_feats
    for b in range(batch["state"].shape[0]):
        perm = perms[b].tolist()
        assert sorted(perm) == list(range(n))
        for j in range(n):
            old = perm[j]
            assert torch.equal(out["actions"][b, :, j], batch["actions"][b, :, old])
            assert torch.equal(out["avail_actions"][b, :, j], batch["avail_actions"][b, :, old])
            moves = slice(0, layout.move_feats)
            assert torch.equal(out["obs"][b, :, j, moves], batch["obs"][b, :, old, moves])
            assert torch.equal(out["obs"][b, :, j, own_start:], batch["obs"][b, :, old, own_start:])
            enemies = slice(layout.move_feats, layout.move_feats + layout.params.n_enemies * layout.enemy_feats)
            assert torch.equal(out["obs"][b, :, j, enemies], batch["obs"][b, :, old, enemies])
            for k in range(n):
                if k != j:  # j's view of k is the old j's view of the old k
                    assert torch.equal(
                        ally_block(out["obs"][b], layout, j, k), ally_block(batch["obs"][b], layout, old, perm[k])
                    )
            new_block = out["state"][b, :, j * state_ally : (j + 1) * state_ally]
            assert torch.equal(new_block, batch["state"][b, :, old * state_ally : (old + 1) * state_ally])
            if layout.flags.state_last_action:
                new_last = out["state"][b, :, last_start + j * state_last : last_start + (j + 1) * state_last]
                old_last = batch["state"][b, :, last_start + old * state_last : last_start + (old + 1) * state_last]
                assert torch.equal(new_last, old_last)
        enemy_state = slice(n * state_ally, last_start)
        assert torch.equal(out["state"][b, :, enemy_state], batch["state"][b, :, enemy_state])
    for key in ("reward", "terminated", "filled"):
        assert torch.equal(out[key], batch[key])


@pytest.mark.parametrize(
    ("map_name", "flags"),
    [("3m", {}), ("2s3z", {}), ("2s3z", {"obs_last_action": True, "state_last_action": False}), ("2m_vs_1z", {})],
)
def test_relabelled_episodes_are_the_same_game(map_name: str, flags: dict[str, bool]) -> None:
    batch, layout = collected_batch(map_name, **flags)
    augment = AgentPermutation.for_env(make_env(map_name, n_envs=1, **flags))
    check_episode_invariants(batch, layout)
    moved = 0
    for seed in range(3):
        perms = augment.sample(4, torch.Generator().manual_seed(seed))  # what the call below draws
        out = augment(batch, torch.Generator().manual_seed(seed))
        check_relabelled(batch, out, layout, perms)
        check_episode_invariants(out, layout)
        moved += int((perms != torch.arange(layout.params.n_agents)).any(dim=1).sum())
    assert moved > 0  # some episodes were relabelled
    # the ally blocks stay consistent with each other: j's offset to k is minus k's offset to j
    n = layout.params.n_agents
    visible, pairs_seen = out["filled"], 0
    for j, k in itertools.permutations(range(n), 2):
        jk, kj = ally_block(out["obs"], layout, j, k), ally_block(out["obs"], layout, k, j)
        both = visible & (jk[..., 0] > 0) & (kj[..., 0] > 0)
        assert torch.allclose(jk[..., 2:4][both], -kj[..., 2:4][both], atol=1e-6)
        pairs_seen += int(both.sum())
    assert pairs_seen > 0


def test_permutations_stay_within_unit_types_and_cover_them() -> None:
    augment = AgentPermutation.for_env(make_env("2s3z", n_envs=1))
    perm = augment.sample(2000, torch.Generator().manual_seed(0))
    assert perm.shape == (2000, 5)
    assert set(perm[:, :2].flatten().tolist()) == {0, 1}  # the two stalkers swap among themselves
    assert set(perm[:, 2:].flatten().tolist()) == {2, 3, 4}
    assert (perm.sort(dim=1).values == torch.arange(5)).all()
    counts = torch.unique(perm, dim=0, return_counts=True)[1]
    assert len(counts) == 2 * 6  # every permutation within the types is drawn
    assert counts.min() > 2000 / 12 * 0.7


def test_mirror_images_are_episodes_of_the_same_game() -> None:
    batch, layout = collected_batch("2m_vs_1z")
    out = MirrorFlip.for_env(make_env("2m_vs_1z", n_envs=1))(batch, torch.Generator().manual_seed(0))
    check_episode_invariants(out, layout)
    flipped = [b for b in range(4) if not torch.equal(out["obs"][b], batch["obs"][b])]
    assert 0 < len(flipped) < 4  # seed 0 flips some of the four episodes, not all
    for b in range(4):
        east_west = batch["actions"][b].clone()
        if b in flipped:
            east_west[batch["actions"][b] == 4], east_west[batch["actions"][b] == 5] = 5, 4
            # the mirror image moves the other way: x offsets and state x positions change sign, y ones do not
            dy = layout.move_feats + 3
            assert torch.equal(out["obs"][b, ..., dy], batch["obs"][b, ..., dy])
            assert torch.equal(out["obs"][b, ..., dy - 1], -batch["obs"][b, ..., dy - 1])
        assert torch.equal(out["actions"][b], east_west)
    assert ((batch["actions"] == 4) | (batch["actions"] == 5)).any()
    for key in ("reward", "terminated", "filled"):
        assert torch.equal(out[key], batch[key])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="target allies"):
        AgentPermutation.for_env(make_env("MMM", n_envs=1))
    with pytest.raises(ValueError, match="obs_instead_of_state"):
        AgentPermutation.for_env(make_env("3m", n_envs=1, obs_instead_of_state=True))
    layout = ObsLayout(get_map_params("3m"), LayoutFlags())
    with pytest.raises(ValueError, match="two agents of one unit type"):
        AgentPermutation(layout, ["marine", "marauder", "stalker"])
    with pytest.raises(ValueError, match="3 agents"):
        AgentPermutation(layout, ["marine", "marine"])
    with pytest.raises(ValueError, match="layout"):  # at construction (it was learn()'s first check)
        QMIX(CueMatchingEnv(n_envs=2), agent_permutation=True, batch_size=2)
    with pytest.raises(ValueError, match="agent_permutation='yes'"):
        QMIX("3m", agent_permutation="yes")
    with pytest.raises(ValueError, match="symmetric about x = 16.*3m is not"):
        MirrorFlip.for_env(make_env("3m", n_envs=1))
    with pytest.raises(ValueError, match="obs_pathing_grid"):
        MirrorFlip.for_env(make_env("2m_vs_1z", n_envs=1, obs_pathing_grid=True))
    with pytest.raises(ValueError, match="mirror_augmentation needs a SMAC env"):
        QMIX(CueMatchingEnv(n_envs=2), mirror_augmentation=True, batch_size=2)
    with pytest.raises(ValueError, match="symmetric about x = 16.*3s_vs_3z is not"):
        QMIX("3s_vs_3z", mirror_augmentation=True)
    model = QMIX("3m", agent_permutation=True)
    with pytest.raises(ValueError, match=r"Env 'cue_matching' has shapes"):  # set_env: refused, env kept
        model.set_env(CueMatchingEnv(n_agents=3, n_actions=9))
    assert model.map_name == "3m"


def test_qmix_trains_on_augmented_batches_and_saves_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every sampled batch goes through both augmentations in turn and the loss gets the last one's output (a train
    step that called the augmentations and dropped their results passed when only the calls were counted)."""
    calls: list[tuple[str, dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []  # (augmentation, input, output)
    for augmentation_class in (AgentPermutation, MirrorFlip):
        original = augmentation_class.__call__

        def recorded(
            self: AgentPermutation | MirrorFlip,
            batch: dict[str, torch.Tensor],
            generator: torch.Generator,
            original: Callable[..., dict[str, torch.Tensor]] = original,
        ) -> dict[str, torch.Tensor]:
            out = original(self, batch, generator)
            calls.append((type(self).__name__, batch, out))
            return out

        monkeypatch.setattr(augmentation_class, "__call__", recorded)
    model = QMIX("2m_vs_1z", n_envs=2, batch_size=2, agent_permutation=True, mirror_augmentation=True, seed=0)
    loss_batches: list[dict[str, torch.Tensor]] = []
    compute_loss = model._compute_loss

    def recorded_loss(batch: dict[str, torch.Tensor]):  # noqa: ANN202
        loss_batches.append(batch)
        return compute_loss(batch)

    monkeypatch.setattr(model, "_compute_loss", recorded_loss)
    model.learn(total_timesteps=200)
    assert model._n_updates > 0
    assert [name for name, _, _ in calls] == ["AgentPermutation", "MirrorFlip"] * model._n_updates  # in this order
    assert len(loss_batches) == model._n_updates
    for (_, sampled, permuted), (_, flip_input, flipped), loss_batch in zip(calls[::2], calls[1::2], loss_batches):
        assert permuted is not sampled and flipped is not flip_input  # each returns a new batch ...
        assert flip_input is permuted and loss_batch is flipped  # ... which the next step takes
    model.save(tmp_path / "model")
    loaded = QMIX.load(tmp_path / "model")
    assert loaded.agent_permutation is True and loaded.mirror_augmentation is True
