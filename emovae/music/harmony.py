"""Scales, chords and progressions: the tonal vocabulary that valence chooses from.

Valence picks a mode on a ladder of modal brightness (after Temperley & Tan 2013): harmonic minor,
Aeolian and Dorian are minor modes, Mixolydian and Ionian major ones. Harmonic minor sits at the
dark end because its raised seventh (the leading tone of the major V and of the diminished
vii chord) marks a minor key unmistakably; Phrygian, darker on paper, is left out because its
pitch set is that of a major key a major third below and so reads as major to listeners' key
sense and to key-profile estimators alike. Each mode has tonic-centred progressions (the tonic
chord opens and usually closes a phrase), because a clear tonic is what makes major versus minor
audible.
"""

from __future__ import annotations

import numpy as np

from emovae.music.params import MODE_NAMES

SCALES: dict[str, tuple[int, ...]] = {
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
}

# Four-bar progressions as 0-based scale degrees of the chord roots.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "harmonic_minor": ((0, 3, 4, 0), (0, 5, 4, 0), (0, 1, 4, 0)),
    "aeolian": ((0, 3, 0, 5), (0, 5, 3, 0), (0, 3, 6, 0)),
    "dorian": ((0, 3, 0, 6), (0, 3, 4, 0), (0, 6, 3, 0)),
    "mixolydian": ((0, 6, 3, 0), (0, 3, 6, 0), (0, 4, 6, 3)),
    "ionian": ((0, 3, 4, 0), (0, 4, 0, 3), (0, 5, 3, 4)),
}

# Tonal hierarchy (Krumhansl & Kessler 1982 probe-tone ratings), tonic first: how stable each pitch
# class sounds in a major or a minor key. Melodies that favour stable tones make their key, and so
# their mode, unambiguous to listeners and to key-profile estimators alike.
MAJOR_HIERARCHY = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_HIERARCHY = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
HIERARCHY: dict[str, np.ndarray] = {
    "harmonic_minor": MINOR_HIERARCHY,
    "aeolian": MINOR_HIERARCHY,
    "dorian": MINOR_HIERARCHY,
    "mixolydian": MAJOR_HIERARCHY,
    "ionian": MAJOR_HIERARCHY,
}

assert set(SCALES) == set(PROGRESSIONS) == set(MODE_NAMES) == set(HIERARCHY)


def choose_mode(mode_level: float, rng: np.random.Generator) -> str:
    """Pick one of the two modes around a continuous ``mode_level`` in [0, 4].

    The choice is random in proportion to the distance, so the *expected* brightness of a piece
    moves continuously with valence instead of jumping at fixed thresholds.
    """
    level = float(np.clip(mode_level, 0.0, len(MODE_NAMES) - 1))
    lower = int(np.floor(level))
    upper = min(lower + 1, len(MODE_NAMES) - 1)
    return MODE_NAMES[upper if rng.random() < level - lower else lower]


def scale_pitch(tonic: int, mode: str, degree: int) -> int:
    """MIDI pitch of an absolute scale degree (degree 0 = ``tonic``; 7 = the tonic an octave up)."""
    octave, step = divmod(int(degree), 7)
    return int(tonic) + 12 * octave + SCALES[mode][step]


def chord_pitch_classes(mode: str, root_degree: int, tension: float, dissonance: float, rng: np.random.Generator) -> list[int]:
    """Semitone offsets above the tonic of a triad on ``root_degree``, altered by tension/dissonance.

    Tension flattens the fifth (a diminished, tritone-based sonority); dissonance adds a minor
    second above the root (a cluster). Both are drawn at random with those probabilities, so
    calm/happy music stays triadic and angry music is mostly diminished and clustered.
    """
    scale = SCALES[mode]
    notes = [scale[(root_degree + step) % 7] + 12 * ((root_degree + step) // 7) for step in (0, 2, 4)]
    if rng.random() < tension:
        notes[2] = notes[0] + 6  # diminished fifth
    if rng.random() < 0.6 * dissonance:
        notes.append(notes[0] + 1)  # minor-second cluster
    return notes


def voice_in_range(offsets: list[int], tonic: int, low: int) -> list[int]:
    """Place chord offsets (semitones above the tonic) as MIDI pitches inside ``[low, low + 12)``."""
    return sorted(low + (tonic + off - low) % 12 for off in offsets)
