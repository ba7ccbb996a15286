"""The one emotion scale used everywhere downstream of the DEAM loader.

DEAM ships two scales: static per-song ratings on 1..9 and dynamic per-second ratings on
[-1, 1]. Everything after loading works on a single normalised scale, valence and arousal in
[0, 1], so a label, a slider and a model condition always mean the same thing:

* static:  ``(x - 1) / 8``   (1 -> 0, 5 -> 0.5, 9 -> 1)
* dynamic: ``(x + 1) / 2``   (-1 -> 0, 0 -> 0.5, 1 -> 1)

The presets name the four quadrant corners used by the seed notebooks.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from emovae.checks import number_in_range

ArrayLike = Union[float, np.ndarray]

PRESETS: dict[str, tuple[float, float]] = {
    "happy": (1.0, 1.0),
    "angry": (0.0, 1.0),
    "sad": (0.0, 0.0),
    "calm": (1.0, 0.0),
}

# Where real DEAM songs lie on this scale: the 5th-95th percentile of the static labels of the genuine
# annotation files (1,802 songs). The corner presets lie outside it, so a DEAM-trained model is asked
# there for emotions it has never seen; the app draws this box on its emotion map.
DEAM_STATIC_RANGE: dict[str, tuple[float, float]] = {"valence": (0.25, 0.725), "arousal": (0.213, 0.725)}


class EmotionValueError(ValueError):
    """A valence/arousal value, preset name or emotion string that cannot be used."""


def static_to_unit(x: ArrayLike) -> ArrayLike:
    """Map DEAM static ratings (1..9) to [0, 1]."""
    return (np.asarray(x, dtype=float) - 1.0) / 8.0 if isinstance(x, np.ndarray) else (float(x) - 1.0) / 8.0


def dynamic_to_unit(x: ArrayLike) -> ArrayLike:
    """Map DEAM dynamic ratings ([-1, 1]) to [0, 1]."""
    return (np.asarray(x, dtype=float) + 1.0) / 2.0 if isinstance(x, np.ndarray) else (float(x) + 1.0) / 2.0


def validate_emotion(valence: float, arousal: float) -> tuple[float, float]:
    """Return ``(valence, arousal)`` as floats, or raise naming the bad value and the valid range."""
    return (number_in_range(valence, "valence", 0.0, 1.0, error=EmotionValueError),
            number_in_range(arousal, "arousal", 0.0, 1.0, error=EmotionValueError))


def parse_emotion(text: str) -> tuple[float, float]:
    """Parse a preset name (``happy``) or a ``"V,A"`` pair on the [0, 1] scale."""
    key = str(text).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    parts = key.split(",")
    if len(parts) != 2:
        raise EmotionValueError(
            f"emotion {text!r} is neither a preset ({', '.join(PRESETS)}) nor a 'V,A' pair such as 0.8,0.3"
        )
    try:
        valence, arousal = float(parts[0]), float(parts[1])
    except ValueError:
        raise EmotionValueError(f"emotion {text!r}: both parts of 'V,A' must be numbers in [0, 1]") from None
    return validate_emotion(valence, arousal)


def quadrant(valence: float, arousal: float) -> str:
    """Name the preset whose quadrant (split at 0.5) holds this point."""
    high_v, high_a = valence >= 0.5, arousal >= 0.5
    return {(True, True): "happy", (False, True): "angry", (False, False): "sad", (True, False): "calm"}[
        (high_v, high_a)
    ]
