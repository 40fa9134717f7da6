"""Model files: a zip of JSON settings and torch state dicts, written atomically and read without pickle.

Members: ``data`` (UTF-8 JSON), one ``<name>.pth`` per state dict (read with ``torch.load(weights_only=True)``),
``sb3_marl_version`` and ``system_info.txt``.  Nothing in a model file can execute code when loaded.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.utils import get_system_info

from sb3_marl.common.validation import flag, model_device, path_argument
from sb3_marl.file_util import atomic_path
from sb3_marl.version import __version__


def save_to_zip_file(
    path: str | Path | io.BufferedIOBase, data: dict[str, Any], params: dict[str, dict[str, Any]]
) -> Path | io.BufferedIOBase:
    """Write a model zip, to a path atomically (:func:`~sb3_marl.file_util.atomic_path`) or into an open binary file.

    :param path: destination; ``.zip`` is appended unless the name ends with ``.zip``; missing folders are created.
        A file object opened for binary writing (e.g. ``io.BytesIO``, as Stable-Baselines3 accepts) is written
        from its current position and left open.
    :param data: JSON-serializable settings.
    :param params: state dicts by name (``policy``, ``policy.optimizer``, ...).
    :return: the path written (or the file object).
    :raises TypeError: a text file object (``io.StringIO``); a ValueError for one that is closed or not open for
        writing.
    """
    try:
        data_json = json.dumps(data, indent=4)
    except TypeError as error:
        raise TypeError(f"Model settings are not JSON-serializable: {error}") from error
    if isinstance(path, io.IOBase):
        _check_binary_file(path, "writing")
        _write_archive(path, data_json, params)
        return path
    path = Path(path_argument("path", path))
    if path.suffix.lower() != ".zip":
        path = path.with_name(path.name + ".zip")
    with atomic_path(path) as tmp:
        _write_archive(tmp, data_json, params)
    return path


def _check_binary_file(file: io.IOBase, mode: str) -> None:
    """Refuse a file object that is not a binary file open for ``mode`` (``"reading"`` or ``"writing"``): a text file
    (``open(path)``, ``io.StringIO``) with a TypeError, a closed one or one opened the other way with a ValueError
    (zipfile's own errors say neither: "File is not a zip file", "string argument expected", "write")."""
    wanted = f"give a binary file open for {mode} (open(path, {'rb' if mode == 'reading' else 'wb'!r}), io.BytesIO)"
    if isinstance(file, io.TextIOBase):
        raise TypeError(f"The file object {file!r} is a text file: {wanted}")
    if file.closed or not (file.readable() if mode == "reading" else file.writable()):
        raise ValueError(f"The file object {file!r} is not open for {mode}: {wanted}")


def _write_archive(target: Path | io.IOBase, data_json: str, params: dict[str, dict[str, Any]]) -> None:
    """The zip members of a model file (see the module docstring), written to ``target``."""
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("data", data_json)
        for name, state_dict in params.items():
            with archive.open(f"{name}.pth", mode="w", force_zip64=True) as member:
                torch.save(state_dict, member)
        archive.writestr("sb3_marl_version", __version__)
        archive.writestr("system_info.txt", system_info_text())


def system_info_text() -> str:
    """Stable-Baselines3's system info (OS, Python, PyTorch, ...) with this package's version first."""
    return f"- sb3-marl: {__version__}\n" + get_system_info(print_info=False)[1]


def load_weights_only(source: Path | io.BytesIO, device: torch.device, what: str) -> Any:
    """``torch.load(source, weights_only=True)``: tensors and plain containers only.

    :param what: names the source in the error (e.g. ``"member 'policy.pth'"``).
    :raise ValueError: when torch's weights-only reader refuses the content, with its reason but without torch's
        advice to load the file with ``weights_only=False`` (which could run code from the file).
    """
    try:
        return torch.load(source, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\. |\n\n|$)", str(error), re.DOTALL)
        reason = " ".join(found.group(1).split()) if found else str(error).split("\n")[0]
        raise ValueError(
            f"{what} is refused by torch's weights-only reader ({reason}): it is corrupt, or holds objects other "
            "than tensors, which sb3-marl never loads (loading them could run code)"
        ) from None


def load_from_zip_file(
    path: str | Path | io.BufferedIOBase,
    device: torch.device | str = "cpu",
    print_system_info: bool = False,
    load_params: bool = True,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read a model zip written by :func:`save_to_zip_file`.

    :param path: the file (``<path>.zip`` is tried too when ``path`` is not a file, e.g. the zoo's ``<run>/<map>``
        beside its ``<run>/<map>/`` folder of settings), or a binary file object open for reading (read from its
        current position, left open).
    :param device: where tensors are mapped (``"auto"``, or CUDA where none is available: resolved as
        Stable-Baselines3's ``get_device`` does).
    :param print_system_info: print this machine's system info and the one saved with the model (as
        Stable-Baselines3 does), to debug a model that behaves differently after loading.
    :param load_params: read the state dicts; False reads the settings only (the tensors are neither read nor
        checked, and the state dicts returned are empty), e.g. to look up a model's training settings or counters.
    :return: the settings and the state dicts by name.
    :raises FileNotFoundError: no such file.
    :raises TypeError: a text file object (``open(path)``, ``io.StringIO``).
    :raises ValueError: the file is not a complete model zip (corrupt, truncated or foreign); names the path. Also,
        before the file is opened: a device this machine lacks, a flag that is not True or False, a file object
        that is closed or not open for reading.
    :warns UserWarning: a network weight read is NaN or inf (the model of a training that diverged).
    """
    # checked before the file is opened, so that none of these errors is reported as a corrupt file
    device = model_device(device)
    print_system_info, load_params = flag("print_system_info", print_system_info), flag("load_params", load_params)
    if isinstance(path, io.IOBase):
        _check_binary_file(path, "reading")
    else:
        path = Path(path_argument("path", path))
        if not path.is_file() and path.with_name(path.name + ".zip").is_file():
            path = path.with_name(path.name + ".zip")
        if not path.is_file():
            kind = "a folder, not a model file" if path.is_dir() else "no model file"
            raise FileNotFoundError(f"{path} is {kind} (nor is {path.name}.zip beside it a file)")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data").decode("utf-8"))
            if print_system_info:
                print("== CURRENT SYSTEM INFO ==")
                print(system_info_text())
                print("== SAVED MODEL SYSTEM INFO ==")
                print(_saved_system_info(archive))
            params = {}
            members = archive.namelist() if load_params else []
            for member in members:
                if member.endswith(".pth"):
                    buffer = io.BytesIO(archive.read(member))
                    params[member[: -len(".pth")]] = load_weights_only(buffer, device, f"member {member!r}")
    except (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        RuntimeError,
        EOFError,
        pickle.UnpicklingError,
        zlib.error,  # a deflated member that does not inflate (zip tools deflate by default)
        NotImplementedError,  # a compression method zipfile cannot read
    ) as error:
        raise ValueError(f"{path} is not a valid sb3-marl model file (corrupt or truncated?): {error}") from error
    _warn_of_non_finite_weights(path, params)
    return data, params


def _warn_of_non_finite_weights(path: Path | io.IOBase, params: dict[str, dict[str, Any]]) -> None:
    """Warn, naming ``path`` and the first such weight, when a network weight read from it holds NaN or inf: the
    model of a training that diverged, whose actions mean nothing (optimizer states, dicts of dicts, are not read)."""
    for name, state_dict in params.items():
        for key, value in state_dict.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
                warnings.warn(
                    f"{path} holds network weights that are NaN or inf, first {name}[{key!r}]: the training that "
                    "saved it diverged, and the model's actions mean nothing",
                    stacklevel=4,  # the call of load (or set_parameters) that read the file
                )
                return


def _saved_system_info(archive: zipfile.ZipFile) -> str:
    """The system info saved in a model zip, with the sb3-marl version that wrote it (older files hold that version
    only in their ``sb3_marl_version`` member)."""
    names = archive.namelist()
    text = archive.read("system_info.txt").decode("utf-8") if "system_info.txt" in names else ""
    if "- sb3-marl:" not in text and "sb3_marl_version" in names:
        text = f"- sb3-marl: {archive.read('sb3_marl_version').decode('utf-8')}\n" + text
    return text or "(none saved with this model)"
