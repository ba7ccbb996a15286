"""Base layers: the emotion scale, atomic writes, audio I/O and device choice."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from emovae import emotion
from emovae.audio import AudioLoadError, load_audio, to_mono, write_audio, write_wav
from emovae.device import resolve_device
from emovae.io import atomic_path, read_json, save_npy, write_csv, write_json


@pytest.mark.parametrize(
    "raw, expected", [(1.0, 0.0), (5.0, 0.5), (9.0, 1.0), (3.0, 0.25)]
)
def test_static_scale_maps_1_to_9_onto_unit(raw, expected):
    assert emotion.static_to_unit(raw) == pytest.approx(expected)


def test_dynamic_scale_maps_minus1_to_1_onto_unit_and_keeps_nan():
    values = emotion.dynamic_to_unit(np.array([-1.0, 0.0, 1.0, np.nan]))
    np.testing.assert_allclose(values[:3], [0.0, 0.5, 1.0])
    assert math.isnan(values[3])


def test_presets_sit_in_their_own_quadrant():
    for name, (valence, arousal) in emotion.PRESETS.items():
        assert emotion.quadrant(valence, arousal) == name


@pytest.mark.parametrize("text, expected", [("happy", (1.0, 1.0)), (" Sad ", (0.0, 0.0)), ("0.25,0.75", (0.25, 0.75))])
def test_parse_emotion_accepts_presets_and_pairs(text, expected):
    assert emotion.parse_emotion(text) == expected


@pytest.mark.parametrize("text, fragment", [("elated", "neither a preset"), ("1.5,0.2", "valence=1.5"), ("0.2,x", "must be numbers")])
def test_parse_emotion_rejects_with_the_bad_value_named(text, fragment):
    with pytest.raises(emotion.EmotionValueError, match=fragment):
        emotion.parse_emotion(text)


@pytest.mark.parametrize("valence, arousal, fragment", [(float("nan"), 0.5, "valence=nan"), (0.5, -0.1, "arousal=-0.1"), ("a", 0.5, "not a number")])
def test_validate_emotion_names_value_and_range(valence, arousal, fragment):
    with pytest.raises(emotion.EmotionValueError, match=fragment):
        emotion.validate_emotion(valence, arousal)


def test_atomic_path_leaves_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "table.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"version": 2, "half')
            raise RuntimeError("interrupted")
    assert read_json(target) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["table.json"]


def test_csv_and_npy_writers_round_trip(tmp_path):
    table = pd.DataFrame({"chunk_id": ["2_000", "2_001"], "valence": [0.1, 0.9]})
    write_csv(tmp_path / "t.csv", table)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), table)
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy", mmap_mode="r"), array)


def test_read_json_names_the_corrupt_file(tmp_path):
    bad = tmp_path / "metadata.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="metadata.json"):
        read_json(bad)


def test_load_audio_downmixes_and_resamples(tmp_path):
    rate = 44_100
    t = np.arange(rate) / rate
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "tone.wav", stereo, rate)
    audio = load_audio(tmp_path / "tone.wav", sample_rate=24_000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 24_000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 24_000 / audio.size == pytest.approx(440, abs=2)


def test_mp3_written_by_the_project_loads_back(tmp_path):
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(44_100) / 44_100)).astype(np.float32)
    write_audio(tmp_path / "song.mp3", np.stack([tone, tone], axis=1), 44_100)
    audio = load_audio(tmp_path / "song.mp3", sample_rate=24_000)
    assert 0.9 * 24_000 < audio.size < 1.1 * 24_000
    assert 0.1 < np.abs(audio).max() < 0.5


@pytest.mark.parametrize("content, fragment", [(b"", "empty"), (b"this is not audio at all" * 50, "cannot decode")])
def test_load_audio_errors_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "broken.mp3"
    path.write_bytes(content)
    with pytest.raises(AudioLoadError, match=fragment) as info:
        load_audio(path)
    assert "broken.mp3" in str(info.value)


def test_load_audio_missing_file(tmp_path):
    with pytest.raises(AudioLoadError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_write_wav_clips_and_is_16_bit(tmp_path):
    write_wav(tmp_path / "x.wav", np.array([0.0, 2.0, -2.0], dtype=np.float32))
    data, rate = sf.read(tmp_path / "x.wav")
    assert rate == 24_000 and sf.info(tmp_path / "x.wav").subtype == "PCM_16"
    assert data.max() <= 1.0 and data.min() >= -1.0 and data[1] > 0.99


def test_resolve_device_auto_and_explicit():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu-please")


def test_stereo_is_written_in_either_layout_and_folds_back_to_mono(tmp_path):
    left = (0.5 * np.sin(2 * np.pi * 330 * np.arange(4_800) / 24_000)).astype(np.float32)
    stereo = np.stack([left, 0.5 * left])
    for name, layout in (("first.wav", stereo), ("frames.wav", stereo.T)):  # (2, n) as the engine holds it, (n, 2)
        write_wav(tmp_path / name, layout)
        data, _ = sf.read(tmp_path / name, dtype="float32")
        assert data.shape == (4_800, 2)
        np.testing.assert_allclose(data, stereo.T, atol=1.0 / 2**14)
    np.testing.assert_array_equal(to_mono(stereo), 0.75 * left)
    np.testing.assert_array_equal(to_mono(stereo.T), 0.75 * left)
    np.testing.assert_array_equal(to_mono(np.stack([left, left])), left)  # a mono clip on both channels is itself
    assert to_mono(left) is left
    with pytest.raises(ValueError, match=r"\(3, 4800\)"):
        to_mono(np.zeros((3, 4_800)))
