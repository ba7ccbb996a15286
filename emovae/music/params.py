"""Emotion -> musical parameters: the one place where music psychology becomes numbers.

Every mapping is continuous and monotone so that a small move of a slider is a small, audible
move of the music, and so that an estimator built from audio features can invert it. The
findings encoded here (Gabrielsson & Lindstrom 2010; Juslin & Laukka 2004; Eerola et al. 2013;
Temperley & Tan 2013 on the brightness of the diatonic modes):

* arousal raises tempo, note density, loudness, attack sharpness and spectral brightness, and
  shortens articulation (legato when calm or sad, staccato when excited);
* valence moves the mode from dark (harmonic minor) through Dorian to major (Ionian), makes harmony
  more consonant and raises the register (and adds brightness and a little tempo): most brightness
  when arousal is low, where a tender piece and a sad one share a slow tempo, few notes and soft
  dynamics and the timbre (bright and clear against dull and dark) is the cue left to tell them apart;
* negative valence with high arousal ("angry", "afraid") adds tension: diminished and
  chromatic harmony, a lower register and even sharper attacks.

:func:`musical_params` is written with NumPy broadcasting, so it maps scalars and whole
emotion curves alike; :class:`EmotionCurve` turns scalars or sampled curves into values at
arbitrary times, which is how time-varying emotion (demo songs, the ``rules`` renderer) reaches
the composer.

The composer itself never sees an emotion: it reads a :class:`ParamSource` (anything with
``seconds`` and ``params_at(times)``). :class:`ParamCurve` is the other source: parameter curves
given directly, which is how the model-driven ``synth`` renderer plays what the score decoder read
off a generated latent, with no emotion in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence, Union

import numpy as np

from emovae.emotion import EmotionValueError

CurveLike = Union[float, np.ndarray, Sequence[float]]

# Extra brightness valence adds at arousal 0 (none at 1): brightness spans 0.1..0.9 over valence when calm,
# 0.7..1 when excited. Without it the calm end's valence rests on the register and the mode alone, and an
# estimator fitted on the demo songs read calm and sad clips too close together (test R^2 for valence 0.62;
# 0.69 with this term, rules valence rho 0.949 -> 0.964: benchmarks/bench_readability.py).
VALENCE_BRIGHTNESS_WHEN_CALM = 0.5

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

    The rhythmic *activity* the arrangement uses (the piano's chord pulses and the pad's level, the
    bass rhythm, melodic leaps) is a function of ``note_density`` (:attr:`activity`), so it needs no
    emotion either.
    """

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

    @property
    def activity(self) -> float | np.ndarray:
        """Rhythmic activity in [0, 1]: ``note_density`` read back on its own 0.75..3 scale."""
        return activity_of(self.note_density)


def activity_of(note_density: CurveLike) -> np.ndarray:
    """Rhythmic activity in [0, 1] of a ``note_density`` (the inverse of the rules' ``0.75 + 2.25 a^1.2``)."""
    return np.clip((np.asarray(note_density, dtype=float) - 0.75) / 2.25, 0.0, 1.0) ** (1.0 / 1.2)


PARAM_NAMES: tuple[str, ...] = tuple(
    f for f in MusicParams.__dataclass_fields__  # the knobs, in declaration order
)
# The range of every knob (what musical_params can produce): a ParamCurve is clipped into it, so a
# parameter read off a latent can never ask the engine for something it cannot play.
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "tempo_bpm": (58.0, 160.0),
    "note_density": (0.75, 3.0),
    "velocity": (0.45, 0.95),
    "loudness_db": (-24.0, -14.0),
    "attack_s": (0.003, 0.06),
    "legato": (0.45, 1.05),
    "mode_level": (0.0, 4.0),
    "dissonance": (0.0, 1.0),
    "tension": (0.0, 1.0),
    "brightness": (0.0, 1.0),
    "register": (53.0, 74.0),
    "percussion": (0.0, 1.0),
}


# The engine's independent knobs, the ones a source such as the model path sets (through the calibration,
# from the musical descriptors of emovae.analysis.descriptors). The other parameters follow from them
# (params_from_knobs), as they do in the rules. Tension is not a knob: the engine's own sound does not
# identify it (the calibration's cross-validated R^2 for it was -0.06), so read off a latent it came out
# near its average, ~0.5, for every piece, and every lively one, happy included, got the tense (angry)
# groove and its dominant-ninth harmony. It follows the darkness of the mode and the activity instead,
# exactly as the rules couple them ((1 - valence) x arousal).
KNOB_NAMES: tuple[str, ...] = (
    "tempo_bpm", "note_density", "loudness_db", "brightness", "mode_level", "register", "legato", "percussion",
)


def params_from_knobs(knobs: Mapping[str, CurveLike]) -> dict[str, np.ndarray]:
    """The :data:`KNOB_NAMES` (numbers or equal-length curves) -> every :data:`PARAM_NAMES` entry.

    Tension is the darkness of the mode times the rhythmic activity; velocity follows loudness, the
    attack follows articulation (legato notes swell, staccato ones strike) and dissonance follows
    tension and the darkness of the mode: the couplings the rules make through valence and arousal,
    written without them.
    """
    k = {name: np.clip(np.asarray(knobs[name], dtype=float), *PARAM_RANGES[name]) for name in KNOB_NAMES}
    loud = (k["loudness_db"] - PARAM_RANGES["loudness_db"][0]) / 10.0
    smooth = (k["legato"] - PARAM_RANGES["legato"][0]) / 0.6
    dark = 1.0 - k["mode_level"] / 4.0
    tension = dark * activity_of(k["note_density"])
    return {
        **k,
        "tension": tension,
        "velocity": 0.45 + 0.5 * loud,
        "attack_s": 0.003 + 0.057 * smooth**2 * (1.0 - 0.5 * tension),
        "dissonance": np.clip(0.35 * dark**1.5 + 0.65 * tension, 0.0, 1.0),
    }


class ParamSource(Protocol):
    """What the composer reads: a length and the musical parameters at any times."""

    seconds: float

    def params_at(self, times: float | np.ndarray) -> MusicParams: ...


def musical_params(valence: CurveLike, arousal: CurveLike) -> MusicParams:
    """Map valence/arousal in [0, 1] (scalars or equal-length arrays) to :class:`MusicParams`."""
    v = _checked("valence", valence)
    a = _checked("arousal", arousal)
    tension = (1.0 - v) * a  # high only for negative valence AND high arousal
    knobs = dict(
        tempo_bpm=58.0 + 92.0 * a + 10.0 * v,
        note_density=0.75 + 2.25 * a**1.2,
        loudness_db=-24.0 + 10.0 * a,
        brightness=np.clip(0.1 + 0.6 * a + 0.3 * v + VALENCE_BRIGHTNESS_WHEN_CALM * v * (1.0 - a), 0.0, 1.0),
        mode_level=4.0 * v,
        register=55.0 + 17.0 * v + 2.0 * a - 4.0 * tension,
        legato=1.05 - 0.6 * a,
        percussion=np.clip((a - 0.3) / 0.7, 0.0, 1.0),
    )
    fields = params_from_knobs(knobs)  # tension, velocity, attack and dissonance follow the knobs as in any source
    scalar = np.ndim(v) == 0 and np.ndim(a) == 0
    convert = (lambda x: float(x)) if scalar else (lambda x: np.asarray(x, dtype=float))
    return MusicParams(**{k: convert(x) for k, x in fields.items()})


class ParamCurve:
    """Musical parameters given directly as curves over a piece (no emotion involved).

    ``curves`` maps every name in :data:`PARAM_NAMES` to a number or a 1-D array sampled uniformly
    over the piece (first sample at ``t = 0``, last at ``t = seconds``, like :class:`EmotionCurve`).
    Values are clipped into :data:`PARAM_RANGES`.
    """

    def __init__(self, curves: Mapping[str, CurveLike], seconds: float):
        if not np.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"seconds={seconds!r} must be a positive number of seconds")
        missing = sorted(set(PARAM_NAMES) - set(curves))
        unknown = sorted(set(curves) - set(PARAM_NAMES))
        if missing or unknown:
            raise ValueError(f"ParamCurve needs exactly {list(PARAM_NAMES)}; missing {missing}, unknown {unknown}")
        self.seconds = float(seconds)
        self.curves: dict[str, np.ndarray] = {}
        for name in PARAM_NAMES:
            values = np.atleast_1d(np.asarray(curves[name], dtype=float))
            if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
                raise ValueError(f"ParamCurve {name!r} must be a non-empty finite 1-D curve; got {values!r}")
            self.curves[name] = np.clip(values, *PARAM_RANGES[name])

    def params_at(self, times: float | np.ndarray) -> MusicParams:
        t = np.clip(np.asarray(times, dtype=float), 0.0, self.seconds)
        return MusicParams(**{name: _sampled_at(values, t, self.seconds) for name, values in self.curves.items()})

    @classmethod
    def from_knobs(cls, knobs: Mapping[str, CurveLike], seconds: float) -> "ParamCurve":
        """A curve from the :data:`KNOB_NAMES` (see :func:`params_from_knobs`)."""
        return cls(params_from_knobs(knobs), seconds)

    @classmethod
    def from_emotion(cls, curve: "EmotionCurve", n_points: int = 65) -> "ParamCurve":
        """The rules' parameters of an emotion curve, sampled (lets tests compare the two sources)."""
        params = curve.params_at(np.linspace(0.0, curve.seconds, n_points))
        return cls({name: getattr(params, name) for name in PARAM_NAMES}, curve.seconds)


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
        return _sampled_at(self._valence, t, self.seconds), _sampled_at(self._arousal, t, self.seconds)

    def params_at(self, times: float | np.ndarray) -> MusicParams:
        """Musical parameters at ``times``."""
        return musical_params(*self.at(times))

    def mean(self) -> tuple[float, float]:
        """Time-averaged (valence, arousal): the piece's overall emotion."""
        grid = np.linspace(0.0, self.seconds, 257)
        v, a = self.at(grid)
        return float(np.mean(v)), float(np.mean(a))


def _sampled_at(samples: np.ndarray, t: np.ndarray, seconds: float) -> np.ndarray:
    """A curve sampled uniformly over ``[0, seconds]`` (a single sample is constant), read at times ``t``."""
    if samples.size == 1:
        return np.full(t.shape, samples[0])
    return np.interp(t, np.linspace(0.0, seconds, samples.size), samples)


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
