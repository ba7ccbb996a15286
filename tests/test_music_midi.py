"""MIDI export: a composed score written as a Standard MIDI File and read back with pretty_midi.

The file must give back what the composer decided: every note of every voice (pitch, onset, end),
the instruments, the tempo map (also when the emotion makes the tempo rise), the keys, and the
piece's length, which is the audio's.
"""

from __future__ import annotations

import mido
import numpy as np
import pytest

pretty_midi = pytest.importorskip("pretty_midi")

from emovae.music import compose  # noqa: E402
from emovae.music.events import KeyChange, NoteEvents, Score, Voice  # noqa: E402
from emovae.music.midi import DRUM_CHANNEL, PPQ, key_name, score_to_midi, write_midi  # noqa: E402
from emovae.music.params import EmotionCurve  # noqa: E402
from emovae.music.synth import render_piece  # noqa: E402

NAMES = {Voice.MELODY: "melody", Voice.HARMONY: "harmony", Voice.BASS: "bass", Voice.PERCUSSION: "drums"}
PROGRAMS = {Voice.MELODY: 0, Voice.HARMONY: 89, Voice.BASS: 33}


def notes(onset, duration, pitch, voice=Voice.MELODY, velocity=0.8) -> NoteEvents:
    onset = np.asarray(onset, dtype=float)
    full = lambda value: np.broadcast_to(np.asarray(value, dtype=float), onset.shape).copy()  # noqa: E731
    return NoteEvents(onset, full(duration), full(pitch), full(velocity), full(int(voice)).astype(np.int8),
                      full(0.5), full(0.01))


def steady_score(events: NoteEvents, bpm: float = 120.0, seconds: float = 4.0, keys=None) -> Score:
    beat = 60.0 / bpm
    return Score(events, np.arange(0.0, seconds + 2 * beat, beat), keys or [KeyChange(0.0, 0, "ionian")], seconds)


def read_back(score: Score, tmp_path, programs=PROGRAMS):
    path = write_midi(score, tmp_path / "piece.mid", programs)
    return pretty_midi.PrettyMIDI(str(path)), mido.MidiFile(str(path))


def tick_seconds(score: Score, times: np.ndarray) -> np.ndarray:
    """Length of one tick at each time (where rounding to ticks is coarsest, so is the tolerance)."""
    beat = np.diff(score.beat_times)[np.clip(np.searchsorted(score.beat_times, times, side="right") - 1, 0, None)]
    return beat / PPQ


def expected_keys(score: Score) -> list[tuple[int, float]]:
    """(pretty_midi key number, time) of each key change that changes the major/minor key signature."""
    out = []
    for change in score.keys:
        number = change.tonic % 12 + (0 if change.is_major else 12)
        if not out or out[-1][0] != number:
            out.append((number, change.time))
    return out


def assert_round_trip(score: Score, pm, programs=PROGRAMS) -> None:
    """Every voice's notes come back on their own track with their program, pitches, onsets and ends."""
    events = score.events
    voices = [v for v in Voice if np.any(events.voice == v)]
    assert [i.name for i in pm.instruments] == [NAMES[v] for v in voices]
    for voice, instrument in zip(voices, pm.instruments):
        part = events.select(events.voice == voice)
        assert instrument.is_drum == (voice == Voice.PERCUSSION)
        assert instrument.program == programs.get(voice, 0)  # percussion: the drum kit, standard when not given
        got = sorted(instrument.notes, key=lambda n: (n.start, n.pitch))
        assert len(got) == len(part), f"{NAMES[voice]}: {len(got)} notes back, {len(part)} written"
        order = np.lexsort((part.pitch, np.round(score.beats_at(part.onset) * PPQ)))  # as the file orders them: by tick
        onsets, pitches = part.onset[order], part.pitch[order]
        assert [n.pitch for n in got] == pitches.astype(int).tolist()
        tolerance = tick_seconds(score, onsets) / 2 + 1e-4  # half a tick (<= 1.1 ms) + the tempo's microsecond rounding
        assert np.all(np.abs(np.array([n.start for n in got]) - onsets) <= tolerance)
        assert np.all(np.array([n.velocity for n in got]) == np.clip(np.round(part.velocity[order] * 127), 1, 127))
        ends = np.minimum(part.onset + part.duration, score.seconds)[order]
        got_ends = np.array([n.end for n in got])
        assert np.all(got_ends <= ends + tick_seconds(score, ends) / 2 + 1e-4)  # never longer; shorter only where a repeat cut it


def test_a_composed_piece_round_trips_notes_programs_tempo_key_and_length(tmp_path):
    piece = render_piece(EmotionCurve(0.8, 0.7, 4.0), seed=3)
    score = piece.score
    pm, mid = read_back(score, tmp_path, piece.programs)
    assert mid.type == 1 and mid.ticks_per_beat == PPQ
    assert_round_trip(score, pm, piece.programs)
    times, tempi = pm.get_tempo_changes()
    assert times[0] == 0.0
    np.testing.assert_allclose(tempi[0], score.tempo_bpm()[0], rtol=1e-5)
    assert [(k.key_number, pytest.approx(k.time, abs=2e-3)) for k in pm.key_signature_changes] == expected_keys(score)
    signature = pm.time_signature_changes[0]
    assert (signature.numerator, signature.denominator, signature.time) == (score.beats_per_bar, 4, 0.0)
    beat = score.seconds / score.beats_at(score.seconds)  # one beat's length at the end
    assert mid.length == pytest.approx(score.seconds, abs=beat / PPQ)  # the file lasts as long as the audio
    assert piece.audio.shape[-1] / piece.sample_rate == pytest.approx(mid.length, abs=beat / PPQ)
    assert pm.get_end_time() <= score.seconds + beat / PPQ


def test_a_rising_tempo_gives_a_tempo_map_and_the_notes_stay_in_time(tmp_path):
    seconds = 8.0
    score = compose(EmotionCurve(0.5, np.linspace(0.0, 1.0, 9), seconds), seed=1)
    bpm = score.tempo_bpm()[: int(np.searchsorted(score.beat_times, seconds))]
    assert bpm[-1] > bpm[0] + 30  # the fixture really speeds up
    pm, mid = read_back(score, tmp_path)
    assert_round_trip(score, pm)
    times, tempi = pm.get_tempo_changes()
    assert len(tempi) >= 5 and np.all(np.diff(times) > 0)
    assert tempi[-1] > tempi[0] + 30
    # each change sits on a beat and carries that beat's tempo
    beats = np.round(score.beats_at(times)).astype(int)
    np.testing.assert_allclose(times, score.beat_times[beats], atol=1e-3)
    np.testing.assert_allclose(tempi, bpm[beats], rtol=1e-5)
    assert mid.length == pytest.approx(seconds, abs=60.0 / bpm[-1] / PPQ)


def test_humanised_onsets_a_minor_key_and_a_modulation_come_back(tmp_path):
    rng = np.random.default_rng(0)
    onsets = np.arange(8) * 0.5 + rng.uniform(0.0, 0.012, 8)  # off the grid by up to 12 ms
    events = NoteEvents.concatenate([notes(onsets, 0.3, 66 + np.arange(8) % 3),
                                     notes([0.0, 2.0], 1.9, 42, Voice.BASS),
                                     notes([0.0, 1.0, 2.0], 0.05, 36, Voice.PERCUSSION, velocity=0.001)])
    keys = [KeyChange(0.0, 6, "aeolian"), KeyChange(2.0, 6, "dorian"), KeyChange(3.0, 7, "ionian")]
    score = steady_score(events, bpm=100.0, keys=keys)
    pm, _ = read_back(score, tmp_path)
    assert_round_trip(score, pm)
    assert [i.name for i in pm.instruments] == ["melody", "bass", "drums"]  # only the voices present
    assert [n.velocity for n in pm.instruments[2].notes] == [1, 1, 1]  # never a silent note-on
    assert [(k.key_number, round(k.time, 3)) for k in pm.key_signature_changes] == [(18, 0.0), (7, 3.0)]  # F#m, then G
    times, tempi = pm.get_tempo_changes()
    assert times.tolist() == [0.0] and tempi == pytest.approx([100.0])
    drums = mido.MidiFile(str(tmp_path / "piece.mid")).tracks[3]
    assert {m.channel for m in drums if m.type.startswith("note")} == {DRUM_CHANNEL}
    assert not any(m.type == "program_change" for m in drums)


def test_an_overlapping_repeat_of_a_pitch_keeps_both_notes(tmp_path):
    # the second C4 starts while the first still sounds; the third starts exactly as the second ends
    events = notes([0.0, 0.5, 1.5, 1.5], [1.0, 1.0, 0.5, 0.25], [60, 60, 60, 64])
    pm, mid = read_back(steady_score(events), tmp_path)
    got = sorted((n.pitch, round(n.start, 4), round(n.end, 4)) for n in pm.instruments[0].notes)
    assert got == [(60, 0.0, 0.5), (60, 0.5, 1.5), (60, 1.5, 2.0), (64, 1.5, 1.75)]
    melody = [m for m in mid.tracks[1] if m.type in ("note_on", "note_off")]
    at_half_second = [m.type for m, tick in zip(melody, np.cumsum([m.time for m in melody])) if tick == PPQ]
    assert at_half_second == ["note_off", "note_on"]  # released, then struck again


def test_notes_are_cut_where_the_audio_ends_and_simultaneous_repeats_are_one_note(tmp_path):
    events = notes([0.0, 0.0, 3.5, 4.2], [1.0, 2.0, 3.0, 0.5], [60, 60, 62, 64])
    score = steady_score(events, seconds=4.0)
    pm, mid = read_back(score, tmp_path)
    got = sorted((n.pitch, round(n.start, 4), round(n.end, 4)) for n in pm.instruments[0].notes)
    assert got == [(60, 0.0, 2.0), (62, 3.5, 4.0)]  # the note after the end is gone, the last one is cut
    assert mid.length == pytest.approx(4.0)


def test_the_drum_kit_is_a_program_change_on_channel_10_only_when_given(tmp_path):
    drums = notes([0.0, 0.5], 0.1, [36, 38], Voice.PERCUSSION)
    score = steady_score(drums)
    changes = lambda mid: [m for track in mid.tracks for m in track if m.type == "program_change"]  # noqa: E731
    pm, mid = read_back(score, tmp_path, {Voice.PERCUSSION: 40})
    assert [(m.channel, m.program) for m in changes(mid)] == [(DRUM_CHANNEL, 40)] and pm.instruments[0].program == 40
    assert changes(read_back(score, tmp_path, {})[1]) == []


def test_key_names_follow_the_third_and_spell_with_fewer_accidentals():
    assert key_name(KeyChange(0.0, 7, "ionian")) == "G"
    assert key_name(KeyChange(0.0, 6, "aeolian")) == "F#m"
    assert key_name(KeyChange(0.0, 2, "dorian")) == "Dm"
    assert key_name(KeyChange(0.0, 7, "mixolydian")) == "G"
    assert key_name(KeyChange(0.0, 1, "lydian")) == "Db"
    assert key_name(KeyChange(0.0, 3, "phrygian")) == "Ebm"
    for tonic in range(12):  # every name is one mido writes
        for mode in ("ionian", "aeolian"):
            mido.MetaMessage("key_signature", key=key_name(KeyChange(0.0, tonic, mode)))


def test_bad_programs_are_refused_and_writing_leaves_no_temp_file(tmp_path):
    score = steady_score(notes([0.0], 1.0, 60))
    with pytest.raises(ValueError, match="melody.*0..127"):
        score_to_midi(score, {Voice.MELODY: 128})
    assert score_to_midi(score).tracks[1][1].program == 0  # no programs given: piano
    out = write_midi(score, tmp_path / "deep" / "x.mid")
    assert out == tmp_path / "deep" / "x.mid" and [p.name for p in out.parent.iterdir()] == ["x.mid"]
