"""Vectorised additive rendering of note events: every note of a voice in one NumPy pass.

The notes of a voice are laid end to end in one flat "ragged" buffer (note ``i`` owns samples
``offsets[i]:offsets[i+1]``), so oscillators, envelopes and decays are whole-array float32
operations with no per-sample Python; only the final overlap-add into the output is a short
loop over notes (a few hundred slice additions). Each note's envelope rises from exactly zero
and its linear release returns to exactly zero, so note boundaries cannot click.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter, resample_poly

from emovae.music.events import HIHAT, KICK, SNARE, NoteEvents, midi_to_hz
from emovae.music.instruments import Instrument

F32 = np.float32
NYQUIST_GUARD = 0.45  # keep partials below 0.45 * sample_rate (no aliasing)
MIN_RENDER_RATE = 5000  # never synthesise below this rate
UPPER_PARTIALS_FROM = 3  # partials >= this are scaled by per-note brightness


def render_notes(events: NoteEvents, instrument: Instrument, sample_rate: int, n_samples: int) -> np.ndarray:
    """Render pitched notes with ``instrument`` into a float32 buffer of ``n_samples`` (unnormalised).

    Low voices (bass, chords) have no energy near the top of the spectrum, so they are rendered
    at 1/2 or 1/4 of the rate and interpolated back up with a polyphase filter: the same sound
    for a fraction of the oscillator work (this is most of what keeps synthesis real-time fast).
    """
    if not len(events):
        return np.zeros(n_samples, dtype=F32)
    factor = _decimation(events, instrument, sample_rate)
    if factor == 1:
        out = _render(events, instrument, sample_rate, n_samples)
    else:
        low = _render(events, instrument, sample_rate // factor, -(-n_samples // factor))
        out = resample_poly(low, factor, 1)[:n_samples].astype(F32, copy=False)
    if instrument.hammer > 0:  # broadband, so always at the full rate
        _add_hammer(out, events, instrument.hammer, sample_rate)
    return out


def _decimation(events: NoteEvents, instrument: Instrument, sample_rate: int) -> int:
    """The largest rate divisor (4, 2 or 1) that keeps every partial below the reduced Nyquist guard."""
    highest = float(np.max(midi_to_hz(events.pitch))) * _partial_ratios(
        np.array([events.pitch.max()]), instrument.inharmonicity, instrument.partials
    )[0, -1]
    for factor in (4, 2):
        rate = sample_rate / factor
        if sample_rate % factor == 0 and rate >= MIN_RENDER_RATE and highest < NYQUIST_GUARD * rate:
            return factor
    return 1


def _render(events: NoteEvents, instrument: Instrument, sample_rate: int, n_samples: int) -> np.ndarray:
    out = np.zeros(n_samples, dtype=F32)
    layout = _Layout.of(events, instrument.release_s, sample_rate, n_samples)
    if layout is not None:
        tone = _partials(layout, instrument, sample_rate)
        tone *= _envelope(layout, instrument)
        layout.overlap_add(tone, out)
    return out


def _envelope(layout: "_Layout", instrument: Instrument) -> np.ndarray:
    """Linear attack from exactly 0, sustain, linear release to exactly 0 at note-off + release_s."""
    ev, each, t = layout.events, layout.each_sample, layout.local_time
    attack = np.clip(ev.attack_s * instrument.attack_scale, 0.001, instrument.attack_max_s)
    release_end = (ev.duration + instrument.release_s).astype(F32)
    env = np.minimum(t * each((1.0 / attack).astype(F32)), (each(release_end) - t) * F32(1.0 / instrument.release_s))
    np.clip(env, 0.0, 1.0, out=env)
    env *= each((ev.velocity**1.6).astype(F32))  # velocity -> amplitude, roughly perceptual
    return env


def _partials(layout: "_Layout", instrument: Instrument, sample_rate: int) -> np.ndarray:
    """Sum of the instrument's partials for every note: (in)harmonic frequencies, per-partial decay, brightness."""
    ev, each, t = layout.events, layout.each_sample, layout.local_time
    f0 = midi_to_hz(ev.pitch)
    n_partials = int(min(instrument.partials, max(1, NYQUIST_GUARD * sample_rate // f0.max())))
    weights = instrument.partial_weights()[:n_partials]
    omega = (2 * np.pi * f0[:, None] * _partial_ratios(ev.pitch, instrument.inharmonicity, n_partials)).astype(F32)

    decay, decay_step = None, None
    if instrument.decay_s is not None:
        rate = (1.0 / (instrument.decay_s * 2.0 ** (-(ev.pitch - 60.0) / 24.0))).astype(F32)  # treble dies faster
        decay = np.exp(-each(rate) * t)
        if instrument.partial_decay > 0:  # partial k decays (1 + partial_decay * k) times as fast
            decay_step = np.exp(-each(rate * F32(instrument.partial_decay)) * t)

    body, upper, phase = np.zeros_like(t), np.zeros_like(t), np.empty_like(t)
    fundamental = None if instrument.inharmonicity else each(omega[:, 0]) * t
    for k in range(n_partials):
        if k > 0 and decay_step is not None:
            decay *= decay_step
        if weights[k] == 0.0:
            continue
        if fundamental is None:  # stretched partials: each has its own frequency per note
            np.multiply(each(omega[:, k]), t, out=phase)
        else:  # harmonic: partial k+1 runs at (k+1) times the fundamental's phase
            np.multiply(fundamental, F32(k + 1), out=phase)
        np.sin(phase, out=phase)
        if decay is not None:
            phase *= decay
        phase *= F32(weights[k])
        if k + 1 < UPPER_PARTIALS_FROM:
            body += phase
        else:
            upper += phase
    upper *= each((0.3 + 1.4 * ev.brightness).astype(F32))  # brighter notes: stronger upper partials
    body += upper
    return body


# General MIDI drum numbers the additive kit plays as a kick or as a hi-hat; every other drum number
# (snares, side stick, clap, toms, hand percussion) plays as the snare. The SoundFont has the real
# instruments; this way the fallback still plays every groove, each hit in its family's voice.
KICK_FAMILY = frozenset({35, 36})
HAT_FAMILY = frozenset({42, 44, 46, 49, 51, 52, 53, 54, 55, 57, 59, 69, 70, 80, 81})


def drum_family(pitch: np.ndarray) -> np.ndarray:
    """The family (:data:`KICK`, :data:`SNARE` or :data:`HIHAT`) of each General MIDI drum number."""
    pitch = np.round(np.asarray(pitch, dtype=float)).astype(int)
    return np.where(np.isin(pitch, list(KICK_FAMILY)), KICK, np.where(np.isin(pitch, list(HAT_FAMILY)), HIHAT, SNARE))


def render_drums(events: NoteEvents, sample_rate: int, n_samples: int, seed: int = 0) -> np.ndarray:
    """Synthesise kick (pitch-swept sine), snare (noise + tone) and hi-hat (high-passed noise) hits.

    Any General MIDI drum number plays, as its family (:func:`drum_family`): a ride or a crash as the
    hat, a clap or a tom as the snare.
    """
    out = np.zeros(n_samples, dtype=F32)
    rng = np.random.default_rng([int(seed), 0xD2])
    family = drum_family(events.pitch)
    for drum, seconds in ((KICK, 0.3), (SNARE, 0.22), (HIHAT, 0.08)):
        hits = events.select(family == drum)
        if not len(hits):
            continue
        length = int(seconds * sample_rate)
        t = (np.arange(length, dtype=F32) / F32(sample_rate))[None, :]
        if drum == KICK:
            sweep = 45.0 * t + 75.0 * 0.03 * (1.0 - np.exp(-t / F32(0.03)))  # 120 Hz falling to 45 Hz
            wave = 1.3 * np.sin(F32(2 * np.pi) * sweep) * np.exp(-t / F32(0.12))
            wave = np.repeat(wave, len(hits), axis=0)
        else:
            noise = rng.standard_normal((len(hits), length + 1), dtype=F32)
            noise = np.diff(noise, axis=1) * F32(0.5)  # first difference: a cheap high-pass
            if drum == SNARE:
                wave = 0.5 * noise * np.exp(-t / F32(0.06)) + 0.6 * np.sin(F32(2 * np.pi * 185) * t) * np.exp(-t / F32(0.04))
            else:
                wave = 0.3 * noise * np.exp(-t / F32(0.015))
        wave *= np.minimum(t / F32(0.001), 1.0)  # 1 ms onset ramp: a transient, not a discontinuity
        wave *= np.linspace(1.0, 0.0, length, dtype=F32)[None, :] ** 0.25  # end at exactly zero
        wave *= hits.velocity.astype(F32)[:, None]
        starts = np.round(hits.onset * sample_rate).astype(int)
        for start, row in zip(starts, wave):
            stop = min(start + length, n_samples)
            if stop > start:
                out[start:stop] += row[: stop - start]
    return out


class _Layout:
    """The flat ragged buffer of a group of notes: which note and which local time each sample is."""

    def __init__(self, events: NoteEvents, starts: np.ndarray, lengths: np.ndarray, sample_rate: int):
        self.events, self.starts, self.lengths = events, starts, lengths
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        position = np.arange(self.offsets[-1], dtype=np.int32) - self.each_sample(self.offsets[:-1].astype(np.int32))
        self.local_time = position.astype(F32) * F32(1.0 / sample_rate)

    def each_sample(self, per_note: np.ndarray) -> np.ndarray:
        """Spread one value per note over that note's samples.

        ``np.repeat`` by the note lengths, not a fancy-index gather by note number: the same
        values, about 10x faster. The renderer spreads a dozen per-note values for a piano voice (one
        per partial), and with the gather that was about a quarter of a 10 s piece's note rendering.
        """
        return np.repeat(per_note, self.lengths)

    @classmethod
    def of(cls, events: NoteEvents, release_s: float, sample_rate: int, n_samples: int) -> "_Layout | None":
        starts = np.round(events.onset * sample_rate).astype(np.int64)
        audible = starts < n_samples
        if not audible.any():
            return None
        events, starts = events.select(audible), starts[audible]
        lengths = np.ceil((events.duration + release_s) * sample_rate).astype(np.int64)
        lengths = np.clip(lengths, 1, n_samples - starts)
        return cls(events, starts, lengths, sample_rate)

    def overlap_add(self, flat: np.ndarray, out: np.ndarray) -> None:
        for start, lo, hi in zip(self.starts.tolist(), self.offsets[:-1].tolist(), self.offsets[1:].tolist()):
            out[start : start + hi - lo] += flat[lo:hi]


def _partial_ratios(pitch: np.ndarray, inharmonicity: float, n_partials: int) -> np.ndarray:
    """Partial frequency / f0 per note: ``k * sqrt(1 + B k^2)``, B rising towards the treble."""
    k = np.arange(1, n_partials + 1, dtype=float)[None, :]
    if not inharmonicity:
        return np.broadcast_to(k, (pitch.size, n_partials))
    b = np.clip(inharmonicity * 2.0 ** ((pitch - 60.0) / 12.0 * 0.7), 5e-5, 5e-3)[:, None]
    return k * np.sqrt(1.0 + b * k**2)


def _add_hammer(out: np.ndarray, events: NoteEvents, level: float, sample_rate: int) -> None:
    """A short low-passed noise thump at each onset, louder and brighter for harder strikes."""
    burst = max(8, int(0.012 * sample_rate))
    starts = np.round(events.onset * sample_rate).astype(int)
    rng = np.random.default_rng([len(events), int(starts.sum()) % (2**31)])  # deterministic per score
    noise = rng.standard_normal((len(events), burst)).astype(F32)
    pole = np.exp(-2 * np.pi * 3500.0 / sample_rate)
    thump = lfilter([1.0 - pole], [1.0, -pole], noise, axis=1).astype(F32)
    t = np.arange(burst, dtype=F32) / F32(sample_rate)
    shape = np.exp(-t / F32(0.0025)) * np.minimum(t / F32(0.0005), 1.0) * np.linspace(1, 0, burst, dtype=F32)
    thump *= shape[None, :] * (level * events.velocity**2 * (0.5 + events.brightness)).astype(F32)[:, None]
    for start, row in zip(starts.tolist(), thump):
        stop = min(start + burst, out.size)
        if stop > start:
            out[start:stop] += row[: stop - start]
