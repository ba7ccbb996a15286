"""MIDI export: a composed :class:`~emovae.music.events.Score` as a Standard MIDI File.

The audio is one rendering of the piece; the MIDI file is the piece itself, so it can be re-voiced in
a DAW, studied note by note, or compared with what the emotion asked for. It therefore carries what
the composer decided and nothing the synthesiser added:

* a type-1 file at :data:`PPQ` ticks per beat whose beats *are* the composer's beats: a conductor
  track holds the time signature, a ``set_tempo`` wherever the (emotion-driven) tempo changes and a
  key signature wherever the key does, so a DAW's bar lines and key display match the music;
* one named track per voice present (``melody``, ``harmony``, ``bass``, ``drums``), each on its own
  channel with its General MIDI program, drums on channel 10 (index 9) as General MIDI expects, with
  a program change there only when a drum kit was given (GM2/GS read it as the kit: 40 = brushes);
* an end-of-track at the piece's length, so the file lasts exactly as long as its audio.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import mido
import numpy as np

from emovae.io import atomic_path
from emovae.music.events import KeyChange, NoteEvents, Score, Voice

PPQ = 480  # ticks per beat: a note lands within half a tick of its time, ~1 ms at the slowest tempo (58 BPM)
DRUM_CHANNEL = 9  # General MIDI percussion is channel 10, index 9
DEFAULT_PROGRAM = 0  # Acoustic Grand Piano, for a pitched voice whose program was not given
TRACK_NAMES: dict[Voice, str] = {Voice.MELODY: "melody", Voice.HARMONY: "harmony", Voice.BASS: "bass",
                                 Voice.PERCUSSION: "drums"}
CHANNELS: dict[Voice, int] = {Voice.MELODY: 0, Voice.HARMONY: 1, Voice.BASS: 2, Voice.PERCUSSION: DRUM_CHANNEL}
# Key names as mido spells them, one per tonic pitch class: the spelling with the fewer accidentals.
MAJOR_KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_KEYS = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


def key_name(change: KeyChange) -> str:
    """The key signature name of a key change (``"G"``, ``"F#m"``).

    A MIDI key signature knows only major and minor, so a mode is written as the one whose third it
    shares (:attr:`KeyChange.is_major`): D dorian is ``"Dm"``, G mixolydian is ``"G"``.

    Parameters
    ----------
    change : KeyChange
        The key: tonic pitch class (0 = C) and mode.

    Returns
    -------
    str
        A name ``mido`` accepts for a ``key_signature`` meta message.
    """
    names = MAJOR_KEYS if change.is_major else MINOR_KEYS
    return names[int(change.tonic) % 12]


def score_to_midi(score: Score, programs: Mapping[Voice, int] | None = None) -> mido.MidiFile:
    """Build the Standard MIDI File of a score (see the module docstring for its layout).

    Times become ticks on the score's own beat grid (``round(score.beats_at(t) * PPQ)``), so a
    note played on a beat sits on that beat in the file however the tempo moves, and the tempo map
    turns the ticks back into the same seconds (to within half a tick). Notes are cut at
    ``score.seconds`` as the audio is. MIDI cannot hold two sounding notes of one pitch on one
    channel, so where a note would still sound when the next of the same pitch starts, it is ended
    there (otherwise a reader would let the first note-off silence both); notes of one pitch that
    start on the same tick are one note (the longest, at the louder velocity).

    Parameters
    ----------
    score : Score
        The composed piece (notes, beat grid, key changes, length).
    programs : mapping of Voice to int, optional
        General MIDI program (0-based) of each pitched voice, as :class:`~emovae.music.synth.Piece`
        carries them; a missing voice gets :data:`DEFAULT_PROGRAM`. For percussion the entry is the
        drum kit (the program of bank 128); without one the drum track has no program change.

    Returns
    -------
    mido.MidiFile
        A type-1 file at :data:`PPQ`: a conductor track, then one track per voice present.
    """
    programs = {Voice(v): _checked_program(p, Voice(v)) for v, p in (programs or {}).items()}
    end_tick = _ticks(score, score.seconds)
    midi = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    midi.tracks.append(_conductor_track(score, end_tick))
    for voice in Voice:
        part = score.events.select(score.events.voice == voice)
        if len(part):
            program = programs.get(voice, None if voice == Voice.PERCUSSION else DEFAULT_PROGRAM)
            midi.tracks.append(_voice_track(score, part, voice, program, end_tick))
    return midi


def write_midi(score: Score, path: str | os.PathLike, programs: Mapping[Voice, int] | None = None) -> Path:
    """Write the score's MIDI file to ``path`` atomically (a reader never sees half a file).

    Parameters
    ----------
    score : Score
        The composed piece.
    path : str or PathLike
        Where to write (conventionally ``<name>.mid`` beside the piece's ``<name>.wav``); parent
        folders are created.
    programs : mapping of Voice to int, optional
        General MIDI program of each pitched voice (see :func:`score_to_midi`).

    Returns
    -------
    Path
        ``path``.
    """
    midi = score_to_midi(score, programs)
    with atomic_path(path, suffix=".mid.tmp") as tmp:
        midi.save(filename=str(tmp))
    return Path(path)


def midi_notes(part: NoteEvents) -> tuple[np.ndarray, np.ndarray]:
    """MIDI key (0..127) and velocity (1..127) of each note: what a MIDI file and a SoundFont synth play.

    Parameters
    ----------
    part : NoteEvents
        Notes with MIDI pitches and velocities in (0, 1].

    Returns
    -------
    tuple of ndarray
        ``(keys, velocities)`` as int arrays.
    """
    keys = np.clip(np.round(part.pitch), 0, 127).astype(int)
    velocities = np.clip(np.round(part.velocity * 127), 1, 127).astype(int)
    return keys, velocities


def _ticks(score: Score, seconds: np.ndarray | float) -> np.ndarray:
    return np.round(score.beats_at(seconds) * PPQ).astype(np.int64)


def _checked_program(program: int, voice: Voice) -> int:
    if not 0 <= int(program) <= 127 or int(program) != program:
        raise ValueError(f"program {program!r} for {voice.name.lower()} is not a General MIDI program (0..127)")
    return int(program)


def _conductor_track(score: Score, end_tick: int) -> mido.MidiTrack:
    """Time signature, tempo map (a change only where the tempo changes) and key signatures."""
    events: list[tuple[int, int, mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name="conductor")),
        (0, 0, mido.MetaMessage("time_signature", numerator=int(score.beats_per_bar), denominator=4)),
    ]
    # Microseconds per beat of every beat that starts inside the piece (the grid runs past its end).
    tempos = np.round(1e6 * np.diff(score.beat_times)).astype(np.int64)
    n_beats = max(1, int(np.searchsorted(score.beat_times, score.seconds, side="left")))
    previous = None
    for beat, tempo in enumerate(tempos[:n_beats]):
        if tempo != previous:
            events.append((beat * PPQ, 1, mido.MetaMessage("set_tempo", tempo=int(tempo))))
            previous = tempo
    previous_key = None
    for change in score.keys:
        name = key_name(change)
        tick = int(_ticks(score, change.time))
        if name != previous_key and tick < max(end_tick, 1):  # a key signature only knows major/minor: skip repeats
            events.append((tick, 2, mido.MetaMessage("key_signature", key=name)))
            previous_key = name
    return _track(events, end_tick)


def _voice_track(score: Score, part: NoteEvents, voice: Voice, program: int | None, end_tick: int) -> mido.MidiTrack:
    channel = CHANNELS[voice]
    events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name=TRACK_NAMES[voice]))
    ]
    if program is not None:
        events.append((0, 0, mido.Message("program_change", channel=channel, program=program)))
    for start, stop, pitch, velocity in _playable_notes(score, part, end_tick):
        # At equal ticks note-offs (order 1) go before note-ons (order 2): a repeated note is released, then struck.
        events.append((start, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((stop, 1, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    return _track(events, end_tick)


def _playable_notes(score: Score, part: NoteEvents, end_tick: int) -> list[tuple[int, int, int, int]]:
    """(start tick, end tick, pitch, velocity) of each note, cut at the end and free of same-pitch overlaps."""
    starts = _ticks(score, part.onset)
    stops = np.minimum(np.maximum(_ticks(score, part.onset + part.duration), starts + 1), end_tick)
    pitches, velocities = midi_notes(part)
    notes: list[list[int]] = []
    for i in np.lexsort((starts, pitches)):  # by pitch, then start
        start, stop, pitch, velocity = int(starts[i]), int(stops[i]), int(pitches[i]), int(velocities[i])
        if start >= end_tick:
            continue  # starts when the audio has ended
        if notes and notes[-1][2] == pitch:
            last = notes[-1]
            if last[0] == start:  # struck twice on one tick: one note
                last[1], last[3] = max(last[1], stop), max(last[3], velocity)
                continue
            last[1] = min(last[1], start)  # still sounding: release it as the next one is struck
        notes.append([start, stop, pitch, velocity])
    return [tuple(n) for n in sorted(notes, key=lambda n: (n[0], n[2]))]


def _track(events: list[tuple[int, int, mido.Message | mido.MetaMessage]], end_tick: int) -> mido.MidiTrack:
    """Absolute-tick events -> a track with delta times, ending at ``end_tick`` (or its last event)."""
    track = mido.MidiTrack()
    now = 0
    for tick, _order, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end_tick - now, 0)))
    return track
