"""The score decoder (latent -> per-second descriptors): it reads held-out songs, persists, and refuses other formats.

The data is demo-like: the music engine at independent random knob settings, one clip per "song",
described with the same librosa code as the training stage. The real pipeline's latent is EnCodec's;
here a *fixed random* linear map of each 75 Hz frame's samples stands in for it (same frame rate, a
few channels; see :func:`stand_in_latent`), which keeps the file fast while leaving the decoder a
latent it has to learn to read: nothing in it is a descriptor.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from emovae.analysis.descriptors import DESCRIPTOR_NAMES, describe
from emovae import formats
from emovae.audio import SAMPLE_RATE, load_audio, write_audio
from emovae.io import read_json, write_json
from emovae.model.score import FEATURES_PER_CHANNEL, SCORE_DECODER_FILE, ScoreDecoder, window_features
from emovae.music.calibration import random_knobs, render_knobs
from emovae.train.dataset import split_by_song
from emovae.train.score import correlations, fit_score_decoder

SECONDS = 4.0
N_SONGS = 32
FRAME_RATE = 75
HOP = SAMPLE_RATE // FRAME_RATE  # 320 samples per latent frame
CHANNELS = 16


def stand_in_latent(audio: np.ndarray) -> np.ndarray:
    """``(CHANNELS, frames)``: a fixed random linear map of each frame's samples, around a fixed bias.

    That is what the random-init EnCodec is on music (measured: its latent moves linearly with the
    waveform, doubling the audio doubles the deviation from the silent latent to within 3 %), so a
    window's spread grows with the level, as it does in the pipeline's latents.
    """
    frames = audio[: len(audio) // HOP * HOP].reshape(-1, HOP)
    rng = np.random.default_rng(1234)
    projection, bias = rng.standard_normal((HOP, CHANNELS)) / np.sqrt(HOP), rng.normal(0.0, 0.02, CHANNELS)
    return (bias + frames @ projection).T.astype(np.float32)


@pytest.fixture(scope="module")
def demo():
    """One engine clip per song at random knobs: stand-in latents, per-second descriptors, song ids."""
    rng = np.random.default_rng(7)
    latents, descriptors = [], []
    for song in range(N_SONGS):
        audio = render_knobs(random_knobs(rng), SECONDS, seed=song)
        latents.append(stand_in_latent(audio))
        descriptors.append(describe(audio, SAMPLE_RATE))
    labels = pd.DataFrame({"chunk_id": [f"{s}_000" for s in range(N_SONGS)], "song_id": np.arange(N_SONGS),
                           "valence": 0.5, "arousal": 0.5})
    dataset = SimpleNamespace(latents=np.stack(latents), labels=labels,
                              codec={"frame_rate": FRAME_RATE, "codec_id": "stand-in-test"})
    return dataset, np.stack(descriptors)


@pytest.fixture(scope="module")
def fitted(demo):
    dataset, descriptors = demo
    split = split_by_song(dataset.labels, 0.2, 0, test_fraction=0.25)
    decoder, metrics = fit_score_decoder(dataset, split, descriptors)
    return decoder, metrics, split


def test_window_features_are_one_row_per_second_and_refuse_bad_latents():
    latent = np.random.default_rng(0).standard_normal((CHANNELS, int(3.5 * FRAME_RATE)))
    features = window_features(latent, FRAME_RATE)
    assert features.shape == (3, FEATURES_PER_CHANNEL * CHANNELS)  # trailing half second dropped
    np.testing.assert_allclose(features[0, :CHANNELS], latent[:, :FRAME_RATE].mean(axis=1))
    assert window_features(latent[:, :30], FRAME_RATE).shape == (1, FEATURES_PER_CHANNEL * CHANNELS)  # short: one window
    with pytest.raises(ValueError, match="NaN"):
        window_features(np.full((CHANNELS, 100), np.nan), FRAME_RATE)
    with pytest.raises(ValueError, match="channels, frames"):
        window_features(np.zeros(100), FRAME_RATE)


def _level_latent(register: float, gain: float, rng: np.random.Generator, seconds: int = 5) -> np.ndarray:
    """A latent whose channels spread with the audio's level times a register-dependent shape (the random codec's way)."""
    shape = np.exp(np.random.default_rng(99).uniform(-1.0, 1.0, CHANNELS) * register)  # fixed per channel
    bias = np.random.default_rng(98).normal(0.0, 0.02, CHANNELS)[:, None]
    return bias + gain * shape[:, None] * rng.standard_normal((CHANNELS, seconds * FRAME_RATE))


def test_the_register_of_a_quiet_passage_reads_as_that_of_a_loud_one():
    """Regression: on the linear window spreads alone the readout of a quiet clip was pulled toward the mean
    (the level multiplies what the register does to a channel); the log spreads make the level additive."""
    rng = np.random.default_rng(3)
    features, targets = [], []
    for _ in range(80):
        register, gain = rng.uniform(0.0, 1.0), np.exp(rng.uniform(np.log(0.2), 0.0))
        f = window_features(_level_latent(register, gain, rng), FRAME_RATE)
        y = rng.standard_normal((len(f), len(DESCRIPTOR_NAMES)))
        y[:, DESCRIPTOR_NAMES.index("register")] = register
        features.append(f), targets.append(y)
    decoder = ScoreDecoder.fit(np.concatenate(features), np.concatenate(targets), alpha=1.0)
    column = DESCRIPTOR_NAMES.index("register")

    def read(register: float, gain: float) -> float:
        return float(decoder.predict(_level_latent(register, gain, np.random.default_rng(5)))[:, column].mean())

    span = read(1.0, 1.0) - read(0.0, 1.0)  # what a full change of register reads at full level
    assert span > 0.8
    for register in (0.1, 0.9):
        assert abs(read(register, 0.2) - read(register, 1.0)) < 0.1 * span


def test_decoder_reads_loudness_and_register_off_held_out_songs(demo, fitted):
    """The stand-in latent (a per-frame linear map, no temporal receptive field) carries the level and
    the spectral placement of a clip; on issue 12's engine it no longer carries the onset rate of 4 s
    clips at random knobs: test r -0.19 / -0.17 / -0.30 / 0.18 over fixture seeds 7-10 (register 0.80 /
    0.80 / 0.66 / 0.56), and the real random-init EnCodec in its place read 0.29 on 96 songs, where the
    previous engine's onsets read 0.70. The pipeline's decoder, on the real codec and the demo's songs,
    reads onsets off held-out songs at 0.88: see the shipped bundle's test below."""
    dataset, descriptors = demo
    decoder, metrics, split = fitted
    assert split.test_songs and not set(split.test_songs) & set(split.train_songs + split.val_songs)
    assert metrics["alpha"] in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    assert metrics["n_test_windows"] == len(split.test_index) * int(SECONDS)
    # the reported test figures are what the decoder does on the test songs' latents
    rows = np.sort(split.test_index)
    predicted = np.concatenate([decoder.predict(dataset.latents[i]) for i in rows])
    measured = np.concatenate([descriptors[i] for i in rows])
    assert predicted.shape == measured.shape == (len(rows) * int(SECONDS), len(DESCRIPTOR_NAMES))
    test_r = correlations(measured, predicted)
    assert test_r == pytest.approx(metrics["test_r"])
    assert test_r["loudness_db"] > 0.5, test_r
    assert test_r["register"] > 0.5, test_r
    # a decoder that ignores the latent (predicts the training mean) reads nothing
    assert np.allclose(ScoreDecoder.fit(np.zeros((8, 3)), np.tile(descriptors[0][0], (8, 1)), 1.0).predict_features(
        np.ones((2, 3))), descriptors[0][0])


def test_save_load_round_trip_keeps_every_prediction(tmp_path, demo, fitted):
    dataset, _ = demo
    decoder, metrics, _ = fitted
    path = decoder.save(tmp_path / SCORE_DECODER_FILE)
    again = ScoreDecoder.load(path)
    for latent in dataset.latents[:3]:
        np.testing.assert_allclose(again.predict(latent), decoder.predict(latent), rtol=1e-10, atol=1e-10)
    assert again.frame_rate == FRAME_RATE and again.codec_id == "stand-in-test"
    assert again.training["test_r"] == pytest.approx(metrics["test_r"])


@pytest.mark.parametrize(
    "change",
    [{"format_version": 99}, {"descriptors": list(DESCRIPTOR_NAMES[:-1])}, {"context": 3}],
    ids=["format", "descriptors", "context"],
)
def test_a_decoder_in_another_format_is_refused_with_what_to_do(tmp_path, fitted, change):
    decoder, _, _ = fitted
    path = decoder.save(tmp_path / SCORE_DECODER_FILE)
    write_json(path, {**read_json(path), **change})
    with pytest.raises(ValueError, match="retrain"):
        ScoreDecoder.load(path)


def test_fit_refuses_targets_with_the_wrong_columns():
    with pytest.raises(ValueError, match=str(len(DESCRIPTOR_NAMES))):
        ScoreDecoder.fit(np.zeros((10, 4)), np.zeros((10, 3)), 1.0)


def test_the_shipped_decoder_reads_onsets_and_register_off_held_out_songs():
    """What the bundle's own fit measured on its test songs (recorded by the training run, never by hand):
    a rebuild whose decoder stops reading the onset rate or the register (what carries valence through
    the random codec) fails here before its figures reach the README."""
    from pathlib import Path

    manifest = read_json(Path(__file__).resolve().parents[1] / "checkpoints" / "demo" / "manifest.json")
    test_r = manifest["metrics"]["score_decoder"]["test_r"]
    assert test_r["onset_rate"] > 0.5 and test_r["register"] > 0.5 and test_r["loudness_db"] > 0.5, test_r


def _write_chunks(root, clips: dict[str, np.ndarray]) -> None:
    folder = formats.chunks_dir(root, 2)
    folder.mkdir(parents=True, exist_ok=True)
    for cid, audio in clips.items():
        write_audio(folder / f"{cid}.wav", audio, SAMPLE_RATE)
    pd.DataFrame({"chunk_id": list(clips), "file": [f"{cid}.wav" for cid in clips]}).to_csv(
        folder / formats.CHUNK_METADATA_CSV, index=False)


def test_the_descriptor_cache_describes_again_a_chunk_made_again_under_its_id(tmp_path, monkeypatch):
    """Regression: the cache was keyed by chunk id alone, so chunks remade under the same ids (another
    engine, another preprocess) kept the descriptors of the old audio. Now an entry is reused only for
    the same file; unchanged chunks still come from the cache."""
    import emovae.train.score as score

    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    low, high = (0.3 * np.sin(2 * np.pi * f * t).astype(np.float32) for f in (110.0, 1760.0))
    labels = pd.DataFrame({"chunk_id": ["1_000", "2_000"]})
    cache = tmp_path / "descriptors_2s.npz"
    _write_chunks(tmp_path, {"1_000": low, "2_000": low})
    first = score.chunk_descriptors(labels, tmp_path, 2, cache, show_progress=False)

    path = tmp_path / "chunks_2s" / "2_000.wav"
    write_audio(path, high, SAMPLE_RATE)  # song 2 remade: same id, other audio
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # on coarse-mtime filesystems too
    described = []
    monkeypatch.setattr(score, "describe", lambda audio, rate: described.append(1) or describe(audio, rate))
    second = score.chunk_descriptors(labels, tmp_path, 2, cache, show_progress=False)
    assert len(described) == 1  # only the remade chunk
    np.testing.assert_array_equal(second[0], first[0])
    np.testing.assert_array_equal(second[1], describe(load_audio(path, SAMPLE_RATE), SAMPLE_RATE))
    register = DESCRIPTOR_NAMES.index("register")
    assert second[1][:, register].mean() > first[1][:, register].mean() + 1  # the new audio's, not the cached
    described.clear()
    score.chunk_descriptors(labels, tmp_path, 2, cache, show_progress=False)
    assert not described  # a third run reads both from the cache
