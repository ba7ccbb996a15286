"""Checks of user-supplied values: every stage's error says the name, the value and what is valid.

Used wherever a value arrives from a CLI flag, a slider or an API call (emotions, durations,
temperatures), so "seconds=-1" reads the same in the music engine, the generator and the app.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, Mapping


def number_in_range(value: Any, name: str, low: float, high: float, *, low_open: bool = False,
                    error: type[ValueError] = ValueError) -> float:
    """``float(value)`` if it lies in [low, high] (or (low, high] with ``low_open``), else ``error``."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    try:
        if isinstance(value, bool):  # JSON true/false would otherwise pass as 1.0/0.0
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{name}={value!r} ({type(value).__name__}) is not a number; expected a value in {interval}") from None
    below = number <= low if low_open else number < low
    if math.isnan(number) or below or number > high:
        raise error(f"{name}={value!r} is outside the valid range {interval}")
    return number


def choice_of(value: Any, name: str, choices: tuple[Any, ...]) -> Any:
    """The member of ``choices`` equal to ``value``, where ``"5"`` also matches ``5`` (JSON clients send both)."""
    for choice in choices:
        if not isinstance(value, bool) and (value == choice or str(value).strip() == str(choice)):
            return choice
    listed = ", ".join(repr(choice) for choice in choices)
    raise ValueError(f"{name}={value!r} ({type(value).__name__}) is not one of {listed}")


def text_value(value: Any, name: str) -> str:
    """A text field's value (``None`` reads as empty): a list or number where text belongs is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name}={value!r} ({type(value).__name__}) must be text")
    return value


def check_known_keys(data: Mapping[str, Any], config_class: type, source: str, what: str) -> None:
    """Refuse keys a config dataclass does not have: a typo must not silently fall back to a default."""
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown {what} setting(s) {unknown}; valid keys are {sorted(known)}")
