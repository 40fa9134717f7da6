"""Checks shared by the constructors' argument validation.

Settings arrive from Python, YAML and numpy (``np.float32(0.99)``, ``np.int64(8)``, ``5000.0``): each check accepts
any real number of the right kind and returns it as a plain ``float`` / ``int`` / ``bool``, so that what is stored
can be written to a model file's JSON as it is.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.utils import get_device

#: largest seed numpy's legacy global generator accepts (``np.random.seed``)
MAX_SEED = 2**32 - 1


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number: int, float or a numpy scalar (``bool`` excluded, although Python
    counts it as an int)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def whole_number(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` when it is a whole number in ``[low, high]`` (``5000``, ``5000.0`` or a numpy integer,
    as YAML and numpy give them; ``high`` None: no upper bound); otherwise a ValueError naming ``name``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # a numpy integer is named as a plain int in the messages
    whole = isinstance(value, int) or (is_finite_number(value) and float(value).is_integer())
    if isinstance(value, bool) or not whole or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value!r} must be an integer in [{low}, {high}]")
    return int(value)


def finite_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    meaning: str = "",
) -> float:
    """``value`` as a ``float`` when it is a finite number within the bounds; otherwise a ValueError naming ``name``
    and the allowed range.

    :param low: smallest allowed value (None: no bound); excluded with ``low_open``.
    :param high: largest allowed value (None: no bound); excluded with ``high_open``.
    :param meaning: what a special value means, added to the message (e.g. ``"0: off"``).
    """
    inside = is_finite_number(value)
    if inside and low is not None:
        inside = value > low if low_open else value >= low
    if inside and high is not None:
        inside = value < high if high_open else value <= high
    if not inside:
        if low is not None and high is not None:
            allowed = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            allowed = f" {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            allowed = f" {'<' if high_open else '<='} {high:g}"
        else:
            allowed = ""
        raise ValueError(f"{name}={value!r} must be a finite number{allowed}" + (f" ({meaning})" if meaning else ""))
    return float(value)


def flag(name: str, value: Any) -> bool:
    """``value`` as a ``bool`` when it is True or False (numpy's included); otherwise a ValueError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} must be True or False")
    return bool(value)


def constructor_keywords(cls: type) -> tuple[list[str], bool]:
    """The argument names the constructor of ``cls`` accepts by keyword, following ``**kwargs`` up the MRO (in
    order, ``self`` included), and whether that list is complete: False when a ``**kwargs`` reaches ``object``
    without a parent naming what it takes (then anything is accepted)."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is object:
            break
        parameters = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return list(dict.fromkeys(names)), True
    return list(dict.fromkeys(names)), False


def check_policy_kwargs(
    policy_class: type, policy_kwargs: Mapping[str, Any] | None, set_by_algorithm: Mapping[str, str]
) -> None:
    """Refuse ``policy_kwargs`` keys that ``policy_class`` does not take, or that the algorithm sets itself
    (``set_by_algorithm``: key -> where the value comes from, e.g. ``"the env"``), naming the key and the allowed ones
    (Stable-Baselines3 users pass e.g. ``optimizer_class`` or ``net_arch`` there)."""
    names, complete = constructor_keywords(policy_class)
    allowed = [name for name in names if name not in (*set_by_algorithm, "self")]
    for key in policy_kwargs or {}:
        if key in set_by_algorithm:
            raise ValueError(f"policy_kwargs[{key!r}] is set by {set_by_algorithm[key]}, not policy_kwargs")
        if complete and key not in allowed:
            raise ValueError(f"policy_kwargs[{key!r}] is not a {policy_class.__name__} setting; allowed: {allowed}")


def settings_mapping(name: str, value: Any) -> dict[str, Any]:
    """``value`` (a mapping, or None for an empty one) as a plain ``dict``; otherwise a ValueError naming ``name``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}={value!r} must be a mapping of settings (a dict) or None")
    return dict(value)


def json_mapping(name: str, value: Any) -> dict[str, Any]:
    """``value`` (a mapping, or None for an empty one) as a plain ``dict`` that a model file's JSON can hold:
    numpy scalars inside it, at any depth, become Python numbers and bools; anything else JSON cannot write (an
    array, an object) is a ValueError naming ``name``, raised here rather than by the first ``save`` after training.
    """
    plain = _plain_json(settings_mapping(name, value))
    try:
        json.dumps(plain)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name}={value!r} cannot be saved with the model ({error}): use numbers, strings, bools, None, lists "
            "and dicts with string keys"
        ) from None
    return plain


def _plain_json(value: Any) -> Any:
    """``value`` with numpy scalars replaced by Python scalars inside dicts, lists and tuples."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_json(item) for item in value)
    return value


def _usable_device(device: Any, resolve: Callable[[Any], torch.device], user: str, allowed: str) -> torch.device:
    """``resolve(device)`` when it is a device ``user`` (a model, an env) can keep its tensors on here: the CPU
    (``"cpu:0"`` given as ``"cpu"``), a CUDA device this machine has or another accelerator torch finds; otherwise a
    ValueError naming ``device`` and the ``allowed`` devices (torch's own errors come later and say neither: at
    ``torch.Generator``, or as a model file's "corrupt" tensors)."""
    try:
        resolved = resolve(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({allowed}): {exc}") from None
    if resolved.type == "meta":
        raise ValueError(f"device={device!r} holds no data: {user} needs 'cpu' or 'cuda'")
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ValueError(f"device={device!r}: CUDA is not available on this machine")
        if resolved.index is not None and resolved.index >= count:
            devices = ", ".join(f"cuda:{index}" for index in range(count))
            raise ValueError(f"device={device!r} is not available here: this machine's CUDA devices are {devices}")
    elif resolved.type != "cpu":
        if not _accelerator_available(resolved.type):
            raise ValueError(
                f"device={device!r} is not available here: torch finds no {resolved.type} device on this machine "
                f"({allowed})"
            )
    elif resolved.index is not None:  # torch cannot load saved tensors onto "cpu:0": the one CPU device it means
        return torch.device("cpu")
    return resolved


def _accelerator_available(kind: str) -> bool:
    """Whether torch finds an accelerator of type ``kind`` (``"mps"``, ``"xpu"``, ...) on this machine: the
    ``is_available()`` of ``torch.backends.<kind>`` or ``torch.<kind>``; False for a type torch has neither for."""
    for backend in (getattr(torch.backends, kind, None), getattr(torch, kind, None)):
        is_available = getattr(backend, "is_available", None)
        if callable(is_available):
            return bool(is_available())
    return False


def model_device(device: Any) -> torch.device:
    """Stable-Baselines3's device choice for a model (``"auto"``: CUDA when available; ``"cuda"`` on a machine without
    CUDA falls back to the CPU, as in SB3), with a ValueError naming ``device`` when it is not a device a model can
    use here (not a torch device, ``"meta"``, an accelerator or a CUDA index this machine lacks)."""
    return _usable_device(device, get_device, "a model", "'auto', 'cpu', 'cuda', 'cuda:1', ...")


def env_device(device: Any) -> torch.device:
    """The device of an env's tensors: a ValueError naming ``device`` when it is not a device an env can use here (as
    :func:`model_device`; a CUDA device on a machine without CUDA too: an env has no fallback, its tensors would fail
    at the first reset)."""
    return _usable_device(device, torch.device, "an env", "'cpu', 'cuda', 'cuda:1', ...")


def check_default_dtype(user: str) -> None:
    """Refuse to build ``user`` (a model or a simulator) unless torch's default dtype is ``torch.float32``: their
    tensors and networks compute in float32, and what torch allocates without a dtype (``torch.zeros``, a
    ``nn.Linear``'s weights) must match it."""
    default = torch.get_default_dtype()
    if default != torch.float32:
        raise RuntimeError(
            f"torch's default dtype is {default}: {user} computes in torch.float32 (observations, networks and the "
            "simulator's state); call torch.set_default_dtype(torch.float32) before building it"
        )


def path_argument(name: str, value: Any) -> str:
    """``value`` (a ``str`` or ``os.PathLike``) as a path string; otherwise a TypeError naming ``name``."""
    try:
        return os.fspath(value)
    except TypeError:
        raise TypeError(f"{name}={value!r} must be a path (a str or a pathlib.Path)") from None


def name_list(name: str, value: Any) -> list[str]:
    """``value`` (an iterable of names, or None for none) as a list; a single string is refused with ``name``, as it
    would be read letter by letter."""
    if value is None:
        return []
    if isinstance(value, str):
        raise TypeError(f"{name}={value!r} must be a list of names, e.g. [{value!r}]")
    return list(value)


def numeric_array(name: str, value: Any, expected: str) -> np.ndarray | torch.Tensor:
    """``value`` as an array of numbers or bools: a torch tensor as it is (its values stay unread on its device),
    anything else through ``np.asarray``.

    :param expected: the shape and dtype wanted, for the messages (e.g. ``"float32 of shape (3, 10)"``).
    :raise TypeError: naming ``name`` when ``value`` holds no numbers (None, a dict, strings, complex numbers).
    :raise ValueError: naming ``name`` when ``value`` is a nested sequence whose rows differ in length.
    """
    if isinstance(value, torch.Tensor):
        array, numeric = value, not value.is_complex()
    else:
        try:
            array = np.asarray(value)
        except ValueError:  # numpy's "inhomogeneous shape"
            raise ValueError(f"{name} is a ragged sequence (its rows differ in length): expected {expected}") from None
        numeric = array.dtype.kind in "biuf"
    if not numeric:
        raise TypeError(
            f"{name}={reprlib.repr(value)} is not an array of numbers (dtype {array.dtype}): expected {expected}"
        )
    return array


def mask_array(name: str, value: Any, expected: str) -> np.ndarray | torch.Tensor:
    """:func:`numeric_array`, refused with a ValueError naming ``name`` unless it holds only True/False or 1/0 (NaN or
    0.5 would be read as True); a bool array or tensor is not read."""
    array = numeric_array(name, value, expected)
    if array.dtype not in (torch.bool, np.dtype(bool)):
        other = array[(array != 0) & (array != 1)]
        if len(other):
            raise ValueError(f"{name} holds {other[0].item()!r}: a mask holds True/False or 1/0; expected {expected}")
    return array


def finite_array(name: str, value: Any, expected: str) -> np.ndarray | torch.Tensor:
    """:func:`numeric_array`, refused with a ValueError naming ``name`` when it holds NaN or inf."""
    array = numeric_array(name, value, expected)
    finite = torch.isfinite(array).all() if isinstance(array, torch.Tensor) else np.isfinite(array).all()
    if not finite:
        raise ValueError(f"{name} holds NaN or inf: expected finite numbers, {expected}")
    return array


def checked_optimizer(
    optimizer_class: type[torch.optim.Optimizer],
    parameters: Any,
    learning_rate: float,
    optimizer_kwargs: Mapping[str, Any],
) -> torch.optim.Optimizer:
    """``optimizer_class(parameters, lr=learning_rate, **optimizer_kwargs)``, with a ValueError naming the optimizer and
    its ``optimizer_kwargs`` when a number among them is not finite or the optimizer refuses them (torch's own errors
    name neither: "'<=' not supported between 'float' and 'str'", "list index out of range")."""

    def numbers_in(value: Any) -> list[Any]:
        if isinstance(value, (list, tuple)):
            return [number for item in value for number in numbers_in(item)]
        return [value] if isinstance(value, numbers.Real) and not isinstance(value, bool) else []

    name = getattr(optimizer_class, "__name__", repr(optimizer_class))
    for key, value in optimizer_kwargs.items():
        if not all(math.isfinite(number) for number in numbers_in(value)):
            raise ValueError(f"optimizer_kwargs[{key!r}]={value!r} of {name}: numbers must be finite")
    try:
        return optimizer_class(parameters, lr=learning_rate, **optimizer_kwargs)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{name} refused optimizer_kwargs={dict(optimizer_kwargs)}: {exc}") from None
