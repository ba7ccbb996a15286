"""The mix: loudness in LUFS, the limiter, stereo placement, the room, brightness, the mono fold-down."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.music.events import Voice
from emovae.music.mix import MixSettings, brightness_curve, integrated_loudness, master_bus, pan, placements
from emovae.music.soundfont import render_soundfont
from emovae.music.synth import create_musical_waveform
from tests.music_helpers import notes, small_piece, spectral_centroid

SR = 24_000
PROGRAMS = {Voice.MELODY: 0, Voice.HARMONY: 89, Voice.BASS: 33, Voice.PERCUSSION: 0}
DRY = MixSettings(reverb_wet=0.0)


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    """Six seconds of every voice through the SoundFont, dry and unnormalised."""
    pytest.importorskip("tinysoundfont")
    return render_soundfont(placements(small_piece(6.0)), PROGRAMS, SR, 6 * SR)


@pytest.mark.parametrize("channels", [1, 2])
def test_integrated_loudness_lands_on_the_target_and_follows_it(bus, channels):
    measured = {}
    for target in (-24.0, -18.0, -14.0, -11.0):  # -11, beyond the engine's range, keeps the limiter busy
        audio = master_bus(bus, SR, target, channels)
        measured[target] = integrated_loudness(audio if channels == 1 else audio.mean(axis=0), SR)  # the fold-down meets it
        assert abs(measured[target] - target) <= 0.5, measured
    assert np.all(np.diff([measured[t] for t in sorted(measured)]) > 2.5)  # each step of 3 to 6 LU, louder


def test_the_mono_fold_down_is_the_mean_of_the_stereo_channels_exactly(bus):
    """Regression: the stereo master used to be normalised itself, so its fold-down (what the emotion
    estimator hears of a listener's clip) was 3.2-3.5 dB quieter than the mono render of the same piece."""
    stereo, mono = master_bus(bus, SR, -20.0, 2), master_bus(bus, SR, -20.0, 1)
    np.testing.assert_allclose(mono, stereo.mean(axis=0), rtol=0, atol=1e-6)
    assert integrated_loudness(mono, SR) == pytest.approx(-20.0, abs=0.1)
    assert integrated_loudness(stereo, SR) > -20.0 + 1.0  # BS.1770 sums the channels: the stereo master measures louder


def test_a_hot_input_is_limited_under_the_ceiling_without_a_hard_clip():
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    hot = (8.0 * np.sin(2 * np.pi * 220 * t) * (1 + rng.random(t.size)))[None, :].repeat(2, axis=0)
    for loudness in (None, -3.0):
        audio = master_bus(hot, SR, loudness, 2, settings=DRY)
        at_peak = np.abs(audio) >= np.abs(audio).max() - 1e-6
        assert np.abs(audio).max() <= 0.99
        assert not np.any(at_peak[:, 1:] & at_peak[:, :-1])  # a clipper leaves flat tops: runs of samples at the peak


def test_panning_spreads_the_harmony_and_leaves_a_centred_voice_centred():
    chord = notes([48, 51, 66, 69], np.zeros(4), 1.5, Voice.HARMONY)  # upper notes off the lower ones' harmonics
    parts = placements(chord)
    assert [p.position for p in parts] == [-0.5, 0.5]
    assert parts[0].events.pitch.tolist() == [48, 51] and parts[1].events.pitch.tolist() == [66, 69]
    pytest.importorskip("tinysoundfont")
    stereo = master_bus(render_soundfont(parts, PROGRAMS, SR, 2 * SR), SR, -20.0, 2, settings=DRY)
    freqs = np.fft.rfftfreq(stereo.shape[1], 1.0 / SR)
    left, right = ([np.abs(np.fft.rfft(side))[np.abs(freqs - f) < 3.0].max() for f in (130.8, 370.0)] for side in stereo)
    assert left[0] > 1.5 * right[0] and right[1] > 1.5 * left[1]  # C3 left, F#4 right: 4.8 dB apart at +-0.5
    bass = render_soundfont(placements(notes([36], [0.0], [1.5], Voice.BASS)), PROGRAMS, SR, 2 * SR)
    np.testing.assert_array_equal(bass[0], bass[1])
    np.testing.assert_array_equal(pan(np.ones(3), 0.0)[0], pan(np.ones(3), 0.0)[1])


def test_the_room_leaves_a_tail_after_the_last_note_off():
    pytest.importorskip("tinysoundfont")
    note = notes([72], [0.0], [0.2], velocity=1.0)
    rendered = render_soundfont(placements(note), PROGRAMS, SR, 2 * SR)
    tail = lambda audio: np.sqrt(np.mean(np.square(audio[:, int(0.9 * SR) : int(1.4 * SR)])))  # noqa: E731
    wet, dry = (master_bus(rendered, SR, None, 2, settings=s) for s in (MixSettings(), DRY))
    assert tail(wet) > 1e-4 and tail(wet) > 10 * tail(dry)


@pytest.mark.parametrize("timbre", ["soundfont", "additive"])
def test_brightness_raises_the_spectral_centroid(timbre):
    dark, bright = (create_musical_waveform(small_piece(3.0, brightness=b, drums=False), SR, seconds=3.0,
                                            timbre=timbre) for b in (0.0, 1.0))
    assert spectral_centroid(bright, SR) > 1.2 * spectral_centroid(dark, SR)


def test_the_brightness_curve_follows_the_sounding_notes_and_holds_through_rests():
    events = notes([60, 60], [0.0, 2.0], [1.0, 1.0], brightness=0.0)
    events.brightness[1] = 1.0
    curve = brightness_curve(events, SR, 4 * SR)
    assert curve.shape == (4 * SR,)
    assert curve[int(0.5 * SR)] == pytest.approx(0.0, abs=1e-6)
    assert curve[int(1.6 * SR)] == pytest.approx(0.0, abs=1e-6)  # the rest keeps the last note's brightness
    assert curve[int(3.5 * SR)] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.abs(np.diff(curve)) < 1e-3)  # glides, never steps
    assert np.all(brightness_curve(notes([], [], []), SR, SR) == 0.5)


def test_a_piece_shorter_than_a_loudness_block_is_still_brought_to_its_target():
    t = np.arange(int(0.2 * SR)) / SR
    tone = 0.01 * np.sin(2 * np.pi * 1000 * t)[None, :].repeat(2, axis=0)
    audio = master_bus(tone, SR, -20.0, 1, settings=DRY)
    assert audio.shape == (t.size,)
    assert integrated_loudness(audio, SR) == pytest.approx(-20.0, abs=0.5)


def test_bad_layouts_are_refused_by_name():
    with pytest.raises(ValueError, match="stereo"):
        master_bus(np.zeros(100), SR, -20.0)
    for bad in (0, 3):
        with pytest.raises(ValueError, match="channels"):
            create_musical_waveform(small_piece(1.0), SR, seconds=1.0, channels=bad)
    with pytest.raises(ValueError, match="timbre"):
        create_musical_waveform(small_piece(1.0), SR, seconds=1.0, timbre="kazoo")


@pytest.mark.parametrize("rate", [SR, 44_100])
def test_the_loudness_meter_reads_what_pyloudnorm_reads(rate):
    """The meter is a faster implementation of pyloudnorm's (same filters, blocks and gates): it must
    read what pyloudnorm reads, mono and stereo, through the gates (a piece with a near-silent half)."""
    import pyloudnorm

    pytest.importorskip("tinysoundfont")
    piece = render_soundfont(placements(small_piece(6.0)), PROGRAMS, rate, 6 * rate)
    gated = piece.copy()
    gated[:, : 3 * rate] *= 1e-3  # 60 dB down: below the relative gate, above the absolute one
    gated[:, : rate] = 0.0  # silent: below both
    meter = pyloudnorm.Meter(rate)
    for audio in (piece.mean(axis=0), piece, gated.mean(axis=0), gated, piece[:, : int(0.45 * rate)]):
        assert integrated_loudness(audio, rate) == pytest.approx(meter.integrated_loudness(audio.T), abs=1e-5)
    assert integrated_loudness(np.zeros(rate, np.float32), rate) == float("-inf")
    assert integrated_loudness(gated.mean(axis=0), rate) > integrated_loudness(piece.mean(axis=0), rate) - 1.0  # gated


def test_the_master_leaves_the_bus_alone_and_tilts_by_the_formula(bus):
    """The bus is read, never written (the tilt and the gains work on their own arrays), and the tilt
    (done in place on the high pass) is ``bus + k * highpass(bus)`` bit for bit."""
    import pedalboard

    from emovae.music.mix import LinearStages

    before = bus.copy()
    brightness = np.linspace(0.0, 1.0, bus.shape[1], dtype=np.float32)
    for curve in (None, brightness):
        master_bus(bus, SR, -18.0, 2, curve)
        np.testing.assert_array_equal(bus, before)
    stages = LinearStages(SR, bus.shape[1], brightness, DRY)
    stages.push(bus)
    high = pedalboard.HighpassFilter(cutoff_frequency_hz=DRY.brightness_cutoff_hz)(bus, SR)
    k = (DRY.brightness_depth * (2.0 * brightness - 1.0)).astype(np.float32)
    np.testing.assert_array_equal(stages.result(), bus + k[None, :] * high)


@pytest.mark.parametrize("hop, n_samples", [(441, 441_000), (240, 240_017), (7, 1000)])
def test_the_brightness_curve_is_upsampled_as_np_interp_would_bit_for_bit(hop, n_samples):
    from emovae.music.mix import _upsample

    frames = np.cumsum(np.random.default_rng(hop).normal(size=n_samples // hop + 2))
    expected = np.interp(np.arange(n_samples), np.arange(frames.size) * hop, frames).astype(np.float32)
    np.testing.assert_array_equal(_upsample(frames, hop, n_samples), expected)


@pytest.mark.parametrize("settings", [MixSettings(), DRY])
@pytest.mark.parametrize("tilted", [False, True])
def test_the_bus_streamed_in_any_blocks_masters_as_the_whole_bus_does_bit_for_bit(bus, settings, tilted):
    """Blocks shorter than pedalboard's buffer, longer, ragged, in a worker thread or not: the filters'
    state carries over and the staging RMS is summed on fixed chunks, so every way gives the same bits."""
    from emovae.music.mix import LinearStages, finish_master

    brightness = np.linspace(0.0, 1.0, bus.shape[1], dtype=np.float32) if tilted else None
    whole = master_bus(bus, SR, -18.0, 2, brightness, settings)
    n = bus.shape[1]
    for cuts in ([100, 5000, 5001, 30_000, 30_001], list(range(0, n, 3000)), [20_000, 70_000]):
        for background in (False, True):
            stages = LinearStages(SR, n, brightness, settings)
            edges = [0, *[c for c in cuts if 0 < c < n], n]
            if background:
                with stages.in_background() as hand_over:
                    for a, b in zip(edges[:-1], edges[1:]):
                        hand_over(bus[:, a:b])
            else:
                for a, b in zip(edges[:-1], edges[1:]):
                    stages.push(bus[:, a:b])
            np.testing.assert_array_equal(finish_master(stages, -18.0, 2), whole)


def test_the_staging_gain_after_the_room_is_the_gain_before_it_to_float_rounding(bus):
    """The room is linear, so the gain that brings the bus to ``staging_db`` may follow it: the master
    differs from the old order (gain, room, compressor) only by float32 rounding, far below hearing."""
    import pedalboard

    from emovae.music.mix import LinearStages, _compressor

    s = MixSettings()
    stages = LinearStages(SR, bus.shape[1], None, s)
    stages.push(bus)
    gain = np.float32(10.0 ** (s.staging_db / 20.0) / stages.tilted_rms())
    new = _compressor(s)(stages.result() * gain, SR)
    room = pedalboard.Reverb(room_size=s.reverb_room_size, damping=s.reverb_damping, wet_level=s.reverb_wet,
                             dry_level=s.reverb_dry, width=s.reverb_width)
    old = pedalboard.Pedalboard([room, _compressor(s)])(bus * gain, SR)
    error_db = 10.0 * np.log10(np.mean(np.square(new - old, dtype=np.float64)) / np.mean(np.square(old, dtype=np.float64)))
    assert error_db < -100.0


def _mix_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "emovae-mix"]


def test_the_worker_thread_ends_with_the_block_and_its_errors_reach_the_caller(bus):
    """Whatever fails, in the worker or in the body, the worker is joined before the error propagates,
    and Python's switch interval is back to what it was."""
    import sys

    from emovae.music.mix import LinearStages

    interval = sys.getswitchinterval()
    stages = LinearStages(SR, 1000, None, DRY)
    with pytest.raises(ValueError, match="2000 samples pushed"):
        with stages.in_background() as hand_over:
            hand_over(bus[:, :2000])  # more than the stages were made for: raised in the worker
    assert not _mix_threads() and sys.getswitchinterval() == interval
    stages = LinearStages(SR, bus.shape[1], None, DRY)
    with pytest.raises(KeyError):
        with stages.in_background() as hand_over:
            hand_over(bus[:, :10_000])
            raise KeyError("the synth failed")
    assert not _mix_threads() and sys.getswitchinterval() == interval
    with pytest.raises(RuntimeError, match=r"got \d+ of the bus"):
        stages.result()  # an abandoned stream is not mistaken for a whole bus


def test_the_compressor_per_channel_on_two_threads_is_the_stereo_compressor_bit_for_bit(bus):
    """The slider runs the bus compressor's channels on the two cores: that must be the same sound."""
    from emovae.music.mix import _compress, _compressor

    s = MixSettings()
    loud = np.ascontiguousarray(bus * np.float32(4.0))  # into the compressor's range
    loud[1] *= np.float32(0.5)  # channels at different levels: a linked compressor would differ
    assert np.array_equal(_compress(loud, SR, s), _compressor(s)(loud, SR))


def test_a_failing_compressor_channel_raises_in_the_caller(monkeypatch, bus):
    import threading

    from emovae.music import mix

    class Broken:
        def __call__(self, audio, sample_rate):
            raise RuntimeError("compressor failed")

    monkeypatch.setattr(mix, "_compressor", lambda settings: Broken())
    with pytest.raises(RuntimeError, match="compressor failed"):
        mix._compress(np.ascontiguousarray(bus), SR, MixSettings())
    assert not [t for t in threading.enumerate() if t.name == "emovae-compressor"]
