"""The music engine (base layer): emotion -> musical parameters -> note events -> waveform.

    params   valence/arousal (numbers or curves) -> MusicParams by the rules of music psychology;
             ParamCurve: parameters given directly (the model-driven renderer)
    compose  MusicParams (+ MusicControls) -> NoteEvents, seeded
    synth    NoteEvents -> audio: create_musical_waveform, create_melodic_music, create_piano_melody
             soundfont  General MIDI instruments (tinysoundfont), the default timbre
             render     the additive instruments, the fallback without a SoundFont
             mix        placement, room, bus compression, loudness in LUFS, limiter
"""

from emovae.music.compose import Arrangement, compose
from emovae.music.controls import MusicControls
from emovae.music.events import NoteEvents, Voice
from emovae.music.instruments import INSTRUMENTS, Instrument
from emovae.music.params import (
    KNOB_NAMES,
    PARAM_NAMES,
    PARAM_RANGES,
    EmotionCurve,
    MusicParams,
    ParamCurve,
    ParamSource,
    musical_params,
    params_from_knobs,
)
from emovae.music.synth import create_melodic_music, create_musical_waveform, create_piano_melody

__all__ = [
    "KNOB_NAMES",
    "PARAM_NAMES",
    "PARAM_RANGES",
    "ParamCurve",
    "ParamSource",
    "Arrangement",
    "EmotionCurve",
    "INSTRUMENTS",
    "Instrument",
    "MusicControls",
    "MusicParams",
    "NoteEvents",
    "Voice",
    "compose",
    "create_melodic_music",
    "create_musical_waveform",
    "create_piano_melody",
    "musical_params",
    "params_from_knobs",
]
