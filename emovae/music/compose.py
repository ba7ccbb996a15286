"""The composer: emotion (+ optional controls) -> a seeded score of note events.

One composer serves the whole project (demo dataset, synth renderer, app). It writes up to four
voices over a beat grid whose tempo follows the parameter curve, in phrases:

* form — four-bar phrases paired into periods: an antecedent that ends on a half cadence and a
  consequent that repeats its opening and ends on the tonic; the mode is chosen once per phrase
  (the nearest to the valence's mode level), so it changes only at a cadence. Sections alternate (A, B, A, ...) every period, each with its own
  motif; a piece over :data:`LONG_FORM_S` gets an intro bar (harmony and bass alone) and an outro
  (the tonic held);
* harmony — the phrase's chords (:func:`~emovae.music.harmony.phrase_chords`: cadences, dominant
  sevenths and flat ninths, diminished sevenths, the flat sixth, suspensions that resolve) as open
  voicings led smoothly from chord to chord, always below the melody. On the ensemble's pad they are
  held for the bar; comped on a piano (the piano solo) they are struck once per bar when calm and
  pulse up to eight times per bar when excited;
* bass — chord roots and, between cadences, the inversion that moves least; from whole notes
  (calm) to driving eighths with octave jumps (excited);
* melody — a one-bar motif (rhythm from the note density, a contour of scale steps) stated,
  sequenced a step away, inverted, then closed on a stable degree (the second or fifth over a half
  cadence, the tonic or third over the final one); strong beats land on chord tones, the contour
  control moves it around the emotion's register, and tension adds chromatic neighbours;
* percussion — a groove per character, from the knobs alone: none when calm, brushes at low
  arousal, a syncopated pop beat with claps and an open hat when pleasant, a driving rock beat with
  doubled kicks and crashes when tense.

Everything is evaluated at each bar's or note's own time, so a moving parameter curve moves the
music; timing and velocity are humanised at the end. Each voice draws from its own seeded stream,
so switching a voice off leaves the others unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from emovae.music.controls import CONTOUR_SEMITONES, DENSITY_RANGE, DYNAMICS_VELOCITY, MusicControls
from emovae.music.events import KeyChange, NoteEvents, Score, Voice
from emovae.music.harmony import (
    CLOSE_GAP, HIERARCHY, MINOR_MODES, OPEN_GAP, SCALES, Chord, choose_mode, phrase_chords, scale_pitch, triad,
    voice_lead,
)
from emovae.music.params import CurveLike, EmotionCurve, MusicParams, ParamSource

BEATS_PER_BAR = 4
PHRASE_BARS = 4
LONG_FORM_S = 20.0  # pieces longer than this get an intro and an outro
MELODY_STEPS_BEATS = np.array([2.0, 1.0, 0.5, 0.25])  # half, quarter, eighth, sixteenth notes
LOG_STEPS = np.log2(MELODY_STEPS_BEATS)
MIN_NOTE_S = 0.02
MELODY_LIFT = 5  # the melody's centre sits this far above the ``register`` knob ...
CHORD_TOP_BELOW = 0  # ... and the chords' highest note this far below it, so the melody stays on top
MINOR_CHORD_TOP = 57  # A3: in the minor modes the chords reach at least this high (see _chord_top)
CHORD_BELOW_CENTRE = 5  # the chords' top stays this far under the melody's (contour-moved) centre
HARMONY_FLOOR = 43  # E2: an open voicing reaches no lower (below it chords turn to mud)
BASS_LOW = 33  # A1: the bass plays in the octave above this (a bass guitar's lowest string is E1, 28)
# The held pad (Arrangement.comping off): the least of its bar each chord sounds, and its level (an accent on
# the piece's velocity) from calm to excited (activity 0 -> 1). Why: a pad's slow attack never blooms on
# short notes, so the pad that pulsed staccato when excited sat 16-22 dB under the melody, while held when
# calm it sat ~5 dB over it (band energy 50 Hz - 4 kHz, 5 x 5 grid x 2 seeds). With that balance the pitch
# a listener hears moved: the energy-weighted register rose by half an octave or more from calm to excited
# at every valence, as much as valence moved it, and the estimator read arousal as valence. Held, the
# balance moves by ~3 dB (tests/test_music_soundfont.py). The level was chosen by three rebuilds (rules
# valence rho; model path over training seeds 0-2; roughness rho at arousal 0, equal-loudness /
# A-weighted), against 0.951, 0.940 +- 0.017 and -0.55 / -0.55 before:  1 -> 1: 0.969, 0.924 +- 0.004,
# -0.55 / -0.55;  0.8 -> 1: 0.967, 0.944 +- 0.011, -0.55 / -0.47;  0.6 -> 1: 0.965, 0.941 +- 0.011,
# -0.43 / -0.36.
PAD_LEGATO = 0.95
PAD_LEVEL = (0.8, 1.0)
REDRAW_RHYTHM = 0.6  # redraw a bar's rhythm when its density is this far (log2) from the motif's
TIMING_JITTER_S = 0.008  # humanised timing: sd of each note's shift (drums half of it)
VELOCITY_JITTER = 0.05  # humanised velocity: relative sd
CHROMATIC = 0.25  # chance (times tension) of a chromatic neighbour on a weak beat; at 0.5 angry clips blurred the key
SEMITONES_PER_STEP = 12.0 / 7.0  # a diatonic step on average
TONAL_FOCUS = 3.0  # exponent on the tonal hierarchy for passing notes: higher = they lean harder on tonic and fifth

# General MIDI drum numbers the grooves use.
KICK, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 39, 42, 44, 46, 49, 51
KIT_STANDARD, KIT_POWER, KIT_BRUSH = 0, 16, 40  # General MIDI drum-kit programs
BRUSH_LEVEL = 0.35  # below this percussion level the drums are brushes
TENSE_GROOVE = 0.4  # from this tension on the groove is the driving (angry) one


@dataclass(frozen=True)
class Arrangement:
    """Which voices to write (the piano solo drops the drums), and how the harmony is played.

    ``comping``: the chords are struck in rhythm (once per bar when calm, up to eight times when
    excited), as a piano comps; without it they are held for the bar (:data:`PAD_LEGATO`), as a
    pad is played (the ensemble's harmony voice).
    """

    melody: bool = True
    harmony: bool = True
    bass: bool = True
    percussion: bool = True
    comping: bool = False


@dataclass(frozen=True)
class Phrase:
    """A run of bars that ends on one cadence; ``section`` is "intro", "A", "B" or "outro"."""

    start_bar: int
    bars: int
    cadence: str  # "half" or "authentic" ("none" for the intro and outro)
    section: str
    period_start: bool  # first phrase of a period: states the motif (the consequent repeats it)


@dataclass(frozen=True)
class Bar:
    """The harmonic plan of one bar."""

    start_beat: int
    mode: str
    chord: Chord
    phrase: int  # index into the piece's phrases
    position: int  # bar within its phrase


class BeatGrid:
    """Beat times under a tempo that follows the emotion curve (tempo integrated over time)."""

    def __init__(self, curve: ParamSource, step_s: float = 0.02):
        horizon = curve.seconds + 2 * BEATS_PER_BAR * 60.0 / 58.0  # two slowest bars past the end
        t = np.arange(0.0, horizon, step_s)
        beats_per_s = curve.params_at(t).tempo_bpm / 60.0
        phase = np.concatenate([[0.0], np.cumsum(beats_per_s[:-1] * step_s)])
        self.times = np.interp(np.arange(int(phase[-1]) + 1), phase, t)
        self.n_beats = int(np.searchsorted(self.times, curve.seconds, side="left"))  # beats starting in the piece

    def time(self, beat: float | np.ndarray) -> np.ndarray | float:
        """Seconds at (possibly fractional) beat positions."""
        return np.interp(beat, np.arange(self.times.size), self.times)


def compose(
    valence: CurveLike | ParamSource,
    arousal: CurveLike | None = None,
    seconds: float = 10.0,
    seed: int = 0,
    controls: MusicControls | None = None,
    arrangement: Arrangement = Arrangement(),
) -> Score:
    """Compose ``seconds`` of music for an emotion (scalars or sampled curves, mapped by the rules of
    :func:`~emovae.music.params.musical_params`) or for a :class:`~emovae.music.params.ParamSource`
    (an :class:`EmotionCurve`, or a :class:`~emovae.music.params.ParamCurve` of parameters given directly).

    Deterministic for a given seed. Without ``controls`` the composer draws its own seeded ones.
    """
    curve = valence if hasattr(valence, "params_at") else EmotionCurve(valence, arousal, seconds)
    controls = controls if controls is not None else MusicControls.random(seed, curve.seconds)
    streams = [np.random.default_rng([int(seed), stream]) for stream in range(4)]
    tonic = int(streams[0].integers(0, 12))  # pitch class; each voice picks its own octave
    grid = BeatGrid(curve)
    beat_params = curve.params_at(grid.times)
    phrases = plan_phrases(grid.n_beats, curve.seconds)
    bars = _plan_bars(phrases, beat_params, streams[0])

    parts: list[tuple[NoteEvents, np.ndarray]] = []
    centres = _melody_centres(grid, bars, beat_params, controls, curve.seconds)
    voicings = _voicings(bars, beat_params, tonic, centres)
    if arrangement.harmony:
        parts.append(_harmony(grid, bars, voicings, beat_params, arrangement.comping))
    if arrangement.bass:
        parts.append(_bass(grid, bars, voicings, beat_params, tonic))
    if arrangement.melody:
        parts.append(_melody(grid, bars, phrases, voicings, beat_params, controls, curve.seconds, tonic, centres, streams[2]))
    kit = KIT_STANDARD
    if arrangement.percussion:
        drums, kit = _percussion(grid, bars, phrases, beat_params, streams[3])
        parts.append(drums)
    keys = [KeyChange(float(grid.time(bar.start_beat)) if i else 0.0, tonic, bar.mode)
            for i, bar in enumerate(bars) if i == 0 or bar.mode != bars[i - 1].mode]
    events = _finish(parts, curve, controls, seed)
    return Score(events, grid.times, keys, curve.seconds, BEATS_PER_BAR, drum_kit=kit)


def plan_phrases(n_beats: int, seconds: float) -> list[Phrase]:
    """The piece's phrases: periods of an antecedent (half cadence) and a consequent (authentic).

    A piece over :data:`LONG_FORM_S` opens with a one-bar intro and closes with a one-bar outro.
    The last phrase is shortened to fit and always ends authentically, so every piece, a short clip
    of one phrase included, ends on the tonic. Sections alternate A / B every period.
    """
    n_bars = max(1, -(-max(n_beats, 1) // BEATS_PER_BAR))
    long_form = seconds > LONG_FORM_S and n_bars >= 4
    phrases: list[Phrase] = []
    bar = 0
    if long_form:
        phrases.append(Phrase(0, 1, "none", "intro", False))
        bar = 1
    end = n_bars - 1 if long_form else n_bars
    index = 0
    while bar < end:
        length = min(PHRASE_BARS, end - bar)
        antecedent = index % 2 == 0
        final = bar + length >= end  # the piece's last phrase answers: it closes on the tonic
        cadence = "authentic" if (final or not antecedent) else "half"
        section = "AB"[(index // 2) % 2]
        phrases.append(Phrase(bar, length, cadence, section, antecedent))
        bar += length
        index += 1
    if long_form:
        phrases.append(Phrase(end, 1, "none", "outro", False))
    return phrases


def _plan_bars(phrases: list[Phrase], beat_params: MusicParams, rng: np.random.Generator) -> list[Bar]:
    """One mode per phrase (the nearest at its first beat) and the phrase's chords; intro and outro
    are the tonic in the neighbouring phrase's mode."""
    bars: list[Bar] = []
    modes = [choose_mode(beat_params.mode_level[p.start_bar * BEATS_PER_BAR]) for p in phrases]
    for index, phrase in enumerate(phrases):
        if phrase.section == "intro" and len(phrases) > 1:
            modes[index] = modes[index + 1]
        if phrase.section == "outro":
            modes[index] = modes[index - 1]
    for index, (phrase, mode) in enumerate(zip(phrases, modes)):
        start = phrase.start_bar * BEATS_PER_BAR
        if phrase.cadence == "none":
            chords = [Chord(triad(mode, 0), 0, None, f"{mode}:0")] * phrase.bars
        else:
            chords = phrase_chords(mode, phrase.cadence, float(beat_params.dissonance[start]), rng, phrase.bars)
        for position, chord in enumerate(chords):
            bars.append(Bar(start + position * BEATS_PER_BAR, mode, chord, index, position))
    return bars


def _melody_centres(grid, bars, beat_params, controls, seconds) -> list[float]:
    """Each bar's melodic centre: the register knob, lifted, moved by the contour control (the latent's line)."""
    contour, _, _ = controls.at(grid.times[[bar.start_beat for bar in bars]] / seconds)
    return [float(beat_params.register[bar.start_beat]) + MELODY_LIFT + CONTOUR_SEMITONES * float(c)
            for bar, c in zip(bars, contour)]


def _chord_top(beat_params: MusicParams, bar: Bar, centre: float) -> int:
    """The highest note a bar's chord may have. In the minor modes not below :data:`MINOR_CHORD_TOP`:
    a low close voicing is mud, and its thirds should be heard rubbing in the middle register rather
    than lost under the weighting of the ear. Never within :data:`CHORD_BELOW_CENTRE` of the bar's
    melodic centre, so a low contour takes the chords down with the melody instead of folding the
    melody up an octave."""
    top = int(round(beat_params.register[bar.start_beat])) - CHORD_TOP_BELOW
    top = max(top, MINOR_CHORD_TOP) if bar.mode in MINOR_MODES else top
    return min(top, int(np.floor(centre)) - CHORD_BELOW_CENTRE)


def _voicings(bars: list[Bar], beat_params: MusicParams, tonic: int,
              centres: list[float]) -> list[tuple[list[int], list[int] | None]]:
    """Each bar's voicing (and the suspended voicing that precedes it, if any), led from the last."""
    voicings, previous = [], None
    for bar, centre in zip(bars, centres):
        top = _chord_top(beat_params, bar, centre)
        suspended = None
        span = max(top - HARMONY_FLOOR, 9)
        gap = CLOSE_GAP if bar.mode in MINOR_MODES else OPEN_GAP
        if bar.chord.suspended is not None:  # the fourth (the tonic) falls to the chord's third
            suspended = voice_lead(_four_voices(bar.chord.suspended), tonic, top, previous, span, gap)
            third = bar.chord.tones[1]
            voicing = sorted(p - (p - tonic - third) % 12 if (p - tonic) % 12 == 0 else p for p in suspended)
        else:
            voicing = voice_lead(_four_voices(bar.chord.tones), tonic, top, previous, span, gap)
        voicings.append((voicing, suspended))
        previous = voicing
    return voicings


def _four_voices(tones: tuple[int, ...]) -> tuple[int, ...]:
    """At most four chord tones: a ninth chord drops its fifth, as pianists and arrangers voice it."""
    return tones if len(tones) < 5 else tones[:2] + tones[3:]


def _harmony(grid, bars, voicings, beat_params, comping: bool) -> tuple[NoteEvents, np.ndarray]:
    """The voicings, comped (one stroke per bar when calm, pulsing 2/4/8 times per bar as arousal
    rises) or held (see :class:`Arrangement`); a suspended chord sounds for the bar's first half and
    resolves in the second."""
    start, length, pitch, accent, legato = [], [], [], [], []
    for bar, (voicing, suspended) in zip(bars, voicings):
        activity, articulation = beat_params.activity[bar.start_beat], beat_params.legato[bar.start_beat]
        pulses = 2 ** int(round(3 * activity)) if comping else 1
        level = 1.0 if comping else PAD_LEVEL[0] + (PAD_LEVEL[1] - PAD_LEVEL[0]) * activity
        if suspended is not None:
            pulses = max(pulses, 2)  # the resolution needs a stroke of its own
        for pulse in range(pulses):
            at = pulse * BEATS_PER_BAR / pulses
            chord = suspended if suspended is not None and at < BEATS_PER_BAR / 2 else voicing
            strength = level * (1.0 if pulse == 0 else (0.9 if pulse % 2 == 0 else 0.8))
            for p in chord:
                start.append(bar.start_beat + at), length.append(BEATS_PER_BAR / pulses)
                pitch.append(p), accent.append(strength)
                legato.append(min(articulation if comping else max(articulation, PAD_LEGATO), 1.02))
    return _part_in_beats(grid, start, length, legato, pitch, accent, Voice.HARMONY)


def _bass(grid, bars, voicings, beat_params, tonic) -> tuple[NoteEvents, np.ndarray]:
    """The chord's bass below its voicing; between cadences the inversion that moves least."""
    start, length, pitch, accent, legato = [], [], [], [], []
    previous = None
    for bar, (voicing, _) in zip(bars, voicings):
        a, tension = beat_params.activity[bar.start_beat], beat_params.tension[bar.start_beat]
        low = BASS_LOW - int(round(3 * tension))  # tension sinks the bass; valence does not lift it
        options = [bar.chord.bass, bar.chord.tones[1] % 12] if bar.chord.invertible else [bar.chord.bass]
        candidates = [low + (tonic + pc - low) % 12 for pc in options]
        costs = [(abs(c - previous) if previous is not None else 0) + 3 * i for i, c in enumerate(candidates)]
        root = candidates[int(np.argmin(costs))]
        previous = root
        notes_per_bar = 1 if a < 0.3 else 2 if a < 0.55 else 4 if a < 0.8 else 8
        for i in range(notes_per_bar):
            octave_jump = 12 if notes_per_bar == 8 and i % 2 == 1 else 0
            start.append(bar.start_beat + i * BEATS_PER_BAR / notes_per_bar), length.append(BEATS_PER_BAR / notes_per_bar)
            pitch.append(root + octave_jump), accent.append(1.0 if i == 0 else 0.85)
            legato.append(min(beat_params.legato[bar.start_beat] + 0.1, 1.02))
    return _part_in_beats(grid, start, length, legato, pitch, accent, Voice.BASS)


@dataclass(frozen=True)
class Motif:
    """One bar of melody: where its notes fall (beats), how long, and the scale steps between them."""

    offsets: tuple[float, ...]
    lengths: tuple[float, ...]
    steps: tuple[int, ...]  # scale steps from the previous note (the first is from the bar's start degree)
    notes_per_beat: float


def _rhythm(notes_per_beat: float, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """A bar's note values drawn around ``1 / notes_per_beat``, kept on the metric grid."""
    offsets, lengths, position = [], [], 0.0
    target = np.log2(1.0 / max(notes_per_beat, 1e-3))
    weights = np.exp(-0.5 * ((LOG_STEPS - target) / 0.45) ** 2) + 1e-6
    while position < BEATS_PER_BAR - 1e-9:
        step = float(MELODY_STEPS_BEATS[_draw(weights, rng)])
        to_next_beat = np.ceil(position) - position
        if to_next_beat > 1e-9 and step > to_next_beat:  # off the beat: come back onto it first
            step = float(to_next_beat)
        step = min(step, BEATS_PER_BAR - position)
        if position % 2 == 0 or rng.random() > 0.07:  # an occasional off-beat rest lets phrases breathe
            offsets.append(position), lengths.append(step)
        position += step
    return offsets, lengths


def _new_motif(notes_per_beat: float, activity: float, rng: np.random.Generator) -> Motif:
    offsets, lengths = _rhythm(notes_per_beat, rng)
    leap = 0.15 + 0.35 * activity  # active music leaps more
    choices = np.array([-3, -2, -1, 1, 2, 3])
    weights = np.array([leap, 0.5, 1.0, 1.0, 0.5, leap])
    steps = [int(choices[_draw(weights, rng)]) for _ in offsets]
    steps[0] = 0
    while abs(sum(steps)) > 2:  # a motif returns near where it began, so repeating it does not climb away
        # Shrink one step that goes the way of the drift by one: the drift falls by one each time, so this
        # ends (flipping a step's sign instead could jump across the band for ever: [0, 3] <-> [0, -3]).
        drift = int(np.sign(sum(steps)))
        same_sign = [i for i, step in enumerate(steps) if step * drift > 0]
        steps[int(rng.choice(same_sign))] -= drift
    return Motif(tuple(offsets), tuple(lengths), tuple(steps), notes_per_beat)


def _melody(grid, bars, phrases, voicings, beat_params, controls, seconds, tonic, centres, rng) -> tuple[NoteEvents, np.ndarray]:
    """Motifs stated, varied and closed on cadences (see module docstring)."""
    _, density, _ = controls.at(grid.times[: max(grid.n_beats, 1)] / seconds)
    positions, lengths, pitches, accents = [], [], [], []
    motif: Motif | None = None
    opening: dict[int, int] = {}  # start degree of the antecedent's first two bars: the consequent repeats them
    degree = 0
    for index, (bar, centre) in enumerate(zip(bars, centres)):
        phrase = phrases[bar.phrase]
        beat = min(bar.start_beat, len(density) - 1)
        # above this bar's chords and the last bar's, whose legato tail still sounds under the downbeat
        floor = max(max(voicings[i][0] + (voicings[i][1] or [])) for i in range(max(index - 1, 0), index + 1)) + 2
        notes_per_beat = beat_params.note_density[bar.start_beat] * np.interp(density[beat], [0, 1], DENSITY_RANGE)
        activity = beat_params.activity[bar.start_beat]
        if phrase.section == "intro":
            continue
        if phrase.section == "outro":  # the tonic, held
            notes = [(0.0, float(BEATS_PER_BAR), _nearest_pitch(tonic, centre, floor), 1.0)]
        else:
            if motif is None or (bar.position == 0 and phrase.period_start):
                motif = _new_motif(notes_per_beat, activity, rng)
            elif abs(np.log2(notes_per_beat / motif.notes_per_beat)) > REDRAW_RHYTHM:  # the density moved
                motif = _new_motif(notes_per_beat, activity, rng)
            if not phrase.period_start and bar.position in opening:
                degree = opening[bar.position]
            else:
                degree = _start_degree(bar.position, degree, rng)
            if phrase.period_start and bar.position < 2:
                opening[bar.position] = degree
            drift = _contour_drift(grid, controls, seconds, bar.start_beat)
            notes = _realise(motif, bar, phrase, degree, tonic, centre, floor, beat_params.tension[bar.start_beat], drift, rng)
        for offset, length, pitch, accent in notes:
            positions.append(bar.start_beat + offset), lengths.append(length)
            pitches.append(max(pitch, floor)), accents.append(accent)
    beats = np.clip(np.asarray(positions, dtype=float).astype(int), 0, len(beat_params.legato) - 1)
    return _part_in_beats(grid, positions, lengths, np.asarray(beat_params.legato)[beats], pitches, accents, Voice.MELODY)


def _start_degree(position: int, previous: int, rng: np.random.Generator) -> int:
    """Where a bar of the motif starts: a phrase's first bar on a tonic-chord degree, later bars a
    sequence step away (up or down) from the last start, which is what makes a motif heard as one."""
    if position == 0:
        return int(rng.choice([0, 0, 2, 4]))  # the tonic most often: it names the key
    return (previous + int(rng.choice([-1, 1, 2]))) % 7


def _contour_drift(grid: BeatGrid, controls: MusicControls, seconds: float,
                   start_beat: int) -> Callable[[Sequence[float]], np.ndarray]:
    """Semitones the contour control has moved since the bar began, at beat offsets into the bar.

    All of a bar's offsets in one lookup (the bar's start with them): one scalar lookup per note was
    1540 ``np.interp`` calls per 10 s piece, 6.5 ms of the slider's ~110; the values are the same bits.
    """
    def drift(offsets: Sequence[float]) -> np.ndarray:
        beats = start_beat + np.concatenate([[0.0], np.asarray(offsets, dtype=float)])
        contour = controls.at(grid.time(beats) / seconds)[0]
        return CONTOUR_SEMITONES * (contour[1:] - contour[0])
    return drift


def _realise(motif: Motif, bar: Bar, phrase: Phrase, degree: int, tonic: int, centre: float, floor: int,
             tension: float, drift: Callable[[Sequence[float]], np.ndarray],
             rng: np.random.Generator) -> list[tuple[float, float, int, float]]:
    """The motif's notes in this bar: scale steps from ``degree``, chord tones on strong beats; the
    phrase's last bar closes on its cadence's stable degree with a long note."""
    last = bar.position == phrase.bars - 1
    steps = motif.steps if bar.position != 2 else tuple(-s for s in motif.steps)  # third bar: the inversion
    offsets, lengths = list(motif.offsets), list(motif.lengths)
    if last:  # cadence: the motif's head, then a long note on a stable degree
        head = [i for i, o in enumerate(offsets) if o < 2.0][:2] or [0]
        offsets = [offsets[i] for i in head]
        lengths = [min(lengths[i], 2.0 - offsets[i]) if offsets[i] < 2.0 else lengths[i] for i in head]
        close_at = max(2.0, offsets[-1] + lengths[-1])
        offsets.append(close_at), lengths.append(BEATS_PER_BAR - close_at)
        steps = steps[: len(head)] + (0,)
    notes = []
    # The bar starts on the scale step nearest ``centre`` among the motif's degree moved by a few steps:
    # the contour control (the latent's melodic line) then moves the melody semitone by semitone, not by
    # octaves, and one octave per bar keeps the motif's shape inside the bar.
    start = scale_pitch(tonic, bar.mode, degree)
    residual = centre - start - 12 * np.round((centre - start) / 12.0)
    current = degree + int(np.round(residual / SEMITONES_PER_STEP))
    octave = 12 * int(np.round((centre - scale_pitch(tonic, bar.mode, current)) / 12.0))
    chord_pcs = {(tonic + pc) % 12 for pc in bar.chord.tones}
    stability = np.roll(HIERARCHY[bar.mode], tonic)  # by pitch class: how stable each sounds in the key
    moved = 0  # scale steps the line has followed the contour within the bar
    drifts = drift(offsets)
    for i, (offset, length) in enumerate(zip(offsets, lengths)):
        current += steps[i] if i < len(steps) else 0
        follow = int(np.round(drifts[i] / SEMITONES_PER_STEP))  # the motif rides on the contour's line
        current, moved = current + follow - moved, follow
        if last and i == len(offsets) - 1:
            goal = (1, 4) if phrase.cadence == "half" else (0, 2)
            target = min(goal, key=lambda g: abs(((current - g) + 3) % 7 - 3))
            current = current - (((current - target) + 3) % 7 - 3)
        pitch = scale_pitch(tonic, bar.mode, current) + octave
        if not strong_or_long(offset, length):  # a passing note leans to the key's stable tones
            options = [current - 1, current, current + 1]
            weights = np.array([stability[scale_pitch(tonic, bar.mode, d) % 12] for d in options]) ** TONAL_FOCUS
            current = options[_draw(weights * np.array([0.3, 1.0, 0.3]), rng)]
            pitch = scale_pitch(tonic, bar.mode, current) + octave
        strong = offset % 2 == 0
        if strong_or_long(offset, length) and pitch % 12 not in chord_pcs and not (last and i == len(offsets) - 1):
            pitch = _nearest_chord_tone(pitch, chord_pcs, stability)
        elif not strong and rng.random() < CHROMATIC * tension:
            pitch += 1 if rng.random() < 0.5 else -1  # chromatic neighbour: tension
        if pitch > centre + drifts[i] + 10:  # keep the line within reach of its (moving) centre
            pitch -= 12
        if pitch < floor:  # never under the chords: the lowest scale tone above them
            pitch = next(p for p in range(floor, floor + 12) if (p - tonic) % 12 in SCALES[bar.mode])
        accent = 1.1 if offset == 0 else (1.0 if strong else 0.9)
        notes.append((offset, length, int(pitch), accent))
    return notes


def strong_or_long(offset: float, length: float) -> bool:
    """Notes the ear weighs: on a strong beat (one or three) or a beat long at least."""
    return offset % 2 == 0 or length >= 1.0


def _nearest_chord_tone(pitch: int, chord_pcs: set[int], stability: np.ndarray) -> int:
    """The chord tone within a minor third of ``pitch`` that the key hears as most stable (a step
    costs about as much as one rank on the tonal hierarchy): strong beats and long notes then
    spell the key's tonic triad whenever the chord allows, which is what makes its mode audible."""
    candidates = [pitch + d for d in range(-3, 4) if (pitch + d) % 12 in chord_pcs]
    if not candidates:
        return pitch
    return max(candidates, key=lambda p: stability[p % 12] - 0.5 * abs(p - pitch))


def _nearest_pitch(pitch_class: int, centre: float, floor: int) -> int:
    pitch = int(pitch_class + 12 * np.round((centre - pitch_class) / 12.0))
    return pitch + 12 if pitch < floor else pitch


def _draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """Index drawn in proportion to ``weights`` (faster than ``rng.choice(p=...)`` for tiny arrays)."""
    cumulative = np.cumsum(weights)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"), weights.size - 1))


def _percussion(grid, bars, phrases, beat_params, rng) -> tuple[tuple[NoteEvents, np.ndarray], int]:
    """The groove of each beat from the knobs at that beat (see module docstring) and the piece's kit."""
    start, pitch, accent = [], [], []
    levels = np.asarray(beat_params.percussion[: grid.n_beats])
    playing = levels > 0
    kit = KIT_STANDARD
    if playing.any():
        mean_level = float(levels[playing].mean())
        tense = float(np.asarray(beat_params.tension[: grid.n_beats])[playing].mean()) >= TENSE_GROOVE
        kit = KIT_BRUSH if mean_level < BRUSH_LEVEL else KIT_POWER if tense else KIT_STANDARD
    intro_beats = BEATS_PER_BAR if phrases and phrases[0].section == "intro" else 0
    for beat in range(intro_beats, grid.n_beats):
        level = beat_params.percussion[beat]
        if level <= 0:
            continue
        bar = bars[min(beat // BEATS_PER_BAR, len(bars) - 1)]
        in_bar = beat % BEATS_PER_BAR
        activity, tension = beat_params.activity[beat], beat_params.tension[beat]
        if phrases[bar.phrase].section == "outro":
            hits = [(0.0, KICK, 1.0), (0.0, CRASH, 0.9)] if in_bar == 0 else []
        elif level < BRUSH_LEVEL:
            hits = _brushes(in_bar)
        elif tension >= TENSE_GROOVE:
            hits = _driving(in_bar, activity, bar.position == 0 and in_bar == 0)
        else:
            hits = _pop(in_bar, activity, bar.position == 0 and in_bar == 0 and bar.phrase > 0)
        for offset, drum, strength in hits:
            start.append(beat + offset), pitch.append(drum)
            accent.append(strength * (0.35 + 0.65 * level) * rng.uniform(0.9, 1.0))
    onset = np.asarray(grid.time(np.asarray(start, dtype=float)), dtype=float)
    return _part(onset, np.full(len(start), 0.05), pitch, accent, Voice.PERCUSSION), kit


def _brushes(in_bar: int) -> list[tuple[float, int, float]]:
    """Brushes: a soft kick on one, the snare (brush slap) on two and four, a pedal hat on every beat."""
    hits = [(0.0, PEDAL_HAT, 0.5)]
    if in_bar == 0:
        hits.append((0.0, KICK, 0.6))
    if in_bar in (1, 3):
        hits.append((0.0, SNARE, 0.7))
    return hits


def _pop(in_bar: int, activity: float, crash: bool) -> list[tuple[float, int, float]]:
    """Pleasant: kick on one and three with a syncopated push, snare and clap on the backbeat,
    eighth (sixteenth when very active) hats opening on the last off-beat."""
    hats = 4 if activity > 0.85 else 2
    hits = [(i / hats, CLOSED_HAT, 0.8 if i else 0.9) for i in range(hats)]
    if in_bar == 3:
        hits[-1] = (hits[-1][0], OPEN_HAT, 0.8)
    if in_bar in (0, 2):
        hits.append((0.0, KICK, 1.0))
    if in_bar == 1:
        hits.append((0.5, KICK, 0.8))  # the push before the backbeat
    if in_bar in (1, 3):
        hits += [(0.0, SNARE, 0.95), (0.0, CLAP, 0.8)]
    if crash:
        hits.append((0.0, CRASH, 0.8))
    return hits


def _driving(in_bar: int, activity: float, crash: bool) -> list[tuple[float, int, float]]:
    """Tense: doubled kicks on one and three, a hard backbeat, straight hats (ride when very active),
    a crash on every phrase."""
    cymbal = RIDE if activity > 0.9 else CLOSED_HAT
    hats = 4 if activity > 0.7 else 2
    hits = [(i / hats, cymbal, 0.85 if i % 2 == 0 else 0.7) for i in range(hats)]
    if in_bar in (0, 2):
        hits += [(0.0, KICK, 1.0), (0.5, KICK, 0.9)]
    else:
        hits += [(0.0, SNARE, 1.0)]
        if activity > 0.8:
            hits.append((0.75, KICK, 0.8))
    if crash:
        hits.append((0.0, CRASH, 1.0))
    return hits


def _part_in_beats(grid, start, length, legato, pitch, accent, voice: Voice) -> tuple[NoteEvents, np.ndarray]:
    """Convert beat positions to seconds on the (tempo-varying) grid; sounding length = slot x legato."""
    start_a = np.asarray(start, dtype=float)
    onset = np.asarray(grid.time(start_a), dtype=float)
    slot = np.asarray(grid.time(start_a + np.asarray(length, dtype=float)), dtype=float) - onset
    return _part(onset, slot * np.asarray(legato, dtype=float), pitch, accent, voice)


def _part(onset, duration, pitch, accent, voice: Voice) -> tuple[NoteEvents, np.ndarray]:
    n = len(onset)
    events = NoteEvents(
        onset=np.asarray(onset, dtype=float),
        duration=np.asarray(duration, dtype=float),
        pitch=np.asarray(pitch, dtype=float),
        velocity=np.ones(n),
        voice=np.full(n, int(voice), dtype=np.int8),
        brightness=np.zeros(n),
        attack_s=np.zeros(n),
    )
    return events, np.asarray(accent, dtype=float)


def _finish(parts: list[tuple[NoteEvents, np.ndarray]], curve: ParamSource, controls: MusicControls,
            seed: int) -> NoteEvents:
    """Humanise, then set velocity, brightness and attack from the parameters at each onset; drop
    notes past the end.

    Humanising: each note moves by a few milliseconds (drums by half as much: a drummer is the
    clock) and its velocity by a few per cent, so repeated figures are not machine-identical. Each
    voice draws from its own stream, so switching one voice off leaves the others' timing alone.
    Onsets never move before 0.
    """
    if not parts:
        return NoteEvents()
    human = []
    for events, accent in parts:
        voice = int(events.voice[0]) if len(events) else 0
        rng = np.random.default_rng([int(seed), 16 + voice])
        shift = rng.normal(0.0, TIMING_JITTER_S * (0.5 if voice == Voice.PERCUSSION else 1.0), len(events))
        velocity = accent * (1.0 + rng.normal(0.0, VELOCITY_JITTER, len(events)))
        human.append(NoteEvents(**{**vars(events), "onset": np.maximum(events.onset + shift, 0.0), "velocity": velocity}))
    events = NoteEvents.concatenate(human)
    keep = events.onset < curve.seconds - MIN_NOTE_S  # a note must have time to sound
    events = events.select(keep)
    params = curve.params_at(events.onset)
    _, _, dynamics = controls.at(events.onset / curve.seconds)
    is_drum = events.voice == Voice.PERCUSSION
    velocity = np.where(is_drum, events.velocity, params.velocity * events.velocity + DYNAMICS_VELOCITY * dynamics)
    events.velocity = np.clip(velocity, 0.05, 1.0)
    events.duration = np.minimum(events.duration, curve.seconds - events.onset)
    events.brightness = np.asarray(params.brightness, dtype=float)
    events.attack_s = np.asarray(params.attack_s, dtype=float)
    return events
