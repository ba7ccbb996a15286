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


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray:
    """Equal-tempered frequency of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=float) - 69.0) / 12.0)
