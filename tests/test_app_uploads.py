"""Uploaded clips: every bad case becomes one clear UploadError; long clips are capped and say so."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emovae.app.uploads import UploadError, load_upload
from emovae.audio import write_audio, write_wav

SR = 24_000


def tone(seconds: float, sr: int = SR, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
def test_supported_formats_load_as_mono_24k(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    write_audio(path, tone(2.0, 44_100), 44_100)
    clip = load_upload(path)
    assert clip.sample_rate == SR
    assert abs(clip.analysed_seconds - 2.0) < 0.1
    assert not clip.truncated and clip.notes == []
    assert 0.2 < float(np.max(np.abs(clip.audio))) < 0.4


def test_long_clip_is_capped_and_the_visitor_is_told(tmp_path):
    path = tmp_path / "long.wav"
    write_wav(path, tone(5.0), SR)
    clip = load_upload(path, max_seconds=2.0)
    assert clip.audio.size == 2 * SR
    assert clip.truncated
    assert "5.0 s long" in clip.notes[0] and "first 2.0 s" in clip.notes[0]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.wav", b"", "empty"),
        ("text.wav", b"this is not audio at all " * 40, "not a readable audio file"),
        ("corrupt.mp3", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)), "not a readable audio file"),
        ("notes.txt", b"hello", "unsupported file type"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UploadError, match=message) as info:
        load_upload(path)
    assert name in str(info.value)


@pytest.mark.parametrize("bad_sample", [1e30, 5e3, np.nan, np.inf])
def test_non_finite_or_absurd_float_samples_are_refused_with_the_reason(tmp_path, bad_sample):
    path = tmp_path / "float.wav"
    audio = tone(1.0, 44_100)
    audio[100] = bad_sample
    sf.write(path, audio, 44_100, subtype="FLOAT")  # a float WAV can hold any value
    with pytest.raises(UploadError, match=r"float\.wav: the file holds NaN/inf or samples beyond ±1000"):
        load_upload(path)


def test_loud_but_sane_float_samples_still_load(tmp_path):
    path = tmp_path / "hot.wav"
    sf.write(path, tone(1.0, amplitude=4.0), SR, subtype="FLOAT")  # clipped masters exceed ±1 a little
    assert float(np.max(np.abs(load_upload(path).audio))) > 3.5


def test_truncated_wav_header_is_refused(tmp_path):
    good = tmp_path / "good.wav"
    write_wav(good, tone(1.0), SR)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:30])
    with pytest.raises(UploadError):
        load_upload(cut)


def test_silent_and_too_short_clips_are_refused(tmp_path):
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(UploadError, match="silent"):
        load_upload(silent)
    short = tmp_path / "short.wav"
    write_wav(short, tone(0.2), SR)
    with pytest.raises(UploadError, match="at least"):
        load_upload(short)


def test_missing_upload(tmp_path):
    with pytest.raises(UploadError, match="no file"):
        load_upload(None)
    with pytest.raises(UploadError, match="did not arrive"):
        load_upload(tmp_path / "gone.wav")
