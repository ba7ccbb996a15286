"""Scales, chords, cadences and voice leading: the tonal vocabulary that valence chooses from.

Valence picks a mode on a ladder of modal brightness (after Temperley & Tan 2013): harmonic minor,
Aeolian and Dorian are minor modes, Mixolydian and Ionian major ones. Harmonic minor sits at the
dark end because its raised seventh (the leading tone of the major V and of the diminished
vii chord) marks a minor key unmistakably; Phrygian, darker on paper, is left out because its
pitch set is that of a major key a major third below and so reads as major to listeners' key
sense and to key-profile estimators alike.

Harmony is planned a phrase at a time (:func:`phrase_chords`): four bars that open on the tonic and
close on a cadence, half (on V) for an antecedent and authentic (V - I) for a consequent, because a
clear tonic and cadences are what make a key, and so major versus minor, audible. Tension comes
from the devices that sound in tonal music (a dominant seventh with a flat ninth, the diminished
seventh, the flat sixth, a suspended fourth that resolves) instead of semitone clusters, which
mostly added noise; how often they appear follows the ``dissonance`` parameter (dark modes and
tense, negative emotions). :func:`voice_lead` then places each chord as an open voicing below the
melody that keeps common tones and moves the other voices by the smallest steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from emovae.music.params import MODE_NAMES

SCALES: dict[str, tuple[int, ...]] = {
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
}

# The middle two bars of a phrase (0-based scale degrees of the chord roots): tonic prolongations
# and pre-dominants that lead to the cadence in bars three and four. Mostly the subdominant side:
# the relative key's tonic (vi in major, III in minor) is avoided or comes last, because in a short
# clip two bars of it are enough for listeners and key finders to hear the relative key instead.
PHRASE_MIDDLES: dict[str, tuple[tuple[int, int], ...]] = {
    "harmonic_minor": ((3, 1), (5, 3), (3, 0), (0, 3)),
    "aeolian": ((3, 0), (5, 3), (3, 1), (3, 6)),
    "dorian": ((3, 0), (1, 3), (3, 6), (3, 1)),
    "mixolydian": ((3, 0), (6, 3), (3, 6), (0, 3)),
    "ionian": ((3, 1), (1, 3), (3, 0), (5, 3)),
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
MINOR_MODES = frozenset({"harmonic_minor", "aeolian", "dorian"})

assert set(SCALES) == set(PHRASE_MIDDLES) == set(MODE_NAMES) == set(HIERARCHY)

# The chord that leads home at a cadence: V everywhere but Mixolydian, whose minor v barely pulls to
# the tonic; its cadence is the flat seventh's major chord (bVII - I), the mode's own.
DOMINANT_DEGREE: dict[str, int] = {"harmonic_minor": 4, "aeolian": 4, "dorian": 4, "mixolydian": 6, "ionian": 4}

# Semitones at least between neighbouring voices: an open voicing (the major modes: the chord spread
# like root, fifth, third above, whose partials barely beat) or close position (the minor modes: the
# seventh against the root, thirds stacked low, the denser, rougher sound of sad and tense music).
OPEN_GAP = 5
CLOSE_GAP = 1


@dataclass(frozen=True)
class Chord:
    """One chord of the plan: pitch classes as semitones above the tonic, the bass's pitch class,
    and, for a suspension, the chord sounded first (the fourth in place of the third) that resolves.
    """

    tones: tuple[int, ...]
    bass: int
    suspended: tuple[int, ...] | None = None
    name: str = ""
    invertible: bool = False  # a pre-dominant (ii, IV, vi) may put its third in the bass; tonic and cadence chords may not

    @property
    def root(self) -> int:
        return self.tones[0]


def choose_mode(mode_level: float) -> str:
    """The mode nearest a continuous ``mode_level`` in [0, 4] on the ladder of :data:`MODE_NAMES`.

    The composer calls it once per phrase, so a mode holds until the next cadence. It is the nearest
    mode, not a draw between the two around the level: drawn once for a whole phrase, a random mode
    made every clip a coin toss between its neighbours (at valence 0.6, dorian or mixolydian for
    sixteen seconds). Rebuilt demo bundle, same seed: the model path's valence rho 0.887 with the draw,
    0.952 with the nearest mode (benchmarks/bench_emotion_control.py). Between modes, valence still
    moves the register, the brightness and the harmony's colour continuously.
    """
    level = float(np.clip(mode_level, 0.0, len(MODE_NAMES) - 1))
    return MODE_NAMES[int(np.floor(level + 0.5))]


def scale_pitch(tonic: int, mode: str, degree: int) -> int:
    """MIDI pitch of an absolute scale degree (degree 0 = ``tonic``; 7 = the tonic an octave up)."""
    octave, step = divmod(int(degree), 7)
    return int(tonic) + 12 * octave + SCALES[mode][step]


def triad(mode: str, degree: int) -> tuple[int, ...]:
    """The diatonic triad on a scale degree, as semitones above the tonic (root, third, fifth)."""
    scale = SCALES[mode]
    return tuple(scale[(degree + step) % 7] + 12 * ((degree + step) // 7) for step in (0, 2, 4))


def phrase_chords(mode: str, cadence: str, dissonance: float, rng: np.random.Generator, bars: int = 4) -> list[Chord]:
    """The chords of one phrase: tonic, two middle bars, then the cadence.

    ``cadence`` "half" ends on the dominant (an antecedent: the phrase asks a question), "authentic"
    puts the dominant on the last-but-one bar and the tonic on the last (the answer). ``dissonance``
    (0..1) is the chance of each tension device: the dominant gains a seventh and, in the minor
    modes, a flat ninth; a pre-dominant turns into the diminished seventh on the leading tone; the
    tonic's neighbour becomes the flat sixth; the dominant is first suspended (a fourth that
    resolves to the third within the bar). A phrase shorter than four bars keeps its opening tonic
    and its cadence: in a clip of two or three bars they are what names the key.
    """
    if cadence not in ("half", "authentic"):
        raise ValueError(f"cadence={cadence!r}; use 'half' or 'authentic'")
    middle = PHRASE_MIDDLES[mode][int(rng.integers(0, len(PHRASE_MIDDLES[mode])))]
    dominant = DOMINANT_DEGREE[mode]
    degrees = [0, middle[0], middle[1], dominant] if cadence == "half" else [0, middle[0], dominant, 0]
    if bars < 4:  # a short phrase keeps its tonic opening and its cadence (the dominant, and the tonic if authentic)
        short = {"half": {1: [0], 2: [0, dominant], 3: [0, middle[0], dominant]},
                 "authentic": {1: [0], 2: [dominant, 0], 3: [0, dominant, 0]}}
        degrees = short[cadence][bars]
    degrees += [0] * (bars - len(degrees))
    chords = []
    for index, degree in enumerate(degrees):
        last = index == len(degrees) - 1
        chords.append(_colour(mode, degree, dissonance, rng, cadential=last or degrees[index + 1 :] == [0]))
    return chords


def _colour(mode: str, degree: int, dissonance: float, rng: np.random.Generator, cadential: bool) -> Chord:
    """A diatonic chord on ``degree``, coloured by a tension device with probability ``dissonance``."""
    tones = triad(mode, degree)
    name = f"{mode}:{degree}"
    minor = mode in MINOR_MODES
    if degree == 4 and mode != "mixolydian":  # the dominant: major (the leading tone) in harmonic minor and
        tones = (7, 11, 14) if mode in ("harmonic_minor", "ionian") else triad(mode, 4)  # ionian, modal v elsewhere
        if rng.random() < 0.5 + 0.5 * dissonance:
            tones += (17,)  # dominant seventh
            name += "7"
            if minor and rng.random() < dissonance:
                tones += (20,)  # flat ninth: the sharpest tonal dissonance that still resolves
                name += "b9"
        suspended = None
        if rng.random() < 0.6 * dissonance:
            suspended = (tones[0], 12) + tones[2:]  # the fourth (tonic) in place of the third
            name += "sus"
        return Chord(tuple(tones), tones[0] % 12, suspended, name)
    if degree == 0:  # the tonic doubled: its chroma is what names the key (and so the mode) in a short clip
        return Chord(tones[:3] + (12,), 0, None, name)
    if cadential:
        return Chord(tones, tones[0] % 12, None, name)
    if degree in (1, 3) and rng.random() < dissonance:
        return Chord((11, 14, 17, 20), 11, None, f"{mode}:vii-dim7")  # leading-tone diminished seventh
    if degree == 5 and not minor and rng.random() < dissonance:
        return Chord((8, 12, 15), 8, None, f"{mode}:bVI")  # the flat sixth, borrowed from the minor
    return Chord(tones, tones[0] % 12, None, name, invertible=degree in (1, 3, 5))


def voice_lead(tones: tuple[int, ...], tonic: int, top: int, previous: list[int] | None, span: int = 19,
               min_gap: int = OPEN_GAP) -> list[int]:
    """Place a chord's pitch classes as a voicing whose highest note is at most ``top``.

    Every voicing inside ``[top - span, top]`` with one note per chord tone and neighbouring voices
    at least ``min_gap`` semitones apart is a candidate (:data:`OPEN_GAP` spreads the chord: no
    seconds or thirds stacked inside it; :data:`CLOSE_GAP` allows close position); the one that moves least from
    ``previous`` wins (common tones stay, other voices step), so the harmony flows instead of
    jumping in parallel blocks. Without a previous chord the voicing closest below ``top`` wins.
    """
    options = []
    for pc in tones:
        base = int(tonic) + int(pc)
        pitches = [p for p in range(top - span, top + 1) if (p - base) % 12 == 0]
        options.append(pitches)
    best, best_cost = None, np.inf
    for candidate in itertools.product(*options):
        voicing = sorted(candidate)
        gaps = np.diff(voicing)
        if len(voicing) > 1 and gaps.min() < min_gap:
            continue
        if previous:
            cost = _movement(voicing, previous)
        else:
            cost = float(top - voicing[-1]) + 0.1 * float(voicing[-1] - voicing[0])
        if cost < best_cost:
            best, best_cost = voicing, cost
    if best is None:  # the range is too tight for an open voicing: the closest close position
        best = sorted(options[i][-1] if options[i] else top - 12 for i in range(len(options)))
    return list(best)


def _movement(voicing: list[int], previous: list[int]) -> float:
    """Total semitones each voice moves to its nearest voice in the previous chord (common tones cost 0)."""
    prev = np.asarray(previous)
    return float(sum(np.min(np.abs(prev - p)) for p in voicing)) + 0.5 * abs(voicing[-1] - previous[-1])
