"""Model files: a zip of JSON settings and torch state dicts, written atomically and read without pickle.

Members: ``data`` (UTF-8 JSON), one ``<name>.pth`` per state dict (read with ``torch.load(weights_only=True)``),
``sb3_marl_version`` and ``system_info.txt``.  Nothing in a model file can execute code when loaded.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.utils import get_system_info

from sb3_marl.version import __version__


def save_to_zip_file(path: str | Path, data: dict[str, Any], params: dict[str, dict[str, Any]]) -> Path:
    """Write a model zip atomically (temporary file in the same folder, then ``os.replace``).

    :param path: destination; ``.zip`` is appended when the name has no suffix; missing folders are created.
    :param data: JSON-serializable settings.
    :param params: state dicts by name (``policy``, ``policy.optimizer``, ...).
    :return: the path written.
    """
    path = Path(path)
    if path.suffix != ".zip":
        path = path.with_name(path.name + ".zip")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data_json = json.dumps(data, indent=4)
    except TypeError as error:
        raise TypeError(f"Model settings are not JSON-serializable: {error}") from error
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            archive.writestr("data", data_json)
            for name, state_dict in params.items():
                with archive.open(f"{name}.pth", mode="w", force_zip64=True) as member:
                    torch.save(state_dict, member)
            archive.writestr("sb3_marl_version", __version__)
            archive.writestr("system_info.txt", get_system_info(print_info=False)[1])
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_from_zip_file(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read a model zip written by :func:`save_to_zip_file`.

    :param path: the file (``.zip`` is tried too when ``path`` does not exist).
    :param device: where tensors are mapped.
    :return: the settings and the state dicts by name.
    :raises FileNotFoundError: no such file.
    :raises ValueError: the file is not a complete model zip (corrupt, truncated or foreign); names the path.
    """
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".zip").exists():
        path = path.with_name(path.name + ".zip")
    if not path.exists():
        raise FileNotFoundError(f"No model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data").decode("utf-8"))
            params = {}
            for member in archive.namelist():
                if member.endswith(".pth"):
                    buffer = io.BytesIO(archive.read(member))
                    params[member[: -len(".pth")]] = torch.load(buffer, map_location=device, weights_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise ValueError(f"{path} is not a valid sb3-marl model file (corrupt or truncated?): {error}") from error
    return data, params
