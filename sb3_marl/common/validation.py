"""Checks shared by the constructors' argument validation."""

from __future__ import annotations

import math
import numbers
from typing import Any


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (``bool`` excluded, although Python counts it as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def whole_number(name: str, value: Any, low: int) -> int:
    """``value`` as an ``int`` when it is a whole number >= ``low`` (``5000``, ``5000.0`` or a numpy integer, as
    YAML and numpy give them); otherwise a ValueError naming ``name``."""
    whole = isinstance(value, numbers.Integral) or (is_finite_number(value) and float(value).is_integer())
    if isinstance(value, bool) or not whole or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)
