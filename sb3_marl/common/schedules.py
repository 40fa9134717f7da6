"""Schedules of a coefficient over training that survive save/load as plain JSON settings.

Like Stable-Baselines3 schedules they are callables of *progress remaining* (1 at the start of training, 0 at
the end), but each one is a small class whose :meth:`to_dict` output rebuilds it through :func:`make_schedule`,
so model files never hold pickled functions.
"""

from __future__ import annotations

import inspect
from typing import Any

from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

from sb3_marl.common.validation import finite_float, is_finite_number


class StepSchedule:
    """``start`` until ``switch_fraction`` of training is done, ``end`` afterwards (the paper's κ: 0, then 0.1).

    :param start: value in the first part of training.
    :param end: value once ``switch_fraction`` of the training budget is spent.
    :param switch_fraction: fraction of training, in [0, 1], at which the value switches.
    """

    def __init__(self, start: float = 0.0, end: float = 0.1, switch_fraction: float = 0.5) -> None:
        self.start, self.end = finite_float("start", start), finite_float("end", end)
        self.switch_fraction = finite_float("switch_fraction", switch_fraction, 0.0, 1.0)

    def __call__(self, progress_remaining: float) -> float:
        return self.start if 1.0 - progress_remaining < self.switch_fraction else self.end

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (see :func:`make_schedule`)."""
        return {"type": "step", "start": self.start, "end": self.end, "switch_fraction": self.switch_fraction}

    def __repr__(self) -> str:
        return f"StepSchedule(start={self.start}, end={self.end}, switch_fraction={self.switch_fraction})"


#: the schedule classes whose settings can be saved as JSON
SaveableSchedule = StepSchedule | ConstantSchedule | LinearSchedule


def make_schedule(value: float | dict[str, Any] | SaveableSchedule, name: str) -> SaveableSchedule:
    """Turn a number, a schedule object or a :func:`schedule_to_dict` dict into a saveable schedule.

    Accepted: a finite number (constant), :class:`StepSchedule`, Stable-Baselines3's ``ConstantSchedule`` and
    ``LinearSchedule``, or a dict ``{"type": "constant" | "step" | "linear", ...}``. Other callables (lambdas,
    functions) are refused because they cannot be saved as JSON.

    :param value: the schedule or its settings.
    :param name: the setting's name, for error messages.
    """
    if isinstance(value, SaveableSchedule):
        value = schedule_to_dict(value)  # rebuilt from its checked settings (a numpy number inside cannot be saved)
    if isinstance(value, dict):
        settings = dict(value)
        kind = settings.pop("type", None)
        builders = {"constant": ConstantSchedule, "step": StepSchedule, "linear": LinearSchedule}
        if kind not in builders:
            raise ValueError(f"{name}: unknown schedule type {kind!r}; allowed: {sorted(builders)}")
        settings = {key: finite_float(f"{name}'s {kind} schedule {key}", item) for key, item in settings.items()}
        if kind == "linear" and "end_fraction" in settings:
            finite_float(f"{name}'s linear schedule end_fraction", settings["end_fraction"], 0.0, low_open=True)
        try:
            return builders[kind](**settings)
        except TypeError as error:  # missing or unknown keys, or values of the wrong type
            parameters = list(inspect.signature(builders[kind]).parameters)
            message = f"{name}: bad {kind} schedule settings {settings} ({error}); it takes {parameters}"
            raise ValueError(message) from None
    if is_finite_number(value):
        return ConstantSchedule(float(value))
    raise ValueError(
        f"{name}={value!r} is not allowed: give a finite number, a StepSchedule, an SB3 ConstantSchedule or "
        "LinearSchedule, or their settings dict (arbitrary callables cannot be saved as JSON)"
    )


def schedule_to_dict(schedule: SaveableSchedule) -> dict[str, Any]:
    """JSON-able settings of a schedule accepted by :func:`make_schedule`."""
    if isinstance(schedule, StepSchedule):
        return schedule.to_dict()
    if isinstance(schedule, ConstantSchedule):
        return {"type": "constant", "val": schedule.val}
    if isinstance(schedule, LinearSchedule):
        return {"type": "linear", "start": schedule.start, "end": schedule.end, "end_fraction": schedule.end_fraction}
    raise TypeError(f"cannot serialise schedule {schedule!r}")


def check_schedule_range(schedule: SaveableSchedule, name: str, low: float) -> None:
    """Raise ``ValueError`` unless ``schedule`` stays a finite number ``>= low``: every saveable schedule lies between
    its values at the start (progress remaining 1) and at the end (0) of training, so those two are checked."""
    for moment, progress_remaining in (("starts", 1.0), ("ends", 0.0)):
        value = schedule(progress_remaining)
        if not (is_finite_number(value) and value >= low):
            raise ValueError(f"{name}={schedule_to_dict(schedule)} {moment} at {value!r}; it must stay >= {low}")
