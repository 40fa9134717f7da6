"""Top-down frames of the batched simulator's battlefield and replay videos made of them.

:func:`render_frame` draws one env of a batched simulator with Pillow: the map with its unwalkable
cells shaded, every unit as a circle of its true radius (allies blue, enemies red, a shade and a
three-letter label per unit type), health and shield bars, a line from each unit to the unit it
attacked (or healed) during the last step, and a header with the map name and the step counter.
:func:`save_video` writes a sequence of such frames to a GIF or MP4 file.

The simulator exposes the attributes read here (positions in map units, SC2's ``y`` pointing up):
``unit_pos`` f32[B,U,2], ``unit_health`` / ``unit_shield`` f32[B,U], ``unit_health_max`` /
``unit_shield_max`` / ``unit_radius`` f32[U], ``unit_type_names`` (U names), ``unit_is_ally`` bool[U],
``unit_attack_target`` int64[B,U] (-1: none), ``pathing_grid`` bool[X,Y] indexed ``[x, y]``,
``episode_steps`` int64[B], ``n_agents``, ``n_enemies`` and ``map_name``; ``U = n_agents + n_enemies``
with the allies first, in agent order.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from sb3_marl.common.validation import finite_float, whole_number
from sb3_marl.file_util import atomic_path

#: Three-letter label of each SMAC unit type (the labels SMAClite draws).
UNIT_LABELS: dict[str, str] = {
    "marine": "mrn",
    "marauder": "mrd",
    "medivac": "mdv",
    "stalker": "stl",
    "zealot": "zlt",
    "colossus": "cls",
    "hydralisk": "hyd",
    "zergling": "zrg",
    "baneling": "bnl",
    "spine_crawler": "spn",
}
#: Lightness (HLS) of each unit type, so that types of one team differ in shade as well as in label.
_TYPE_LIGHTNESS = dict(zip(UNIT_LABELS, np.linspace(0.32, 0.62, len(UNIT_LABELS))))
_ALLY_HUE, _ENEMY_HUE = 0.60, 0.0
_WALKABLE = (222, 214, 190)
_UNWALKABLE = (92, 88, 82)
_HEADER_BG = (30, 30, 30)
_DEAD = (150, 150, 150)
_HEALTH = (40, 200, 60)
_SHIELD = (70, 190, 255)
_BAR_BG = (60, 20, 20)
_MARK = (255, 220, 0)
_ALLY_ATTACK = (40, 90, 255)
_ENEMY_ATTACK = (230, 30, 30)
_HEAL = (20, 220, 120)
VIDEO_SUFFIXES = (".gif", ".mp4")


def _numpy(value: Any) -> np.ndarray:
    """A numpy view of a tensor (on any device) or array-like."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _unit_colour(type_name: str, is_ally: bool) -> tuple[int, int, int]:
    """RGB fill of a unit: the team's hue at the type's lightness."""
    r, g, b = colorsys.hls_to_rgb(_ALLY_HUE if is_ally else _ENEMY_HUE, _TYPE_LIGHTNESS[type_name], 0.75)
    return int(r * 255), int(g * 255), int(b * 255)


def _type_key(name: str) -> str:
    """The :data:`UNIT_LABELS` key of a unit type name ("Spine Crawler" -> "spine_crawler")."""
    key = name.strip().lower().replace(" ", "_")
    if key not in UNIT_LABELS:
        raise ValueError(f"Unknown unit type {name!r}; known types: {sorted(UNIT_LABELS)}")
    return key


def _marked_mask(marked_agents: Any, n_agents: int) -> np.ndarray:
    """``marked_agents`` as bool[n_agents] (all False for None)."""
    if marked_agents is None:
        return np.zeros(n_agents, dtype=bool)
    mask = _numpy(marked_agents)
    if mask.shape != (n_agents,) or mask.dtype != np.bool_:
        raise ValueError(
            f"marked_agents must be a bool array of shape ({n_agents},), got dtype {mask.dtype} shape {mask.shape}"
        )
    return mask


def render_frame(env: Any, env_index: int = 0, width: int = 512, marked_agents: Any = None) -> np.ndarray:
    """Draw the battlefield of one env of a batched simulator.

    :param env: the batched simulator (any object with the attributes listed in the module docstring).
    :param env_index: which env of the batch to draw, an integer in ``[0, n_envs)``.
    :param width: image width in pixels (an integer >= 64); the map is scaled to it and a header band is added on top.
    :param marked_agents: bool[n_agents] (tensor or array) of agents to circle with a highlight ring, e.g. the
        agents whose action an adversarial attack changed; None marks nobody.
    :return: the frame, an (H, W, 3) uint8 array.
    """
    pos = _numpy(env.unit_pos)
    env_index = whole_number("env_index", env_index, 0, pos.shape[0] - 1)
    width = whole_number("width", width, 64)  # pixels
    n_agents = int(env.n_agents)
    marked = _marked_mask(marked_agents, n_agents)

    grid = _numpy(env.pathing_grid).astype(bool)
    map_x, map_y = grid.shape
    scale = width / map_x  # pixels per map unit
    header = max(16, width // 24)
    height = header + round(map_y * scale)

    terrain = np.where(grid.T[::-1, :, None], np.array(_WALKABLE, np.uint8), np.array(_UNWALKABLE, np.uint8))
    image = Image.new("RGB", (width, height), _HEADER_BG)
    image.paste(Image.fromarray(terrain).resize((width, height - header), Image.Resampling.NEAREST), (0, header))
    draw = ImageDraw.Draw(image)

    xy = np.stack([pos[env_index, :, 0] * scale, header + (map_y - pos[env_index, :, 1]) * scale], axis=1)
    health = _numpy(env.unit_health)[env_index]
    shield = _numpy(env.unit_shield)[env_index]
    health_max, shield_max = _numpy(env.unit_health_max), _numpy(env.unit_shield_max)
    radius = _numpy(env.unit_radius) * scale
    is_ally = _numpy(env.unit_is_ally).astype(bool)
    targets = _numpy(env.unit_attack_target)[env_index]
    types = [_type_key(name) for name in env.unit_type_names]
    alive = health > 0

    # Attack / heal lines first, so that the unit circles are drawn over their ends.
    line_width = max(1, round(scale / 10))
    for unit in np.flatnonzero(alive & (targets >= 0)):
        target = targets[unit]
        colour = _HEAL if is_ally[target] == is_ally[unit] else _ALLY_ATTACK if is_ally[unit] else _ENEMY_ATTACK
        draw.line([tuple(xy[unit]), tuple(xy[target])], fill=colour, width=line_width)

    font = ImageFont.load_default(max(8, round(scale * 0.55)))
    bar_height = max(2, round(scale / 6))
    for unit in range(len(types)):
        (cx, cy), r = xy[unit], radius[unit]
        box = [cx - r, cy - r, cx + r, cy + r]
        if not alive[unit]:
            draw.ellipse(box, outline=_DEAD, width=1)
            continue
        draw.ellipse(box, fill=_unit_colour(types[unit], is_ally[unit]), outline=(0, 0, 0), width=1)
        draw.text((cx, cy), UNIT_LABELS[types[unit]], fill=(255, 255, 255), font=font, anchor="mm")
        bars = [(health[unit] / health_max[unit], _HEALTH)]
        if shield_max[unit] > 0:
            bars.append((shield[unit] / shield_max[unit], _SHIELD))
        half = max(r, 4.0)
        for row, (fraction, colour) in enumerate(bars):
            top = cy - r - (row + 1) * (bar_height + 1) - 1
            draw.rectangle([cx - half, top, cx + half, top + bar_height], fill=_BAR_BG)
            draw.rectangle(
                [cx - half, top, cx - half + 2 * half * float(np.clip(fraction, 0, 1)), top + bar_height], fill=colour
            )
        if unit < n_agents and marked[unit]:
            ring = r + max(2.0, scale / 5)
            draw.ellipse([cx - ring, cy - ring, cx + ring, cy + ring], outline=_MARK, width=max(2, line_width))

    step = int(_numpy(env.episode_steps)[env_index])
    limit = getattr(env, "episode_limit", None)
    text = f"{env.map_name}  env {env_index}  step {step}" + (f"/{limit}" if limit is not None else "")
    draw.text(
        (4, header / 2), text, fill=(255, 255, 255), font=ImageFont.load_default(round(header * 0.7)), anchor="lm"
    )
    return np.array(image)  # writable, as SMAC's and Gymnasium's frames are


def _check_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Stack the frames into uint8[T, H, W, 3], with a clear error for empty or mismatched input."""
    if len(frames) == 0:
        raise ValueError("save_video needs at least one frame, got an empty sequence")
    shape = np.shape(frames[0])
    for t, frame in enumerate(frames):
        if np.shape(frame) != shape or len(shape) != 3 or shape[2] != 3 or np.asarray(frame).dtype != np.uint8:
            raise ValueError(
                f"Every frame must be a uint8 array of shape (H, W, 3) equal to frame 0's {shape}; "
                f"frame {t} has dtype {np.asarray(frame).dtype} and shape {np.shape(frame)}"
            )
    return np.stack(frames)


def save_video(frames: Sequence[np.ndarray], path: str | Path, fps: float = 8.0) -> Path:
    """Write frames to a GIF (``.gif``) or MP4 (``.mp4``, H.264 through the ``imageio-ffmpeg`` package) file.

    The parent folder is created; the file is written to a temporary name beside it and renamed, so that a
    reader never sees a half-written video.  GIF frame times are rounded to 10 ms and Pillow merges identical
    consecutive frames into one longer frame.

    :param frames: (H, W, 3) uint8 frames, all of one shape (e.g. from :func:`render_frame`).
    :param path: destination; its suffix chooses the format.
    :param fps: frames per second of playback (a finite number > 0).
    :return: the path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"Unsupported video suffix {path.suffix!r} in {str(path)!r}; use one of {VIDEO_SUFFIXES}")
    fps = finite_float("fps", fps, 0.0, low_open=True)
    video = _check_frames(frames)
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            iio.imwrite(tmp, video, extension=".gif", duration=1000.0 / fps, loop=0)
        else:
            # H.264 in yuv420p needs even sides: pad with black rather than letting ffmpeg rescale.
            pad = ((0, 0), (0, video.shape[1] % 2), (0, video.shape[2] % 2), (0, 0))
            iio.imwrite(tmp, np.pad(video, pad), plugin="FFMPEG", fps=fps, codec="libx264", macro_block_size=2)
    return path
