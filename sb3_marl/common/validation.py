"""Checks shared by the constructors' argument validation."""

from __future__ import annotations

import math
from typing import Any


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (``bool`` excluded, although Python counts it as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
