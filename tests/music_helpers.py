"""Hand-written scores for the music engine's renderer and mix tests (independent of the composer)."""

from __future__ import annotations

import numpy as np

from emovae.music.events import NoteEvents, Voice


def notes(pitches, onsets, durations, voice=Voice.MELODY, velocity=0.8, brightness=0.5, attack_s=0.01) -> NoteEvents:
    """Notes of one voice; a scalar duration, velocity, brightness or attack applies to every note."""
    n = len(pitches)
    full = lambda value: np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()  # noqa: E731
    return NoteEvents(onset=np.asarray(onsets, float), duration=full(durations), pitch=np.asarray(pitches, float),
                      velocity=full(velocity), voice=np.full(n, int(voice)),
                      brightness=full(brightness), attack_s=full(attack_s))


def small_piece(seconds: float = 4.0, brightness: float = 0.5, drums: bool = True) -> NoteEvents:
    """Melody, chords, bass and (optionally) drums at 120 bpm: every voice the renderers play."""
    beats = np.arange(0.0, seconds - 0.25, 0.5)
    bars = beats[::4]
    melody = notes(60 + np.array([0, 2, 4, 7, 9, 7, 4, 2])[np.arange(beats.size) % 8] + 12, beats, 0.45,
                   brightness=brightness)
    chord = np.array([48, 52, 55, 60])
    harmony = notes(np.tile(chord, bars.size), np.repeat(bars, chord.size), 1.9, Voice.HARMONY, 0.6, brightness)
    bass = notes(np.full(beats.size, 36.0), beats, 0.4, Voice.BASS, 0.8, brightness)
    parts = [melody, harmony, bass]
    if drums:
        kit = np.array([36, 42, 38, 42])[np.arange(beats.size) % 4]
        parts.append(notes(kit, beats, 0.05, Voice.PERCUSSION, 0.9, brightness))
    return NoteEvents.concatenate(parts)


def spectral_centroid(audio: np.ndarray, sample_rate: int) -> float:
    """Power-weighted mean frequency of a (mono or channel-first stereo) signal."""
    mono = np.asarray(audio, dtype=np.float64).reshape(-1, np.asarray(audio).shape[-1]).mean(axis=0)
    power = np.abs(np.fft.rfft(mono)) ** 2
    return float(np.sum(power * np.fft.rfftfreq(mono.size, 1.0 / sample_rate)) / np.sum(power))
