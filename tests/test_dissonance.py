"""Roughness and key mode (emovae.eval.dissonance): the measures of issue 12 on sounds whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.eval import key_mode, roughness, roughness_curve
from emovae.eval.dissonance import WEIGHTINGS, weighting_gain

SR = 44_100


def _t(seconds: float, sample_rate: int = SR) -> np.ndarray:
    return np.arange(int(round(seconds * sample_rate))) / sample_rate


def harmonic(f0: float, seconds: float = 1.0, partials: int = 6, sample_rate: int = SR) -> np.ndarray:
    """A steady tone with ``partials`` harmonics of amplitude 1/k."""
    t = _t(seconds, sample_rate)
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1))


def dyad(f0: float, ratio: float, seconds: float = 1.0) -> np.ndarray:
    return harmonic(f0, seconds) + harmonic(f0 * ratio, seconds)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_minor_second_is_rougher_than_fifth_and_octave(weighting):
    minor_second = roughness(harmonic(262.0) + harmonic(277.0), SR, weighting)
    fifth = roughness(dyad(262.0, 1.5), SR, weighting)
    octave = roughness(dyad(262.0, 2.0), SR, weighting)
    assert minor_second > 3 * fifth, (minor_second, fifth)
    assert fifth > octave, (fifth, octave)
    assert minor_second > 0.1  # a real, not a marginal, amount of beating


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_pure_sine_has_no_roughness(weighting):
    # Hann sidelobes of a lone sine are local maxima too; they must not be read as partials.
    assert roughness(np.sin(2 * np.pi * 440.0 * _t(1.0)), SR, weighting) < 1e-3


def test_silent_frames_are_skipped():
    loud = dyad(262.0, 16 / 15, seconds=2.0)
    with_silence = np.concatenate([loud, np.zeros_like(loud)])
    # Only the one or two frames straddling the cut differ (its click is broadband); were the silent
    # frames averaged in, the value would halve.
    assert roughness(with_silence, SR) == pytest.approx(roughness(loud, SR), rel=0.03)
    # the curve has (about) the loud half's frames only, not twice as many
    assert len(roughness_curve(with_silence, SR)) <= len(roughness_curve(loud, SR)) + 2
    assert roughness(np.zeros(SR), SR) == 0.0


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_level_independent(weighting):
    clip = harmonic(262.0) + harmonic(277.0)
    assert roughness(0.1 * clip, SR, weighting) == pytest.approx(roughness(clip, SR, weighting), rel=1e-6)


def test_peaks_above_2_khz_are_ignored():
    t = _t(1.0)
    high = np.sin(2 * np.pi * 3000.0 * t) + np.sin(2 * np.pi * 3030.0 * t)
    low = np.sin(2 * np.pi * 300.0 * t) + np.sin(2 * np.pi * 345.0 * t)  # 45 Hz apart: resolved and rough
    assert roughness(high, SR) < 1e-3
    assert roughness(low, SR) > 0.1  # the same kind of pair below 2 kHz does count


def test_stereo_and_other_rates_are_accepted():
    clip = harmonic(262.0) + harmonic(277.0)
    mono = roughness(clip, SR)
    assert roughness(np.stack([clip, clip], axis=1), SR) == pytest.approx(mono, rel=1e-9)  # (samples, 2)
    assert roughness(np.stack([clip, clip]), SR) == pytest.approx(mono, rel=1e-9)  # (2, samples)
    at_24k = harmonic(262.0, sample_rate=24_000) + harmonic(277.0, sample_rate=24_000)
    assert roughness(at_24k, 24_000) == pytest.approx(mono, rel=0.05)


def test_weightings_differ_where_they_should():
    f = np.array([50.0, 1000.0])
    for weighting in WEIGHTINGS:
        gain = weighting_gain(f, weighting)
        assert gain[1] == pytest.approx(1.0, abs=1e-3) and gain[0] < 0.1  # the bass counts far less


def test_ten_seconds_is_fast():
    import time

    clip = np.tile(harmonic(262.0) + harmonic(277.0) + harmonic(330.0), 10)
    roughness(clip[:SR], SR)
    start = time.perf_counter()
    roughness(clip, SR)
    assert time.perf_counter() - start < 1.0


# --- key mode --------------------------------------------------------------------------------------

KEY_SR = 22_050


def _note(midi: int, seconds: float) -> np.ndarray:
    t = _t(seconds, KEY_SR)
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)
    return envelope * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 7) if f0 * k < KEY_SR / 2)


def _progression(chords: list[list[int]], seconds: float = 1.0) -> np.ndarray:
    return np.concatenate([sum(_note(m, seconds) for m in chord) for chord in chords * 2])


C, F, G = [48, 60, 64, 67], [53, 60, 65, 69], [43, 59, 62, 67]  # I, IV, V in C (bass + triad)
AM, DM, E = [45, 57, 60, 64], [50, 57, 62, 65], [40, 56, 59, 64]  # i, iv, V in A minor


def test_key_mode_reads_major_and_minor():
    assert key_mode(_progression([C, F, G, C]), KEY_SR) == "major"
    assert key_mode(_progression([AM, DM, E, AM]), KEY_SR) == "minor"
    assert key_mode(_progression([AM, DM, AM]), KEY_SR) == "minor"


def test_key_mode_accepts_stereo():
    clip = _progression([AM, DM, E, AM])
    assert key_mode(np.stack([clip, clip], axis=1), KEY_SR) == "minor"


# --- errors -----------------------------------------------------------------------------------------


def test_bad_weighting_is_named():
    with pytest.raises(ValueError, match="weighting='loudness'"):
        roughness(harmonic(262.0), SR, weighting="loudness")


def test_too_short_audio_is_refused():
    with pytest.raises(ValueError, match="audio is .* long"):
        roughness(np.ones(1000), SR)
    with pytest.raises(ValueError, match="audio is .* long"):
        key_mode(np.ones(1000), KEY_SR)


def test_bad_sample_rate_and_shape_are_named():
    with pytest.raises(ValueError, match="sample_rate"):
        roughness(harmonic(262.0), 0)
    with pytest.raises(ValueError, match="audio has shape"):
        roughness(np.zeros((3, 20, 20)), SR)
