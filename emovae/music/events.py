"""Note events: the score that sits between the composer and the synthesiser.

A piece is a handful of hundreds of notes, so it is kept as parallel NumPy arrays (one entry per
note) rather than a list of objects: the renderer then computes every note of a voice in one
vectorised pass, and slicing/filtering a score is a boolean mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum

import numpy as np


class Voice(IntEnum):
    """The role of a note in the arrangement; each voice is rendered with its own instrument."""

    MELODY = 0
    HARMONY = 1
    BASS = 2
    PERCUSSION = 3  # ``pitch`` then names the drum with General MIDI numbers (36 kick, 38 snare, 42 hat)


KICK, SNARE, HIHAT = 36, 38, 42


@dataclass
class NoteEvents:
    """Notes as parallel arrays (seconds, MIDI pitch, velocity in (0, 1], :class:`Voice`).

    ``brightness`` (0..1, timbre) and ``attack_s`` carry the emotion's articulation per note, so a
    piece whose arousal changes over time also changes how its notes are struck.
    """

    onset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pitch: np.ndarray = field(default_factory=lambda: np.zeros(0))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    voice: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    brightness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    attack_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        lengths = {name: a.shape for name, a in arrays.items()}
        if len({a.shape for a in arrays.values()}) != 1 or any(a.ndim != 1 for a in arrays.values()):
            raise ValueError(f"NoteEvents arrays must be 1-D and of equal length; got shapes {lengths}")
        for name, array in arrays.items():
            dtype = np.int8 if name == "voice" else float
            setattr(self, name, array.astype(dtype, copy=False))
        if np.any(self.duration <= 0) or np.any(self.onset < 0):
            raise ValueError("NoteEvents need onsets >= 0 and durations > 0")

    def __len__(self) -> int:
        return int(self.onset.size)

    def select(self, mask: np.ndarray) -> "NoteEvents":
        """The notes where ``mask`` is true (e.g. ``events.select(events.voice == Voice.MELODY)``)."""
        return NoteEvents(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @property
    def end(self) -> float:
        """Time at which the last note is released (0 for an empty score)."""
        return float(np.max(self.onset + self.duration)) if len(self) else 0.0

    @classmethod
    def concatenate(cls, parts: "list[NoteEvents]") -> "NoteEvents":
        """Join scores, sorted by onset (stable, so simultaneous notes keep their order)."""
        if not parts:
            return cls()
        joined = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        order = np.argsort(joined["onset"], kind="stable")
        return cls(**{name: array[order] for name, array in joined.items()})


@dataclass(frozen=True)
class KeyChange:
    """From ``time`` (seconds) on, the music is in ``mode`` on ``tonic`` (a pitch class, 0 = C)."""

    time: float
    tonic: int
    mode: str

    @property
    def is_major(self) -> bool:
        """Whether the mode has a major third (what a key signature and a listener call major)."""
        return self.mode in MAJOR_MODES


MAJOR_MODES = frozenset({"ionian", "mixolydian", "lydian"})


@dataclass
class Score:
    """A composed piece: its notes plus what a MIDI file or a DAW needs to read them as music.

    ``beat_times`` are the seconds of every beat of the (tempo-varying) 4/4 grid, starting at 0 and
    running past the end of the piece, so the tempo at beat ``i`` is ``60 / (beat_times[i+1] -
    beat_times[i])``; ``keys`` are the key changes, first at 0 (the composer changes key only at
    cadences); ``seconds`` is the piece's length, which the audio and the MIDI file both have;
    ``drum_kit`` is the General MIDI drum-kit program the percussion is written for (0 standard,
    16 power, 40 brushes), which the SoundFont renderer and the MIDI file both use.
    """

    events: NoteEvents
    beat_times: np.ndarray
    keys: list[KeyChange]
    seconds: float
    beats_per_bar: int = 4
    drum_kit: int = 0

    def __post_init__(self) -> None:
        self.beat_times = np.asarray(self.beat_times, dtype=float)
        if self.beat_times.ndim != 1 or self.beat_times.size < 2 or np.any(np.diff(self.beat_times) <= 0):
            raise ValueError("Score.beat_times must be an increasing 1-D array of at least two beats")
        if not self.keys or self.keys[0].time != 0.0:
            raise ValueError("Score.keys must start with the key at time 0")

    def tempo_bpm(self) -> np.ndarray:
        """Tempo of each beat interval (beats per minute)."""
        return 60.0 / np.diff(self.beat_times)

    def beats_at(self, seconds: np.ndarray | float) -> np.ndarray:
        """Fractional beat positions of times (inverse of the beat grid)."""
        return np.interp(seconds, self.beat_times, np.arange(self.beat_times.size, dtype=float))

    def key_at(self, seconds: float) -> KeyChange:
        """The key in force at a time."""
        current = self.keys[0]
        for change in self.keys:
            if change.time <= seconds + 1e-9:
                current = change
        return current


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray:
    """Equal-tempered frequency of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=float) - 69.0) / 12.0)
