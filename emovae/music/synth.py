"""The three public synthesis functions: score -> waveform, emotion -> arrangement, emotion -> piano.

Two timbres play a score. ``"soundfont"`` (the default where it can load) plays General MIDI
instruments from a SoundFont (:mod:`emovae.music.soundfont`) and masters them through the mix
(:mod:`emovae.music.mix`: placement, room, bus compression, loudness in LUFS, limiter).
``"additive"`` is the dependency-free fallback (:mod:`emovae.music.render`); its mono output is
mastered as the engine was before the SoundFont, bit for bit (fixed balances, RMS target, tanh soft
limit), its stereo output goes through the mix, so on this timbre alone the mono render is not the
stereo master's fold-down. ``"auto"`` plays the SoundFont and, when none can be loaded, the additive
instruments, saying so once per process. Either way arousal places a piece's loudness between
-24 and -14 (``loudness_db``), peaks stay at or under 0.99 without a hard clip, and the edges fade
over a few milliseconds so a piece never starts or stops with a click.

Listening output is stereo (``channels=2``, shape ``(2, n)``, channel first as pedalboard and librosa
hold it); what feeds EnCodec and the descriptors is mono (``channels=1``, shape ``(n,)``): on the
SoundFont, the fold-down of the same mix (:func:`~emovae.music.mix.master_bus`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from emovae.checks import choice_of, number_in_range
from emovae.emotion import EmotionValueError
from emovae.music.compose import Arrangement, compose
from emovae.music.controls import MusicControls
from emovae.music.events import NoteEvents, Score, Voice
from emovae.music.instruments import BASS, GM_PROGRAMS, PAD, PIANO, Instrument, get_instrument
from emovae.music.mix import LinearStages, brightness_curve, finish_master, master_bus, master_rms, pan, placements
from emovae.music.params import CurveLike, EmotionCurve, ParamSource
from emovae.music.render import render_drums, render_notes
from emovae.music.soundfont import MAX_VOICES, SoundFontUnavailable, stream_soundfont

MAX_SECONDS = 900.0  # 15 minutes: anything longer is almost certainly a unit mistake
TIMBRES = ("auto", "soundfont", "additive")
CHANNELS = (1, 2)
STANDARD_KIT = 0  # General MIDI drum kit 0: what the percussion plays when no kit is given
SoundFontPath = str | os.PathLike | None

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
    *,
    channels: int = 1,
    timbre: str = "auto",
    soundfont: SoundFontPath = None,
    programs: Mapping[Voice, int] | None = None,
) -> np.ndarray:
    """Render note events to float32 audio: ``(n,)`` for ``channels=1``, ``(2, n)`` for ``channels=2``.

    ``seconds`` fixes the output length (default: until the last note has rung out);
    ``instruments`` maps each pitched :class:`Voice` to an additive instrument (default: piano melody,
    pad harmony, bass), whose General MIDI program the SoundFont plays unless ``programs`` names
    another; ``programs[Voice.PERCUSSION]`` is the drum kit (0 standard, 40 brushes).
    ``loudness_db`` is the loudness target (RMS in dBFS for the additive mono master, the same number
    in LUFS for the mix; None: leave the level alone, only limit). ``timbre`` is "soundfont",
    "additive" or "auto" (module docstring); ``soundfont`` a .sf2 path (default
    ``$EMOVAE_SOUNDFONT``, else the bundled General MIDI file). ``seed`` drives the drum noise.
    """
    if sample_rate < 8000:
        raise ValueError(f"sample_rate={sample_rate} is too low; use at least 8000 Hz (24000 for EnCodec)")
    n_samples = _n_samples(seconds, sample_rate) if seconds is not None else int(np.ceil((events.end + 0.5) * sample_rate))
    chosen = {**ENSEMBLE, **{Voice(v): get_instrument(i) for v, i in (instruments or {}).items()}}
    programs = {**gm_programs(chosen), **(programs or {})}
    return _render(events, sample_rate, n_samples, chosen, programs, loudness_db, seed, channels, timbre, soundfont)[0]


def create_melodic_music(
    valence: CurveLike | None = None,
    arousal: CurveLike | None = None,
    seconds: float = 10.0,
    seed: int = 0,
    controls: MusicControls | None = None,
    sample_rate: int = 24_000,
    instrument: str | Instrument = "piano",
    params: ParamSource | None = None,
    *,
    channels: int = 1,
    timbre: str = "auto",
    soundfont: SoundFontPath = None,
) -> np.ndarray:
    """Melody (``instrument``) over pad harmony, bass and drums, for an emotion or for parameter curves.

    ``valence``/``arousal`` are numbers in [0, 1] or curves sampled uniformly over the piece
    (see :class:`~emovae.music.params.EmotionCurve`), mapped to music by the rules of
    :func:`~emovae.music.params.musical_params`; or pass ``params`` instead (e.g. a
    :class:`~emovae.music.params.ParamCurve`) to play parameters decided elsewhere. Returns exactly
    ``round(seconds * sample_rate)`` float32 samples per channel in [-0.99, 0.99] (``(n,)`` mono or
    ``(2, n)`` stereo); deterministic for a seed. ``timbre``/``soundfont``: see
    :func:`create_musical_waveform`.
    """
    curve = _source(valence, arousal, seconds, params)
    return render_piece(curve, seed=seed, controls=controls, sample_rate=sample_rate, instrument=instrument,
                        channels=channels, timbre=timbre, soundfont=soundfont).audio


def create_piano_melody(
    valence: CurveLike | None = None,
    arousal: CurveLike | None = None,
    seconds: float = 10.0,
    seed: int = 0,
    controls: MusicControls | None = None,
    sample_rate: int = 24_000,
    params: ParamSource | None = None,
    *,
    channels: int = 1,
    timbre: str = "auto",
    soundfont: SoundFontPath = None,
) -> np.ndarray:
    """A solo piano piece: melody, chords and bass all on the piano (no drums).

    On the SoundFont, General MIDI program 0. The additive piano has slightly inharmonic partials
    (stiff strings), a filtered-noise hammer thump, per-partial exponential decay (upper partials die
    first, treble notes ring shorter) and damper release. On both, harder (higher-arousal) strikes
    are louder and brighter. Emotion, ``params`` and the other arguments as in
    :func:`create_melodic_music`.
    """
    curve = _source(valence, arousal, seconds, params)
    return render_piece(curve, style="piano", seed=seed, controls=controls, sample_rate=sample_rate,
                        channels=channels, timbre=timbre, soundfont=soundfont).audio


STYLES = ("ensemble", "piano")


@dataclass
class Piece:
    """A rendered piece: the audio, the score it plays (for MIDI export and inspection) and how it sounded.

    ``programs`` holds the General MIDI program of each voice (for :attr:`Voice.PERCUSSION`, the drum
    kit), which the SoundFont played and a MIDI file names; ``timbre`` is the timbre that actually
    played ("soundfont" or "additive": under "auto" the fallback shows here).
    """

    audio: np.ndarray
    score: Score
    sample_rate: int
    programs: dict[Voice, int]
    timbre: str


def render_piece(
    source: ParamSource,
    style: str = "ensemble",
    seed: int = 0,
    controls: MusicControls | None = None,
    sample_rate: int = 24_000,
    instrument: str | Instrument = "piano",
    *,
    channels: int = 1,
    timbre: str = "auto",
    soundfont: SoundFontPath = None,
    polyphony: int = MAX_VOICES,
) -> Piece:
    """Compose and render one piece from a :class:`~emovae.music.params.ParamSource`, keeping its score.

    ``style`` "ensemble" is :func:`create_melodic_music`'s arrangement (melody on ``instrument``, the
    drums on the kit the composer chose), "piano" is :func:`create_piano_melody`'s. The two public
    functions are this call's audio; ``channels``, ``timbre`` and ``soundfont`` as in
    :func:`create_musical_waveform`. ``polyphony``: the SoundFont's voice limit (default
    :data:`~emovae.music.soundfont.MAX_VOICES`, what the demo dataset and the calibration are rendered
    with; the listening path may ask for fewer, :mod:`emovae.generate.listening`).
    """
    if style not in STYLES:
        raise ValueError(f"style={style!r} is unknown; choose one of {', '.join(STYLES)}")
    n_samples = _n_samples(source.seconds, sample_rate)
    if style == "piano":
        score = compose(source, seed=seed, controls=controls, arrangement=Arrangement(percussion=False, comping=True))
        instruments = PIANO_SOLO
    else:
        score = compose(source, seed=seed, controls=controls)
        instruments = {**ENSEMBLE, Voice.MELODY: get_instrument(instrument)}
    programs = {**gm_programs(instruments), Voice.PERCUSSION: score.drum_kit}
    audio, played = _render(score.events, sample_rate, n_samples, instruments, programs, _loudness(source), seed,
                            channels, timbre, soundfont, polyphony)
    return Piece(audio, score, sample_rate, programs, played)


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


def _render(events: NoteEvents, sample_rate: int, n_samples: int, instruments: Mapping[Voice, Instrument],
            programs: Mapping[Voice, int], loudness_db: float | None, seed: int, channels: int, timbre: str,
            soundfont: SoundFontPath, polyphony: int = MAX_VOICES) -> tuple[np.ndarray, str]:
    """The audio of a score and the timbre that played it (the SoundFont, or the additive fallback)."""
    channels = choice_of(channels, "channels", CHANNELS)
    timbre = choice_of(timbre, "timbre", TIMBRES)
    if timbre != "additive":
        # The tilt and the room run on a second thread while the synth renders (LinearStages).
        stages = LinearStages(sample_rate, n_samples, brightness_curve(events, sample_rate, n_samples))
        try:
            with stages.in_background() as hand_over:
                stream_soundfont(placements(events), programs, sample_rate, n_samples, hand_over, soundfont, polyphony)
        except SoundFontUnavailable as error:
            if timbre == "soundfont":
                raise
            _warn_fallback(error)
        else:
            return finish_master(stages, loudness_db, channels), "soundfont"
    if channels == 1:  # mastered as before the SoundFont, bit for bit
        mix = np.zeros(n_samples, dtype=np.float32)
        for voice in Voice:
            part = events.select(events.voice == voice)
            if len(part):
                mix += VOICE_GAINS[voice] * _additive(part, voice, instruments, sample_rate, n_samples, seed)
        return master_rms(mix, sample_rate, loudness_db), "additive"
    bus = np.zeros((2, n_samples), dtype=np.float32)
    for place in placements(events):
        stem = _additive(place.events, place.voice, instruments, sample_rate, n_samples, seed)
        bus += pan(VOICE_GAINS[place.voice] * stem, place.position)
    return master_bus(bus, sample_rate, loudness_db, channels), "additive"


def _additive(part: NoteEvents, voice: Voice, instruments: Mapping[Voice, Instrument], sample_rate: int,
              n_samples: int, seed: int) -> np.ndarray:
    """One voice's notes on the additive instruments (percussion on the drum synthesiser), mono."""
    if voice == Voice.PERCUSSION:
        return render_drums(part, sample_rate, n_samples, seed=seed)
    return render_notes(part, instruments[voice], sample_rate, n_samples)


_WARNED: set[str] = set()


def _warn_fallback(error: SoundFontUnavailable) -> None:
    """Say once per process (per reason) that the additive instruments play because the SoundFont cannot."""
    message = f"{error}. Playing the additive instruments instead (timbre='additive' asks for them and silences this)."
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def gm_programs(instruments: Mapping[Voice, Instrument]) -> dict[Voice, int]:
    """Each pitched voice's General MIDI program (its additive instrument's) and the standard drum kit."""
    return {**{voice: GM_PROGRAMS[i.name] for voice, i in instruments.items()}, Voice.PERCUSSION: STANDARD_KIT}


def _loudness(curve: ParamSource) -> float:
    """Target RMS (dBFS) for the piece: from its mean arousal, within the bounded dynamic range."""
    return float(np.mean(curve.params_at(np.linspace(0.0, curve.seconds, 65)).loudness_db))


def _checked_seconds(seconds: float) -> float:
    return number_in_range(seconds, "seconds", 0.0, MAX_SECONDS, low_open=True, error=EmotionValueError)


def _n_samples(seconds: float, sample_rate: int) -> int:
    return int(round(_checked_seconds(seconds) * sample_rate))
