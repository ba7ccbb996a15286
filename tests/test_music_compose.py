"""The composer: seeded, emotion-driven, controllable by the (latent-derived) MusicControls; phrases, cadences, voicing, grooves."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.music import Arrangement, EmotionCurve, MusicControls, NoteEvents, Voice, compose
from emovae.music.compose import BEATS_PER_BAR, plan_phrases
from emovae.music.harmony import OPEN_GAP, SCALES, phrase_chords, voice_lead

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
            fractions.append(1 - np.average(in_scale, weights=pitched.duration))  # of the sounding time
        return float(np.mean(fractions))

    def chromatic_melody_fractions(valence: float, arousal: float) -> list[float]:
        """Melody notes outside the scale of the mode they are in (the key changes at cadences)."""
        fractions = []
        for seed in range(3):
            score = compose(valence, arousal, SECONDS, seed=seed)
            melody = _melody(score.events)
            key = np.searchsorted([k.time for k in score.keys], melody.onset, side="right") - 1
            fractions.append(np.mean([(p - score.keys[i].tonic) % 12 not in SCALES[score.keys[i].mode]
                                      for p, i in zip(melody.pitch, key)]))
        return fractions

    assert out_of_scale_fraction(0.0, 1.0) > out_of_scale_fraction(1.0, 1.0) + 0.2  # the tense chords, mostly
    assert min(chromatic_melody_fractions(0.0, 1.0)) > 0.03  # chromatic neighbours in the angry tune (8-10 %)
    assert max(chromatic_melody_fractions(1.0, 1.0) + chromatic_melody_fractions(0.0, 0.0)) == 0.0


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


def test_mode_changes_only_where_a_phrase_begins():
    """The mode is drawn once per phrase, so a key change falls on a phrase's first beat (after a cadence)."""
    seconds = 60.0
    score = compose(EmotionCurve(np.linspace(0.0, 1.0, 13), 0.6, seconds), seed=3)
    assert len(score.keys) >= 3  # the trajectory really moves the mode
    phrase_starts = {p.start_bar * BEATS_PER_BAR for p in plan_phrases(int(np.searchsorted(score.beat_times, seconds)), seconds)}
    for change in score.keys[1:]:
        beat = score.beats_at(change.time)
        assert abs(beat - round(beat)) < 1e-6 and int(round(beat)) in phrase_starts, (change, sorted(phrase_starts))


def test_phrases_pair_into_periods_and_a_long_piece_has_an_intro_and_ends_on_the_tonic():
    phrases = plan_phrases(n_beats=4 * 18, seconds=45.0)  # intro, four phrases of four bars, outro
    assert phrases[0].section == "intro" and phrases[-1].section == "outro"
    body = phrases[1:-1]
    assert [p.cadence for p in body[:4]] == ["half", "authentic", "half", "authentic"]
    assert [p.section for p in body[:4]] == ["A", "A", "B", "B"]
    assert body[-1].cadence == "authentic"  # the last phrase closes on the tonic before the outro
    assert [(p.section, p.cadence) for p in plan_phrases(n_beats=4 * 4, seconds=10.0)] == [("A", "authentic")]  # a clip: no intro
    score = compose(0.8, 0.4, 45.0, seed=2)
    melody = _melody(score.events)
    assert (melody.pitch[-1] - _tonic_of(score.events)) % 12 == 0  # the outro holds the tonic


def test_melody_stays_above_the_chord_voicing():
    """At every melody onset, every sounding chord note is lower: the tune is never buried inside the harmony."""
    for valence, arousal in ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.5, 0.5)):
        events = compose(valence, arousal, 20.0, seed=1).events
        melody, harmony = _melody(events), events.select(events.voice == Voice.HARMONY)
        for onset, pitch in zip(melody.onset, melody.pitch):
            sounding = harmony.pitch[(harmony.onset <= onset) & (harmony.onset + harmony.duration > onset)]
            assert sounding.size == 0 or pitch > sounding.max(), (valence, arousal, onset, pitch, sounding)


def test_the_pad_holds_each_chord_and_a_comping_piano_pulses():
    """Excited music on the ensemble's pad: one chord per bar (two where a suspension resolves), held for
    (nearly) the whole bar; the piano solo's comping strikes it several times a bar. Against the tune, the
    held pad is softer when calm than when excited (PAD_LEVEL)."""

    def harmony_of(arousal: float, comping: bool, seed: int = 3) -> tuple[NoteEvents, float, float]:
        score = compose(0.6, arousal, SECONDS, seed=seed, arrangement=Arrangement(comping=comping))
        harmony = score.events.select(score.events.voice == Voice.HARMONY)
        bar_s = np.diff(score.beat_times[::BEATS_PER_BAR]).mean()
        return harmony, bar_s, harmony.velocity.mean() / _melody(score.events).velocity.mean()

    for comping in (False, True):
        harmony, bar_s, _ = harmony_of(0.95, comping)
        strikes = np.unique(np.round(harmony.onset / (bar_s / 16))).size / (SECONDS / bar_s)  # humanised within a 16th
        held = np.median(harmony.duration) / bar_s
        if comping:
            assert strikes >= 4.0 and held < 0.2, (strikes, held)
        else:
            assert strikes <= 2.0 and held >= 0.85, (strikes, held)
    calm, excited = (np.mean([harmony_of(a, False, seed)[2] for seed in range(3)]) for a in (0.05, 0.95))
    assert calm < 0.9 * excited, (calm, excited)  # 0.79 against 1.06; 0.98 against 1.07 at one level throughout


def test_tension_comes_from_tonal_devices_and_pleasant_harmony_has_none():
    names = [c.name for seed in range(20) for c in phrase_chords("harmonic_minor", "authentic", 1.0, np.random.default_rng(seed))]
    assert any("b9" in n for n in names) and any("dim7" in n for n in names) and any("sus" in n for n in names)
    calm = [c for seed in range(20) for c in phrase_chords("ionian", "half", 0.0, np.random.default_rng(seed))]
    assert not any(("b9" in c.name or "dim7" in c.name) for c in calm)
    assert all(len(c.tones) <= 4 for c in calm)  # triads (the tonic doubled), at most a dominant seventh


def test_voice_leading_keeps_common_tones_and_voicings_open():
    tonic_chord = voice_lead((0, 4, 7), tonic=0, top=72, previous=None)
    assert np.diff(tonic_chord).min() >= OPEN_GAP  # open: no thirds stacked inside the chord
    subdominant = voice_lead((5, 9, 12), tonic=0, top=72, previous=tonic_chord)
    shared = {p for p in tonic_chord if p % 12 == 0}
    assert shared & set(subdominant), (tonic_chord, subdominant)  # the common tone C stays where it was
    assert max(subdominant) <= 72


def test_each_character_has_its_own_groove():
    def drums(valence, arousal):
        score = compose(valence, arousal, 12.0, seed=0)
        return score, set(score.events.select(score.events.voice == Voice.PERCUSSION).pitch.astype(int))

    happy, happy_drums = drums(1.0, 1.0)
    angry, angry_drums = drums(0.0, 1.0)
    assert happy_drums and angry_drums and happy_drums != angry_drums
    assert 39 in happy_drums and 39 not in angry_drums  # the clap is the pleasant beat's
    assert happy.drum_kit != angry.drum_kit
    for calm_or_sad in ((1.0, 0.0), (0.0, 0.0)):
        assert not drums(*calm_or_sad)[1]
    assert drums(0.5, 0.45)[0].drum_kit == 40  # low arousal: brushes


def test_timing_and_velocity_are_humanised_but_reproducible():
    score = compose(0.7, 0.7, 10.0, seed=4)
    melody = _melody(score.events)
    beats = score.beats_at(melody.onset)
    off_grid = np.abs(beats * 4 - np.round(beats * 4))  # distance from the sixteenth grid, in sixteenths
    assert np.median(off_grid) > 0.005
    assert np.all(off_grid < 0.25)  # a few milliseconds, never a displaced note
    assert len(np.unique(np.round(melody.velocity, 3))) > len(melody) // 2
    assert _same(score.events, compose(0.7, 0.7, 10.0, seed=4).events)


@pytest.mark.timeout(20)
def test_a_motif_always_returns_near_its_start_and_drawing_one_ends():
    """Regression: a two-note motif drawn as [0, -3] had its drift 'corrected' by flipping signs, [0, 3],
    [0, -3], ... for ever (seed 0 at half notes hung the model-path benchmark)."""
    from emovae.music.compose import _new_motif

    for seed in range(200):
        for notes_per_beat in (0.5, 1.0, 3.0):
            motif = _new_motif(notes_per_beat, 1.0, np.random.default_rng(seed))
            assert abs(sum(motif.steps)) <= 2 and motif.steps[0] == 0


def test_the_contour_drift_of_a_bar_is_the_per_note_lookup_bit_for_bit():
    """The drift is looked up for a whole bar at once; each value is the one a lookup per note gives."""
    from emovae.music.compose import BeatGrid, _contour_drift
    from emovae.music.controls import CONTOUR_SEMITONES

    seconds = 10.0
    controls = MusicControls.random(3, seconds)
    grid = BeatGrid(EmotionCurve(0.7, 0.6, seconds))
    offsets = [0.0, 0.5, 1.25, 2.0, 3.75]
    for start_beat in (0, 4, 8):
        start = float(controls.at(float(grid.time(start_beat)) / seconds)[0])
        one_by_one = [CONTOUR_SEMITONES * (float(controls.at(float(grid.time(start_beat + o)) / seconds)[0]) - start) for o in offsets]
        assert _contour_drift(grid, controls, seconds, start_beat)(offsets).tolist() == one_by_one
