"""The composer: emotion (+ optional controls) -> a seeded score of note events.

One composer serves the whole project (demo dataset, synth renderer, app). It writes up to four
voices over a beat grid whose tempo follows the emotion curve:

* harmony — a four-bar, tonic-centred progression in the mode valence selects, struck once per
  bar when calm and pulsing up to eight times per bar when excited;
* bass — chord roots, from whole notes (calm) to driving eighths with octave jumps (excited);
* melody — a weighted random walk over the scale that prefers steps, lands on chord tones on
  strong beats, follows the control contour around the emotion's register, and takes
  chromatic neighbours under tension;
* percussion — kick/snare/hi-hat, only from moderate arousal upwards.

Everything is evaluated at each note's own onset time, so a moving emotion curve moves the music.
Each voice draws from its own seeded stream, so switching a voice off leaves the others unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from emovae.music.controls import CONTOUR_SEMITONES, DENSITY_RANGE, DYNAMICS_VELOCITY, MusicControls
from emovae.music.events import HIHAT, KICK, SNARE, KeyChange, NoteEvents, Score, Voice
from emovae.music.harmony import HIERARCHY, PROGRESSIONS, SCALES, chord_pitch_classes, choose_mode, voice_in_range
from emovae.music.params import CurveLike, EmotionCurve, MusicParams, ParamSource

BEATS_PER_BAR = 4
MELODY_STEPS_BEATS = np.array([2.0, 1.0, 0.5, 0.25])  # half, quarter, eighth, sixteenth notes
LOG_STEPS = np.log2(MELODY_STEPS_BEATS)
MIN_NOTE_S = 0.02
HARMONY_FLOOR = 48  # C3: chords below it turn to mud (and to noise for a chroma analysis)
TONAL_FOCUS = 3.0  # exponent on the tonal hierarchy: higher = melodies cling to tonic and fifth


@dataclass(frozen=True)
class Arrangement:
    """Which voices to write (the piano solo drops the drums)."""

    melody: bool = True
    harmony: bool = True
    bass: bool = True
    percussion: bool = True


@dataclass(frozen=True)
class Bar:
    """The harmonic plan of one bar."""

    start_beat: int
    mode: str
    root_degree: int
    chord: tuple[int, ...]  # semitones above the tonic


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
    streams = [np.random.default_rng([int(seed), stream]) for stream in range(5)]
    tonic = int(streams[0].integers(0, 12))  # pitch class; each voice picks its own octave
    grid = BeatGrid(curve)
    beat_params = curve.params_at(grid.times)
    bars = _plan_bars(grid, beat_params, streams[0])

    parts: list[tuple[NoteEvents, np.ndarray]] = []
    if arrangement.harmony:
        parts.append(_harmony(grid, bars, beat_params, tonic, streams[1]))
    if arrangement.bass:
        parts.append(_bass(grid, bars, beat_params, tonic))
    if arrangement.melody:
        parts.append(_melody(grid, bars, beat_params, controls, curve.seconds, tonic, streams[2]))
    if arrangement.percussion:
        parts.append(_percussion(grid, beat_params, streams[3]))
    keys = [KeyChange(float(grid.time(bar.start_beat)) if i else 0.0, tonic, bar.mode)
            for i, bar in enumerate(bars) if i == 0 or bar.mode != bars[i - 1].mode]
    return Score(_finish(parts, curve, controls), grid.times, keys, curve.seconds, BEATS_PER_BAR)


def _plan_bars(grid: BeatGrid, beat_params: MusicParams, rng: np.random.Generator) -> list[Bar]:
    bars = []
    progression_index = 0
    for bar_index, start in enumerate(range(0, max(grid.n_beats, 1), BEATS_PER_BAR)):
        if bar_index % 4 == 0:  # a new four-bar phrase picks a new progression
            progression_index = int(rng.integers(0, 3))
        mode = choose_mode(beat_params.mode_level[start], rng)
        root = PROGRESSIONS[mode][progression_index][bar_index % 4]
        chord = chord_pitch_classes(mode, root, beat_params.tension[start], beat_params.dissonance[start], rng)
        bars.append(Bar(start, mode, root, tuple(chord)))
    return bars


def _harmony(grid, bars, beat_params, tonic, rng) -> tuple[NoteEvents, np.ndarray]:
    """Block chords: one per bar when calm, pulsing 2/4/8 times per bar as arousal rises."""
    start, length, pitch, accent, legato = [], [], [], [], []
    for bar in bars:
        pulses = 2 ** int(round(3 * beat_params.activity[bar.start_beat]))
        low = max(int(round(beat_params.register[bar.start_beat])) - 14, HARMONY_FLOOR)
        chord = voice_in_range(list(bar.chord), tonic, low)
        for pulse in range(pulses):
            strength = 1.0 if pulse == 0 else (0.9 if pulse % 2 == 0 else 0.8)
            for p in chord:
                start.append(bar.start_beat + pulse * BEATS_PER_BAR / pulses), length.append(BEATS_PER_BAR / pulses)
                pitch.append(p), accent.append(strength), legato.append(min(beat_params.legato[bar.start_beat], 1.02))
    return _part_in_beats(grid, start, length, legato, pitch, accent, Voice.HARMONY)


def _bass(grid, bars, beat_params, tonic) -> tuple[NoteEvents, np.ndarray]:
    """Chord roots in the bass register; rhythm from whole notes (calm) to eighths (excited)."""
    start, length, pitch, accent, legato = [], [], [], [], []
    for bar in bars:
        a, tension = beat_params.activity[bar.start_beat], beat_params.tension[bar.start_beat]
        low = 33 - int(round(3 * tension))  # tension sinks the bass
        root = low + (tonic + bar.chord[0] - low) % 12
        notes_per_bar = 1 if a < 0.3 else 2 if a < 0.55 else 4 if a < 0.8 else 8
        for i in range(notes_per_bar):
            octave_jump = 12 if notes_per_bar == 8 and i % 2 == 1 else 0
            start.append(bar.start_beat + i * BEATS_PER_BAR / notes_per_bar), length.append(BEATS_PER_BAR / notes_per_bar)
            pitch.append(root + octave_jump), accent.append(1.0 if i == 0 else 0.85)
            legato.append(min(beat_params.legato[bar.start_beat] + 0.1, 1.02))
    return _part_in_beats(grid, start, length, legato, pitch, accent, Voice.BASS)


def _melody(grid, bars, beat_params, controls, seconds, tonic, rng) -> tuple[NoteEvents, np.ndarray]:
    """A weighted random walk over the current scale (see module docstring)."""
    contour, density, _ = controls.at(grid.times[: grid.n_beats] / seconds)
    positions, steps = [], []
    position = 0.0
    while position < grid.n_beats:  # rhythm first: where the notes fall
        beat = int(position)
        notes_per_beat = beat_params.note_density[beat] * np.interp(density[beat], [0, 1], DENSITY_RANGE)
        step = _melody_step(position, notes_per_beat, rng)
        if position % 2 == 0 or rng.random() > 0.07:  # an occasional off-beat rest lets phrases breathe
            positions.append(position), steps.append(step)
        position += step
    positions_a, steps_a = np.asarray(positions), np.asarray(steps)
    onset = np.asarray(grid.time(positions_a), dtype=float)
    slot = np.asarray(grid.time(positions_a + steps_a), dtype=float) - onset
    beats = positions_a.astype(int)

    pitch = np.empty(len(positions), dtype=float)
    previous = int(round(beat_params.register[0]))
    for i, (position, beat) in enumerate(zip(positions, beats)):  # then pitch: a walk that remembers
        bar = bars[min(beat // BEATS_PER_BAR, len(bars) - 1)]
        strong = position % 2 == 0
        centre = beat_params.register[beat] + CONTOUR_SEMITONES * float(contour[beat])
        previous = _next_pitch(previous, centre, bar, tonic, strong, beat_params.activity[beat], rng)
        pitch[i] = previous
        if not strong and rng.random() < 0.5 * beat_params.tension[beat]:
            pitch[i] += 1 if rng.random() < 0.5 else -1  # chromatic neighbour: tension
    accent = np.where(positions_a % BEATS_PER_BAR == 0, 1.1, np.where(positions_a % 2 == 0, 1.0, 0.9))
    return _part(onset, slot * beat_params.legato[beats], pitch, accent, Voice.MELODY)


def _melody_step(position: float, notes_per_beat: float, rng: np.random.Generator) -> float:
    """Note value in beats, drawn around ``1 / notes_per_beat`` and kept on the metric grid."""
    target = np.log2(1.0 / max(notes_per_beat, 1e-3))
    weights = np.exp(-0.5 * ((LOG_STEPS - target) / 0.45) ** 2) + 1e-6
    step = float(MELODY_STEPS_BEATS[_draw(weights, rng)])
    to_next_beat = np.ceil(position) - position
    if to_next_beat > 0 and step > to_next_beat:  # off the beat: come back onto it first
        step = float(to_next_beat)
    return step


def _next_pitch(previous: int, centre: float, bar: Bar, tonic: int, strong: bool, activity: float, rng) -> int:
    """Prefer small steps (wider leaps when active), stay near ``centre``, land on chord tones on strong beats."""
    candidates = np.arange(int(centre) - 10, int(centre) + 11)
    allowed = _pitch_class_mask(bar.mode, tonic, bar.chord if strong else None)[candidates % 12]
    if allowed.any():
        candidates = candidates[allowed]
    leap_scale = 2.0 + 4.0 * activity
    weights = np.exp(-np.abs(candidates - previous) / leap_scale - 0.5 * ((candidates - centre) / 5.0) ** 2)
    weights *= HIERARCHY[bar.mode][(candidates - tonic) % 12] ** TONAL_FOCUS  # favour stable tones
    weights[candidates == previous] *= 0.35  # avoid static repeated notes
    return int(candidates[_draw(weights, rng)])


@lru_cache(maxsize=256)
def _pitch_class_mask(mode: str, tonic: int, chord: tuple[int, ...] | None) -> np.ndarray:
    """Which of the 12 pitch classes are in the scale (or, on strong beats, in the chord)."""
    mask = np.zeros(12, dtype=bool)
    mask[[(tonic + step) % 12 for step in (chord if chord is not None else SCALES[mode])]] = True
    return mask


def _draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """Index drawn in proportion to ``weights`` (faster than ``rng.choice(p=...)`` for tiny arrays)."""
    cumulative = np.cumsum(weights)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"), weights.size - 1))


def _percussion(grid, beat_params, rng) -> tuple[NoteEvents, np.ndarray]:
    """A rock-style kit whose level (and hi-hat subdivision) grows with arousal; silent when calm."""
    start, pitch, accent = [], [], []
    for beat in range(grid.n_beats):
        level = beat_params.percussion[beat]
        if level <= 0:
            continue
        in_bar = beat % BEATS_PER_BAR
        hats = 4 if beat_params.activity[beat] > 0.85 else 2
        hits = [(0.0, KICK, 1.0)] if in_bar in (0, 2) else []
        if in_bar in (1, 3) and level > 0.2:
            hits.append((0.0, SNARE, 1.0))
        hits += [(i / hats, HIHAT, 0.8 if i else 0.9) for i in range(hats)]
        for offset, drum, strength in hits:
            start.append(beat + offset), pitch.append(drum)
            accent.append(strength * (0.35 + 0.65 * level) * rng.uniform(0.9, 1.0))
    onset = np.asarray(grid.time(np.asarray(start, dtype=float)), dtype=float)
    return _part(onset, np.full(len(start), 0.05), pitch, accent, Voice.PERCUSSION)


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


def _finish(parts: list[tuple[NoteEvents, np.ndarray]], curve: ParamSource, controls: MusicControls) -> NoteEvents:
    """Set velocity, brightness and attack from the emotion at each onset; drop notes past the end."""
    if not parts:
        return NoteEvents()
    events = NoteEvents.concatenate([NoteEvents(**{**vars(e), "velocity": acc}) for e, acc in parts])
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
