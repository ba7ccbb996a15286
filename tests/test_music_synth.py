"""Synthesis: exact lengths, safe levels, consistent loudness, click-free notes, a real piano model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emovae.emotion import PRESETS, EmotionValueError
from emovae.music import NoteEvents, Voice, create_melodic_music, create_musical_waveform, create_piano_melody
from emovae.music.instruments import PAD, PIANO
from emovae.music.mix import master_rms
from emovae.music.render import render_drums, render_notes
from emovae.music.synth import ENSEMBLE, VOICE_GAINS
from tests.music_helpers import notes

SR = 24_000
FUNCTIONS = [create_melodic_music, create_piano_melody]


def _db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("seconds, sample_rate", [(3.3, SR), (2.0, 16_000)])
def test_output_is_finite_float32_of_exact_length_and_never_clips(function, seconds, sample_rate):
    for valence, arousal in PRESETS.values():
        audio = function(valence, arousal, seconds, seed=1, sample_rate=sample_rate)
        assert audio.dtype == np.float32 and audio.shape == (round(seconds * sample_rate),)
        assert np.all(np.isfinite(audio))
        assert 0.01 < np.abs(audio).max() <= 0.99


@pytest.mark.parametrize("function", FUNCTIONS)
def test_stereo_is_channel_first_and_mono_is_one_dimensional(function):
    stereo = function(0.8, 0.8, 2.0, seed=1, sample_rate=44_100, channels=2)
    assert stereo.dtype == np.float32 and stereo.shape == (2, 88_200) and 0.01 < np.abs(stereo).max() <= 0.99
    assert not np.array_equal(stereo[0], stereo[1])  # placed voices and the room: the channels differ


def test_the_additive_mono_output_is_the_fixed_balance_mix_under_the_rms_master():
    """The definition the additive fallback keeps from before the mix existed (its output is unchanged)."""
    events = NoteEvents.concatenate([
        notes([60, 64], [0.0, 0.5], 0.4), notes([48, 52, 55], [0.0] * 3, 1.0, Voice.HARMONY),
        notes([36], [0.0], 1.0, Voice.BASS), notes([36, 42, 38], [0.0, 0.25, 0.5], 0.05, Voice.PERCUSSION)])
    mix = np.zeros(SR, dtype=np.float32)
    for voice, gain in VOICE_GAINS.items():
        part = events.select(events.voice == voice)
        if voice == Voice.PERCUSSION:
            mix += gain * render_drums(part, SR, SR, seed=4)
        else:
            mix += gain * render_notes(part, ENSEMBLE[voice], SR, SR)
    expected = master_rms(mix, SR, -18.0)
    np.testing.assert_array_equal(create_musical_waveform(events, SR, 1.0, seed=4, timbre="additive"), expected)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_deterministic_per_seed(function):
    first = function(0.3, 0.8, 3.0, seed=11)
    np.testing.assert_array_equal(first, function(0.3, 0.8, 3.0, seed=11))
    assert not np.array_equal(first, function(0.3, 0.8, 3.0, seed=12))


def test_loudness_is_normalised_within_a_bounded_range_that_follows_arousal():
    levels = {name: _db(create_melodic_music(v, a, 6.0, seed=2)) for name, (v, a) in PRESETS.items()}
    assert all(-25.5 < level < -13.0 for level in levels.values()), levels
    assert abs(levels["happy"] - levels["angry"]) < 1.5 and abs(levels["sad"] - levels["calm"]) < 1.5  # valence: same level
    assert 6.0 < levels["happy"] - levels["calm"] < 12.0  # arousal: a deliberate, bounded step


def test_trajectories_are_accepted_and_bad_durations_refused():
    audio = create_melodic_music(np.linspace(0, 1, 9), np.linspace(1, 0, 9), 4.0, seed=0)
    assert audio.shape == (4 * SR,)
    for bad in (0, -1, float("nan"), 1e6):
        with pytest.raises(EmotionValueError, match="seconds"):
            create_melodic_music(0.5, 0.5, bad)
    with pytest.raises(ValueError, match="instrument"):
        create_melodic_music(0.5, 0.5, 1.0, instrument="kazoo")


@pytest.mark.parametrize("instrument", ["lead", "pad", dataclasses.replace(PIANO, hammer=0.0)], ids=["lead", "pad", "piano"])
def test_note_boundaries_do_not_click(instrument):
    """Around every onset and note end, no sample step exceeds the largest step inside the notes' sustain.

    A low note keeps the oscillator's own slope small, so a hard start/stop (a click) would stand out.
    (The piano's hammer thump is a deliberate transient, tested on its own below.)
    """
    onsets = np.arange(6) * 0.25
    events = notes([45, 47, 45, 40, 45, 43], onsets, np.full(6, 0.15), attack_s=0.004)
    audio = create_musical_waveform(events, SR, seconds=2.0, instruments={Voice.MELODY: instrument}, loudness_db=None,
                                    timbre="additive")
    steps = np.abs(np.diff(audio))
    boundaries = np.concatenate([onsets, onsets + 0.15, onsets + 0.15 + 0.25])  # starts, note-offs, end of longest release
    near = np.zeros(steps.size, bool)
    for t in boundaries:
        i = int(t * SR)
        near[max(i - 24, 0) : i + 24] = True
    interior = np.zeros(steps.size, bool)
    for t in onsets:
        interior[int((t + 0.03) * SR) : int((t + 0.14) * SR)] = True
    assert steps[near].max() <= 1.05 * steps[interior].max()
    assert abs(audio[0]) < 1e-6 and abs(audio[-1]) < 1e-6


def _partial_frequencies(audio: np.ndarray, f0: float, k_max: int) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), n=8 * audio.size))
    freqs = np.fft.rfftfreq(8 * audio.size, 1 / SR)
    found = []
    for k in range(1, k_max + 1):
        window = (freqs > k * f0 - 0.4 * f0) & (freqs < k * f0 + 0.4 * f0)
        found.append(freqs[window][np.argmax(spectrum[window])])
    return np.asarray(found)


def test_piano_partials_are_stretched_by_string_stiffness_but_a_lead_is_harmonic():
    f0 = 440 * 2 ** ((48 - 69) / 12)
    events = notes([48], [0.0], [1.9])
    piano, lead = (create_musical_waveform(events, SR, seconds=2.0, instruments={Voice.MELODY: name}, loudness_db=None,
                                           timbre="additive") for name in ("piano", "lead"))
    k = np.arange(1, 9)
    stretch_piano = _partial_frequencies(piano, f0, 8) / (k * f0)
    stretch_lead = _partial_frequencies(lead, f0, 8) / (k * f0)
    np.testing.assert_allclose(stretch_lead, 1.0, atol=1e-3)
    assert np.all(np.diff(stretch_piano[[0, 3, 5, 7]]) > 0)  # sharper and sharper up the series
    stiffness = (stretch_piano[7] ** 2 - 1) / 64  # k=8: ratio^2 = 1 + B k^2 -> recover B
    assert 1e-4 < stiffness < 1e-3  # "slight" inharmonicity, as measured on real pianos


def test_piano_upper_partials_decay_faster_than_the_fundamental():
    f0 = 440 * 2 ** ((48 - 69) / 12)
    events = notes([48], [0.0], [2.9], velocity=1.0)
    audio = create_musical_waveform(events, SR, seconds=3.0, instruments={Voice.MELODY: PIANO}, loudness_db=None,
                                    timbre="additive")

    def partial_level(segment: np.ndarray, k: int) -> float:
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size)))
        freqs = np.fft.rfftfreq(segment.size, 1 / SR)
        return spectrum[(freqs > (k - 0.3) * f0) & (freqs < (k + 0.3) * f0)].max()

    early, late = audio[int(0.05 * SR) : int(0.45 * SR)], audio[int(2.0 * SR) : int(2.4 * SR)]
    ratio = lambda seg: partial_level(seg, 6) / partial_level(seg, 1)  # noqa: E731
    assert ratio(late) < 0.5 * ratio(early)


def test_piano_hammer_is_a_short_broadband_thump_at_the_onset():
    events = notes([48, 60], [0.0, 0.5], [0.4, 0.4], velocity=1.0)
    with_hammer = render_notes(events, PIANO, SR, SR)
    without = render_notes(events, dataclasses.replace(PIANO, hammer=0.0), SR, SR)
    thump = with_hammer - without
    energy = np.square(thump)
    near_onsets = energy[: int(0.015 * SR)].sum() + energy[int(0.5 * SR) : int(0.515 * SR)].sum()
    assert near_onsets > 0.999 * energy.sum()
    assert np.abs(thump).max() > 0.08 * np.abs(without).max()  # audible (about -20 dB), not a token
    spectrum = np.abs(np.fft.rfft(thump[: int(0.015 * SR)], n=4096)) ** 2
    assert spectrum[np.fft.rfftfreq(4096, 1 / SR) > 3000].sum() > 0.2 * spectrum.sum()  # noise, not a tone


@pytest.mark.parametrize("instrument", [PIANO, dataclasses.replace(PIANO, inharmonicity=0.0), PAD])
def test_notes_rendered_together_are_the_sum_of_each_note_alone(instrument):
    """The voice renderer lays all notes in one ragged buffer: each note must get its own pitch,
    length, velocity, brightness and attack (a misaligned per-sample spread would smear them).
    At 8 kHz no voice is rendered at a reduced rate and every note keeps all its partials, so a
    note alone is rendered exactly as it is in the group."""
    instrument = dataclasses.replace(instrument, hammer=0.0)  # the thump's noise is seeded per score
    rate = 8000
    events = NoteEvents(onset=np.array([0.0, 0.05, 0.3, 0.31]), duration=np.array([0.6, 0.1, 0.35, 0.02]),
                        pitch=np.array([57.0, 48.0, 60.0, 52.0]), velocity=np.array([1.0, 0.3, 0.7, 0.5]),
                        voice=np.zeros(4, dtype=np.int8), brightness=np.array([0.0, 1.0, 0.4, 0.8]),
                        attack_s=np.array([0.002, 0.05, 0.01, 0.005]))
    together = render_notes(events, instrument, rate, rate)
    alone = [render_notes(events.select(np.arange(4) == i), instrument, rate, rate) for i in range(4)]
    assert all(np.abs(a).max() > 1e-3 for a in alone)
    np.testing.assert_allclose(together, np.sum(alone, axis=0), rtol=0, atol=1e-6)


def test_empty_score_renders_silence_of_the_requested_length():
    audio = create_musical_waveform(NoteEvents(), SR, seconds=1.0)
    assert audio.shape == (SR,) and not audio.any()
