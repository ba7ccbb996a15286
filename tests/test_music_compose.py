"""The composer: seeded, emotion-driven, controllable by the (latent-derived) MusicControls."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.music import Arrangement, MusicControls, NoteEvents, Voice, compose
from emovae.music.harmony import SCALES

SECONDS = 12.0


def _melody(events: NoteEvents) -> NoteEvents:
    return events.select(events.voice == Voice.MELODY)


def _same(a: NoteEvents, b: NoteEvents) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in vars(a))


def test_same_seed_same_score_and_other_seed_another():
    assert _same(compose(0.3, 0.7, SECONDS, seed=5).events, compose(0.3, 0.7, SECONDS, seed=5).events)
    assert not _same(compose(0.3, 0.7, SECONDS, seed=5).events, compose(0.3, 0.7, SECONDS, seed=6).events)


def test_score_is_well_formed_and_inside_the_piece():
    events = compose(0.8, 0.9, SECONDS, seed=1).events
    assert len(events) > 50
    assert events.onset.min() >= 0 and events.onset.max() < SECONDS
    assert np.all(events.onset + events.duration <= SECONDS + 1e-9)
    assert np.all((events.velocity > 0) & (events.velocity <= 1))
    assert set(np.unique(events.voice)) == {int(v) for v in Voice}


def test_note_rate_rises_with_arousal():
    rates = [len(compose(0.5, a, SECONDS, seed=2).events) / SECONDS for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(rates) > 0), rates


def test_drums_only_when_aroused():
    assert not np.any(compose(0.5, 0.1, SECONDS, seed=0).events.voice == Voice.PERCUSSION)
    assert np.sum(compose(0.5, 0.9, SECONDS, seed=0).events.voice == Voice.PERCUSSION) > 20


def test_register_rises_with_valence():
    means = [np.mean([_melody(compose(v, 0.5, SECONDS, seed=s).events).pitch.mean() for s in range(3)]) for v in (0.0, 0.5, 1.0)]
    assert means[0] + 4 < means[1] < means[2] - 4, means


def test_valence_selects_major_or_minor_thirds():
    """Happy chords are built on the major third above the tonic, sad ones on the minor third."""

    def third_balance(valence: float) -> float:
        counts = np.zeros(12)
        for seed in range(3):
            events = compose(valence, 0.3, 30.0, seed=seed).events
            tonic = _tonic_of(events)
            harmony = events.select(events.voice == Voice.HARMONY)
            np.add.at(counts, ((harmony.pitch - tonic) % 12).astype(int), 1)
        return counts[4] - counts[3]

    assert third_balance(1.0) > 0 > third_balance(0.0)


def _tonic_of(events: NoteEvents) -> int:
    """The bass starts every piece on the tonic (first bar of every progression is the tonic chord)."""
    bass = events.select(events.voice == Voice.BASS)
    return int(bass.pitch[np.argmin(bass.onset)]) % 12


def test_angry_music_is_tense_with_diminished_and_chromatic_notes():
    def out_of_scale_fraction(valence: float, arousal: float) -> float:
        fractions = []
        for seed in range(3):
            events = compose(valence, arousal, SECONDS, seed=seed).events
            tonic = _tonic_of(events)
            pitched = events.select(events.voice != Voice.PERCUSSION)
            in_scale = np.isin((pitched.pitch - tonic) % 12, SCALES["ionian"])
            fractions.append(1 - in_scale.mean())
        return float(np.mean(fractions))

    assert out_of_scale_fraction(0.0, 1.0) > out_of_scale_fraction(1.0, 1.0) + 0.2


def test_time_varying_emotion_moves_the_music():
    rising = compose(np.linspace(0, 1, 21), np.linspace(0, 1, 21), 20.0, seed=4).events
    early, late = rising.onset < 7, rising.onset > 13
    assert late.sum() > 2 * early.sum()  # arousal rises -> more notes
    melody = _melody(rising)
    assert melody.pitch[melody.onset > 13].mean() > melody.pitch[melody.onset < 7].mean() + 5  # valence -> register


def test_controls_shape_contour_density_and_dynamics():
    n = 5

    def make(contour=0.0, density=0.5, dynamics=0.0):
        return MusicControls(contour=np.full(n, contour), density=np.full(n, density), dynamics=np.full(n, dynamics))

    low, high = _melody(compose(0.5, 0.5, SECONDS, seed=7, controls=make(contour=-1)).events), _melody(
        compose(0.5, 0.5, SECONDS, seed=7, controls=make(contour=1)).events)
    assert high.pitch.mean() > low.pitch.mean() + 7
    sparse = _melody(compose(0.5, 0.5, SECONDS, seed=7, controls=make(density=0)).events)
    busy = _melody(compose(0.5, 0.5, SECONDS, seed=7, controls=make(density=1)).events)
    assert len(busy) > 1.4 * len(sparse)
    soft = _melody(compose(0.5, 0.5, SECONDS, seed=7, controls=make(dynamics=-1)).events)
    loud = _melody(compose(0.5, 0.5, SECONDS, seed=7, controls=make(dynamics=1)).events)
    assert loud.velocity.mean() > soft.velocity.mean() + 0.15


def test_controls_are_range_checked():
    with pytest.raises(ValueError, match="density"):
        MusicControls(contour=np.zeros(3), density=np.array([0.5, 1.5, 0.5]), dynamics=np.zeros(3))


def test_switching_a_voice_off_leaves_the_others_unchanged():
    full = compose(0.6, 0.8, SECONDS, seed=9).events
    no_drums = compose(0.6, 0.8, SECONDS, seed=9, arrangement=Arrangement(percussion=False)).events
    assert not np.any(no_drums.voice == Voice.PERCUSSION)
    assert _same(_melody(full), _melody(no_drums))
