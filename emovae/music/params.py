"""Emotion -> musical parameters: the one place where music psychology becomes numbers.

Every mapping is continuous and monotone so that a small move of a slider is a small, audible
move of the music, and so that an estimator built from audio features can invert it. The
findings encoded here (Gabrielsson & Lindstrom 2010; Juslin & Laukka 2004; Eerola et al. 2013;
Temperley & Tan 2013 on the brightness of the diatonic modes):

* arousal raises tempo, note density, loudness, attack sharpness and spectral brightness, and
  shortens articulation (legato when calm or sad, staccato when excited);
* valence moves the mode from dark (harmonic minor) through Dorian to major (Ionian), makes harmony
  more consonant and raises the register (and adds a little brightness and tempo);
* negative valence with high arousal ("angry", "afraid") adds tension: diminished and
  chromatic harmony, a lower register and even sharper attacks.

:func:`musical_params` is written with NumPy broadcasting, so it maps scalars and whole
emotion curves alike; :class:`EmotionCurve` turns scalars or sampled curves into values at
arbitrary times, which is how time-varying emotion (demo songs, generation trajectories)
reaches the composer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from emovae.emotion import EmotionValueError

CurveLike = Union[float, np.ndarray, Sequence[float]]

# Modal brightness ladder (darkest -> brightest), indexed by ``mode_level`` in [0, 4].
MODE_NAMES = ("harmonic_minor", "aeolian", "dorian", "mixolydian", "ionian")


@dataclass(frozen=True)
class MusicParams:
    """Musical parameters for one emotion (fields are floats, or arrays for a curve).

    Ranges: ``tempo_bpm`` 58..160; ``note_density`` melody notes per beat 0.75..3;
    ``velocity`` 0.45..0.95; ``loudness_db`` target RMS in dBFS -24..-14 (a bounded dynamic
    range: loudness is normalised, then arousal sets where in this range a piece sits);
    ``attack_s`` 0.003..0.06; ``legato`` sounding fraction of a note's slot, 1.05 (overlapping
    legato) .. 0.45 (staccato); ``mode_level`` 0..4 on :data:`MODE_NAMES`; ``dissonance``,
    ``tension``, ``brightness`` in [0, 1]; ``register`` melody centre as a MIDI pitch 53..74;
    ``percussion`` drum level in [0, 1] (none below moderate arousal).
    """

    valence: float | np.ndarray
    arousal: float | np.ndarray
    tempo_bpm: float | np.ndarray
    note_density: float | np.ndarray
    velocity: float | np.ndarray
    loudness_db: float | np.ndarray
    attack_s: float | np.ndarray
    legato: float | np.ndarray
    mode_level: float | np.ndarray
    dissonance: float | np.ndarray
    tension: float | np.ndarray
    brightness: float | np.ndarray
    register: float | np.ndarray
    percussion: float | np.ndarray


def musical_params(valence: CurveLike, arousal: CurveLike) -> MusicParams:
    """Map valence/arousal in [0, 1] (scalars or equal-length arrays) to :class:`MusicParams`."""
    v = _checked("valence", valence)
    a = _checked("arousal", arousal)
    tension = (1.0 - v) * a  # high only for negative valence AND high arousal
    fields = dict(
        tempo_bpm=58.0 + 92.0 * a + 10.0 * v,
        note_density=0.75 + 2.25 * a**1.2,
        velocity=0.45 + 0.5 * a,
        loudness_db=-24.0 + 10.0 * a,
        attack_s=0.003 + 0.057 * (1.0 - a) ** 2 * (1.0 - 0.5 * tension),
        legato=1.05 - 0.6 * a,
        mode_level=4.0 * v,
        dissonance=np.clip(0.35 * (1.0 - v) ** 1.5 + 0.65 * tension, 0.0, 1.0),
        tension=tension,
        brightness=np.clip(0.1 + 0.6 * a + 0.3 * v, 0.0, 1.0),
        register=55.0 + 17.0 * v + 2.0 * a - 4.0 * tension,
        percussion=np.clip((a - 0.3) / 0.7, 0.0, 1.0),
    )
    scalar = np.ndim(v) == 0 and np.ndim(a) == 0
    convert = (lambda x: float(x)) if scalar else (lambda x: np.asarray(x, dtype=float))
    return MusicParams(valence=convert(v), arousal=convert(a), **{k: convert(x) for k, x in fields.items()})


class EmotionCurve:
    """Valence/arousal over a piece, from scalars or sampled curves.

    A curve given as an array of ``n`` samples spans the piece uniformly, first sample at
    ``t = 0`` and last at ``t = seconds`` (so per-second values for a 10 s piece are 11 numbers,
    and ``np.linspace(a, b, n)`` is a trajectory from ``a`` to ``b``). Values between samples
    are linearly interpolated, which keeps time-varying emotion smooth.
    """

    def __init__(self, valence: CurveLike, arousal: CurveLike, seconds: float):
        if not np.isfinite(seconds) or seconds <= 0:
            raise EmotionValueError(f"seconds={seconds!r} must be a positive number of seconds")
        self.seconds = float(seconds)
        self._valence = np.atleast_1d(_checked("valence", valence)).astype(float)
        self._arousal = np.atleast_1d(_checked("arousal", arousal)).astype(float)

    def at(self, times: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Valence and arousal at ``times`` (seconds; clamped to the piece)."""
        t = np.clip(np.asarray(times, dtype=float), 0.0, self.seconds)
        return self._interp(self._valence, t), self._interp(self._arousal, t)

    def params_at(self, times: float | np.ndarray) -> MusicParams:
        """Musical parameters at ``times``."""
        return musical_params(*self.at(times))

    def mean(self) -> tuple[float, float]:
        """Time-averaged (valence, arousal): the piece's overall emotion."""
        grid = np.linspace(0.0, self.seconds, 257)
        v, a = self.at(grid)
        return float(np.mean(v)), float(np.mean(a))

    def _interp(self, samples: np.ndarray, t: np.ndarray) -> np.ndarray:
        if samples.size == 1:
            return np.full(t.shape, samples[0])
        knots = np.linspace(0.0, self.seconds, samples.size)
        return np.interp(t, knots, samples)


def _checked(name: str, value: CurveLike) -> float | np.ndarray:
    """Validate an emotion value or curve: finite, 1-D at most, inside [0, 1]."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EmotionValueError(f"{name}={value!r} is not a number or a curve of numbers in [0, 1]") from None
    if array.ndim > 1 or array.size == 0:
        raise EmotionValueError(f"{name} must be a number or a non-empty 1-D curve; got shape {array.shape}")
    bad = ~np.isfinite(array) | (array < 0.0) | (array > 1.0)
    if np.any(bad):
        first = array.flat[int(np.argmax(bad))]
        raise EmotionValueError(f"{name} value {first!r} is outside the valid range [0, 1] (NaN is not allowed)")
    return float(array) if array.ndim == 0 else array
