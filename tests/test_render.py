"""Tests of the battlefield renderer and the replay video writer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
import torch

from sb3_marl.envs import make_env
from sb3_marl.envs.render import render_frame, save_video

WIDTH = 256  # 8 pixels per map unit on a 32 x 32 map


def stand_in_env(n_envs: int = 2) -> SimpleNamespace:
    """A 2s-vs-2z-like battlefield with the simulator's rendering attributes (1 stalker, 1 zealot per team)."""
    pathing = torch.zeros(32, 32, dtype=torch.bool)
    pathing[:, 8:24] = True  # the standard maps' walkable band y in [8, 24)
    pos = torch.tensor([[10.0, 16.0], [10.0, 12.0], [22.0, 16.0], [22.0, 12.0]]).repeat(n_envs, 1, 1)
    return SimpleNamespace(
        n_agents=2,
        n_enemies=2,
        map_name="stand_in",
        episode_limit=60,
        unit_pos=pos,
        unit_health=torch.tensor([80.0, 100.0, 80.0, 100.0]).repeat(n_envs, 1),
        unit_shield=torch.tensor([80.0, 50.0, 80.0, 50.0]).repeat(n_envs, 1),
        unit_health_max=torch.tensor([80.0, 100.0, 80.0, 100.0]),
        unit_shield_max=torch.tensor([80.0, 50.0, 80.0, 50.0]),
        unit_radius=torch.tensor([0.625, 0.5, 0.625, 0.5]),
        unit_type_names=["stalker", "zealot", "stalker", "zealot"],
        unit_is_ally=torch.tensor([True, True, False, False]),
        unit_attack_target=torch.full((n_envs, 4), -1, dtype=torch.int64),
        pathing_grid=pathing,
        episode_steps=torch.zeros(n_envs, dtype=torch.int64),
    )


def pixel(frame: np.ndarray, env: SimpleNamespace, x: float, y: float) -> np.ndarray:
    """The frame's colour at map point (x, y)."""
    scale = WIDTH / 32
    header = frame.shape[0] - WIDTH
    return frame[int(header + (32 - y) * scale), int(x * scale)]


def test_frame_shape_and_terrain():
    env = stand_in_env()
    frame = render_frame(env, width=WIDTH)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[1:] == (WIDTH, 3)
    assert frame.shape[0] > WIDTH  # header band above the map
    walkable, unwalkable = pixel(frame, env, 16, 20), pixel(frame, env, 16, 28)
    assert not np.array_equal(walkable, unwalkable)
    assert np.array_equal(pixel(frame, env, 3, 2), unwalkable)


def test_units_drawn_by_team_and_dead_units_faded():
    env = stand_in_env()
    frame = render_frame(env, width=WIDTH)
    ally, enemy = pixel(frame, env, 10.4, 16.3), pixel(frame, env, 22.4, 16.3)  # inside the stalkers, off the label
    assert ally[2] > ally[0] and enemy[0] > enemy[2]  # allies blue, enemies red
    background = pixel(frame, env, 16, 20)
    env.unit_health[0, 2] = 0.0
    after = render_frame(env, width=WIDTH)
    assert np.array_equal(pixel(after, env, 22.4, 16.3), background)  # the dead stalker's circle is empty


def test_attack_line_and_marked_ring_change_only_what_they_should():
    env = stand_in_env()
    base = render_frame(env, width=WIDTH)
    env.unit_attack_target[0, 0] = 2  # ally stalker shot enemy stalker in env 0 only
    with_line = render_frame(env, width=WIDTH)
    assert not np.array_equal(pixel(with_line, env, 16, 16), pixel(base, env, 16, 16))
    assert np.array_equal(render_frame(env, env_index=1, width=WIDTH), render_frame(stand_in_env(), 1, WIDTH))

    ring = render_frame(env, width=WIDTH, marked_agents=torch.tensor([False, True]))
    diff = np.any(ring != with_line, axis=2)
    rows, cols = np.nonzero(diff)
    header = ring.shape[0] - WIDTH
    centre_x, centre_y = cols.mean() / 8, 32 - (rows.mean() - header) / 8
    assert abs(centre_x - 10) < 0.5 and abs(centre_y - 12) < 0.5  # the ring is around agent 1 only


def test_step_counter_changes_header():
    env = stand_in_env()
    first = render_frame(env, width=WIDTH)
    env.episode_steps[0] = 17
    second = render_frame(env, width=WIDTH)
    header = first.shape[0] - WIDTH
    assert not np.array_equal(first[:header], second[:header])
    assert np.array_equal(first[header:], second[header:])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"env_index": 2}, r"env_index=2 must be an integer in \[0, 1\]"),
        ({"env_index": 0.5}, "env_index=0.5 must be an integer"),
        ({"env_index": True}, "env_index=True must be an integer"),
        ({"width": 10}, "width=10 must be an integer >= 64"),
        ({"width": 100.5}, "width=100.5 must be an integer >= 64"),
        ({"marked_agents": np.array([True, False, True])}, "marked_agents"),
        ({"marked_agents": np.array([1, 0])}, "marked_agents"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_frame(stand_in_env(), **kwargs)


def test_unknown_unit_type():
    env = stand_in_env()
    env.unit_type_names = ["stalker", "zealot", "stalker", "ultralisk"]
    with pytest.raises(ValueError, match="ultralisk"):
        render_frame(env)


def episode_frames(n: int) -> list[np.ndarray]:
    env = stand_in_env(n_envs=1)
    frames = []
    for t in range(n):
        env.episode_steps[0] = t
        env.unit_pos[0, :2, 0] += 0.5
        frames.append(render_frame(env, width=WIDTH))
    return frames


def test_save_gif_round_trip(tmp_path):
    frames = episode_frames(4)
    path = save_video(frames, tmp_path / "sub" / "replay.gif", fps=5)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["replay.gif"]  # no temp file left
    video = iio.imread(path, index=None)
    assert video.shape[:3] == (4, *frames[0].shape[:2])
    assert iio.immeta(path)["duration"] == 200


def test_save_mp4_round_trip(tmp_path):
    """imageio-ffmpeg is a required dependency (setup.py): a missing or broken one fails here, it is no skip."""
    assert Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    frames = episode_frames(3)
    path = save_video(frames, tmp_path / "replay.mp4", fps=4)
    video = iio.imread(path, plugin="FFMPEG", index=None)
    assert video.shape[0] == 3 and video.shape[2] == WIDTH
    assert iio.immeta(path, plugin="FFMPEG")["fps"] == 4


@pytest.mark.parametrize(
    "frames, name, match",
    [
        ([], "a.gif", "at least one frame"),
        ([np.zeros((8, 8, 3), np.uint8)], "a.avi", "suffix"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], "a.gif", "frame 1"),
        ([np.zeros((8, 8, 3), np.float32)], "a.gif", "frame 0"),
    ],
)
def test_save_video_bad_input(tmp_path, frames, name, match):
    with pytest.raises(ValueError, match=match):
        save_video(frames, tmp_path / name)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("fps", [float("nan"), float("inf"), 0, -2.0, "8"])
def test_save_video_fps_must_be_finite_and_positive(tmp_path, fps):
    """Before: NaN failed inside the GIF writer without naming fps and inf wrote a GIF of 0 ms frames."""
    with pytest.raises(ValueError, match=f"^fps={fps!r} must be a finite number > 0$"):
        save_video(episode_frames(1), tmp_path / "a.gif", fps=fps)
    assert not any(tmp_path.iterdir())


def test_simulator_render_checks_env_index():
    env = make_env("3m", n_envs=2, seed=0)
    frame = env.render(env_index=np.int64(1))
    assert frame.shape[2] == 3 and frame.flags.writeable  # SMAC's and Gymnasium's frames can be drawn on
    for env_index in (0.5, True, 2, -1):
        with pytest.raises(ValueError, match=f"env_index={env_index!r} must be an integer"):
            env.render(env_index=env_index)


def test_failed_write_leaves_previous_file(tmp_path, monkeypatch):
    path = save_video(episode_frames(2), tmp_path / "replay.gif")
    before = path.read_bytes()

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(iio, "imwrite", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_video(episode_frames(3), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["replay.gif"]


def test_real_3m_episode_to_gif(tmp_path):
    env = make_env("3m", seed=0)
    avail = env.reset()[2]
    generator = torch.Generator().manual_seed(0)
    frames = [env.render()]
    for _ in range(20):  # the first 20 steps of a random-policy episode (or all of it if shorter)
        actions = torch.multinomial(avail[0].float(), 1, generator=generator).T
        *_, avail, _, done, _ = env.step(actions)
        frames.append(env.render())
        if done[0]:
            break
    assert frames[0].shape == render_frame(env).shape and frames[0].dtype == np.uint8
    assert any(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    path = save_video(frames, tmp_path / "3m.gif")
    assert iio.imread(path, index=None).shape == (len(frames), *frames[0].shape)
