"""Emotion estimator: features, fit on labelled chunks, predictions in range, JSON round trip, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emovae.audio import SAMPLE_RATE, write_wav
from emovae.formats import CHUNK_COLUMNS, CHUNK_METADATA_CSV, chunk_id
from emovae.eval.estimator import EmotionEstimator, fit_estimator_from_chunks
from emovae.eval.features import FEATURE_NAMES, extract_features
from emovae.music import create_melodic_music

SECONDS = 3.0


@pytest.fixture(scope="module")
def chunks_dir(tmp_path_factory):
    """A preprocess-style chunk folder of music-engine clips at random (V, A), plus one corrupt wav."""
    folder = tmp_path_factory.mktemp("chunks_3s")
    rng = np.random.default_rng(7)
    rows = []
    for i in range(28):
        v, a = rng.uniform(0, 1, 2)
        cid = chunk_id(i + 1, 0)
        write_wav(folder / f"{cid}.wav", create_melodic_music(v, a, seconds=SECONDS, seed=i), SAMPLE_RATE)
        rows.append([cid, i + 1, 0, 0.0, SECONDS, v, a, "static", f"{cid}.wav"])
    (folder / "999_000.wav").write_bytes(b"RIFF-not-really")
    rows.append(["999_000", 999, 0, 0.0, SECONDS, 0.5, 0.5, "static", "999_000.wav"])
    pd.DataFrame(rows, columns=CHUNK_COLUMNS).to_csv(folder / CHUNK_METADATA_CSV, index=False)
    return folder


@pytest.fixture(scope="module")
def estimator(chunks_dir):
    return fit_estimator_from_chunks(chunks_dir)


def test_features_follow_loudness_and_register():
    quiet_low = create_melodic_music(0.0, 0.0, seconds=SECONDS, seed=1)
    loud_high = create_melodic_music(1.0, 1.0, seconds=SECONDS, seed=1)
    f_low, f_high = (dict(zip(FEATURE_NAMES, extract_features(x, SAMPLE_RATE))) for x in (quiet_low, loud_high))
    assert f_high["rms_db_mean"] > f_low["rms_db_mean"] + 3
    assert f_high["onset_rate"] > f_low["onset_rate"]
    assert f_high["pitch_register"] > f_low["pitch_register"]


def test_features_reject_unusable_audio():
    with pytest.raises(ValueError, match="at least"):
        extract_features(np.zeros(100, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="NaN"):
        extract_features(np.full(SAMPLE_RATE, np.nan, dtype=np.float32), SAMPLE_RATE)


def test_fit_from_chunks_skips_the_corrupt_wav_and_fits_the_rest(estimator):
    assert estimator.training["n_clips"] == 28
    assert len(estimator.training["skipped"]) == 1 and "999_000.wav" in estimator.training["skipped"][0]
    assert estimator.training["arousal_r2"] > 0.8 and estimator.training["valence_r2"] > 0.5


@pytest.mark.parametrize("preset, target", [("happy", (0.9, 0.9)), ("angry", (0.1, 0.9)), ("sad", (0.1, 0.1)), ("calm", (0.9, 0.1))])
def test_unseen_engine_clips_land_in_their_quadrant(estimator, preset, target):
    audio = create_melodic_music(*target, seconds=SECONDS, seed=123)
    valence, arousal = estimator.predict(audio, SAMPLE_RATE)
    assert 0.0 <= valence <= 1.0 and 0.0 <= arousal <= 1.0
    assert estimator.predict_quadrant(audio, SAMPLE_RATE) == preset, (valence, arousal)


def test_save_load_round_trip_predicts_identically(estimator, tmp_path):
    audio = create_melodic_music(0.3, 0.7, seconds=SECONDS, seed=5)
    path = estimator.save(tmp_path / "estimator.json")
    loaded = EmotionEstimator.load(path)
    assert loaded.predict(audio, SAMPLE_RATE) == pytest.approx(estimator.predict(audio, SAMPLE_RATE), abs=1e-12)


def test_load_refuses_an_estimator_for_other_features(estimator, tmp_path):
    data = estimator.to_dict()
    data["feature_names"] = data["feature_names"][:-1]
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="refit"):
        EmotionEstimator.load(tmp_path / "old.json")


def test_fit_rejects_bad_labels_and_too_few_clips():
    features = np.random.default_rng(0).standard_normal((10, len(FEATURE_NAMES)))
    with pytest.raises(ValueError, match=r"valence labels .* \[0, 1\]"):
        EmotionEstimator().fit_features(features, [1.5] * 10, [0.5] * 10)
    with pytest.raises(ValueError, match="at least"):
        EmotionEstimator().fit_features(features[:3], [0.5] * 3, [0.5] * 3)
    with pytest.raises(RuntimeError, match="not fitted"):
        EmotionEstimator().predict_features(features)


def test_fit_from_a_folder_without_metadata_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="pipeline.preprocess"):
        fit_estimator_from_chunks(tmp_path)


def test_fit_estimator_cli_writes_a_loadable_estimator(chunks_dir, tmp_path, capsys):
    from pipeline.fit_estimator import main

    out = tmp_path / "est.json"
    assert main(["--chunks", str(chunks_dir), "--out", str(out)]) == 0
    assert "fitted on 28 chunks" in capsys.readouterr().out
    assert EmotionEstimator.load(out).is_fitted
    assert main(["--chunks", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
