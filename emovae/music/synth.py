"""The three public synthesis functions: score -> waveform, emotion -> arrangement, emotion -> piano.

Mastering is shared: the voices are mixed with fixed balances, normalised to a target RMS (so
every emotion is equally loud to within a deliberate range: arousal places a piece between
-24 and -14 dBFS RMS), passed through a soft limiter (peak <= 0.99, never a hard clip) and
faded in/out over a few milliseconds so a piece never starts or stops with a click.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from emovae.checks import number_in_range
from emovae.emotion import EmotionValueError
from emovae.music.compose import Arrangement, compose
from emovae.music.controls import MusicControls
from emovae.music.events import NoteEvents, Score, Voice
from emovae.music.instruments import BASS, GM_PROGRAMS, PAD, PIANO, Instrument, get_instrument
from emovae.music.params import CurveLike, EmotionCurve, ParamSource
from emovae.music.render import render_drums, render_notes

MAX_SECONDS = 900.0  # 15 minutes: anything longer is almost certainly a unit mistake
PEAK_LIMIT = 0.99
LIMITER_THRESHOLD = 0.8
EDGE_FADE_S = 0.01

VOICE_GAINS: dict[Voice, float] = {Voice.MELODY: 1.0, Voice.HARMONY: 0.3, Voice.BASS: 0.75, Voice.PERCUSSION: 0.6}
ENSEMBLE: dict[Voice, Instrument] = {Voice.MELODY: PIANO, Voice.HARMONY: PAD, Voice.BASS: BASS}
PIANO_SOLO: dict[Voice, Instrument] = {Voice.MELODY: PIANO, Voice.HARMONY: PIANO, Voice.BASS: PIANO}


def create_musical_waveform(
    events: NoteEvents,
    sample_rate: int = 24_000,
    seconds: float | None = None,
    instruments: Mapping[Voice, Instrument | str] | None = None,
    loudness_db: float | None = -18.0,
    seed: int = 0,
) -> np.ndarray:
    """Render note events to mono float32 audio with additive oscillators and envelopes.

    ``seconds`` fixes the output length (default: until the last note has rung out);
    ``instruments`` maps each pitched :class:`Voice` to an instrument (default: piano melody, pad
    harmony, bass); percussion is always the drum synthesiser. ``loudness_db`` is the target RMS
    in dBFS (None: leave the level alone, only limit). ``seed`` drives the drum noise.
    """
    if sample_rate < 8000:
        raise ValueError(f"sample_rate={sample_rate} is too low; use at least 8000 Hz (24000 for EnCodec)")
    n_samples = _n_samples(seconds, sample_rate) if seconds is not None else int(np.ceil((events.end + 0.5) * sample_rate))
    chosen = {**ENSEMBLE, **{Voice(v): get_instrument(i) for v, i in (instruments or {}).items()}}
    mix = np.zeros(n_samples, dtype=np.float32)
    for voice in Voice:
        part = events.select(events.voice == voice)
        if not len(part):
            continue
        if voice == Voice.PERCUSSION:
            mix += VOICE_GAINS[voice] * render_drums(part, sample_rate, n_samples, seed=seed)
        else:
            mix += VOICE_GAINS[voice] * render_notes(part, chosen[voice], sample_rate, n_samples)
    return master(mix, sample_rate, loudness_db)


def create_melodic_music(
    valence: CurveLike | None = None,
    arousal: CurveLike | None = None,
    seconds: float = 10.0,
    seed: int = 0,
    controls: MusicControls | None = None,
    sample_rate: int = 24_000,
    instrument: str | Instrument = "piano",
    params: ParamSource | None = None,
) -> np.ndarray:
    """Melody (``instrument``) over pad harmony, bass and drums, for an emotion or for parameter curves.

    ``valence``/``arousal`` are numbers in [0, 1] or curves sampled uniformly over the piece
    (see :class:`~emovae.music.params.EmotionCurve`), mapped to music by the rules of
    :func:`~emovae.music.params.musical_params`; or pass ``params`` instead (e.g. a
    :class:`~emovae.music.params.ParamCurve`) to play parameters decided elsewhere. Returns exactly
    ``round(seconds * sample_rate)`` float32 samples in [-0.99, 0.99]; deterministic for a seed.
    """
    curve = _source(valence, arousal, seconds, params)
    return render_piece(curve, seed=seed, controls=controls, sample_rate=sample_rate, instrument=instrument).audio


def create_piano_melody(
    valence: CurveLike | None = None,
    arousal: CurveLike | None = None,
    seconds: float = 10.0,
    seed: int = 0,
    controls: MusicControls | None = None,
    sample_rate: int = 24_000,
    params: ParamSource | None = None,
) -> np.ndarray:
    """A solo piano piece: melody, chords and bass all on the modelled piano (no drums).

    The piano has slightly inharmonic partials (stiff strings), a filtered-noise hammer thump,
    per-partial exponential decay (upper partials die first, treble notes ring shorter) and
    damper release; harder (higher-arousal) strikes are louder and brighter. Emotion or ``params``
    as in :func:`create_melodic_music`.
    """
    curve = _source(valence, arousal, seconds, params)
    return render_piece(curve, style="piano", seed=seed, controls=controls, sample_rate=sample_rate).audio


STYLES = ("ensemble", "piano")


@dataclass
class Piece:
    """A rendered piece: the audio and the score it plays (for MIDI export and inspection)."""

    audio: np.ndarray
    score: Score
    sample_rate: int
    programs: dict[Voice, int]  # General MIDI program of each pitched voice (percussion is the GM kit)


def render_piece(
    source: ParamSource,
    style: str = "ensemble",
    seed: int = 0,
    controls: MusicControls | None = None,
    sample_rate: int = 24_000,
    instrument: str | Instrument = "piano",
) -> Piece:
    """Compose and render one piece from a :class:`~emovae.music.params.ParamSource`, keeping its score.

    ``style`` "ensemble" is :func:`create_melodic_music`'s arrangement (melody on ``instrument``),
    "piano" is :func:`create_piano_melody`'s. The two public functions are this call's audio.
    """
    if style not in STYLES:
        raise ValueError(f"style={style!r} is unknown; choose one of {', '.join(STYLES)}")
    _checked_seconds(source.seconds)
    if style == "piano":
        score = compose(source, seed=seed, controls=controls, arrangement=Arrangement(percussion=False))
        instruments = PIANO_SOLO
    else:
        score = compose(source, seed=seed, controls=controls)
        instruments = {**ENSEMBLE, Voice.MELODY: get_instrument(instrument)}
    audio = create_musical_waveform(score.events, sample_rate, source.seconds, instruments, _loudness(source), seed=seed)
    return Piece(audio, score, sample_rate, {voice: GM_PROGRAMS[i.name] for voice, i in instruments.items()})


def _source(valence: CurveLike | None, arousal: CurveLike | None, seconds: float, params: ParamSource | None) -> ParamSource:
    """An emotion (through the rules) or parameter curves given directly: exactly one of the two."""
    seconds = _checked_seconds(seconds)
    if params is not None:
        if valence is not None or arousal is not None:
            raise ValueError("pass either valence/arousal or params, not both")
        if abs(params.seconds - seconds) > 1e-6:
            raise ValueError(f"params cover {params.seconds:g} s but seconds={seconds:g}")
        return params
    if valence is None or arousal is None:
        raise EmotionValueError("valence and arousal are required (or pass params=)")
    return EmotionCurve(valence, arousal, seconds)


def master(mix: np.ndarray, sample_rate: int, loudness_db: float | None) -> np.ndarray:
    """Normalise to ``loudness_db`` RMS, soft-limit peaks to <= 0.99 and fade the edges; float32."""
    audio = np.asarray(mix, dtype=np.float32).copy()
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if loudness_db is not None and rms > 1e-9:
        audio *= np.float32(10.0 ** (loudness_db / 20.0) / rms)
    audio = soft_limit(audio)
    fade = min(int(EDGE_FADE_S * sample_rate), audio.size // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    return audio


def soft_limit(audio: np.ndarray, threshold: float = LIMITER_THRESHOLD, ceiling: float = PEAK_LIMIT) -> np.ndarray:
    """Leave samples below ``threshold`` untouched and bend the rest smoothly (tanh) under ``ceiling``."""
    magnitude = np.abs(audio)
    over = magnitude > threshold
    if not over.any():
        return audio
    knee = ceiling - threshold
    bent = threshold + knee * np.tanh((magnitude[over] - threshold) / knee)
    audio = audio.copy()
    audio[over] = np.sign(audio[over]) * bent.astype(np.float32)
    return audio


def _loudness(curve: ParamSource) -> float:
    """Target RMS (dBFS) for the piece: from its mean arousal, within the bounded dynamic range."""
    return float(np.mean(curve.params_at(np.linspace(0.0, curve.seconds, 65)).loudness_db))


def _checked_seconds(seconds: float) -> float:
    return number_in_range(seconds, "seconds", 0.0, MAX_SECONDS, low_open=True, error=EmotionValueError)


def _n_samples(seconds: float, sample_rate: int) -> int:
    return int(round(_checked_seconds(seconds) * sample_rate))
