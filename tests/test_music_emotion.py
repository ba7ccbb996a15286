"""Emotion is measurably present in the audio: librosa features follow the targets the way listeners' cues do.

These are the cues the project's emotion estimator reads (onset rate, RMS, spectral centroid,
major-vs-minor key profile), so robust monotone trends here are what makes its goals reachable.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from scipy.stats import spearmanr

from emovae.emotion import PRESETS
from emovae.music import create_melodic_music

SR = 22_050
SECONDS = 8.0
LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def features(audio: np.ndarray) -> dict[str, float]:
    envelope = librosa.onset.onset_strength(y=audio, sr=SR)
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=SR)
    chroma = librosa.feature.chroma_stft(y=audio, sr=SR).mean(axis=1)
    return {
        "onset_rate": len(onsets) / SECONDS,
        "rms": float(np.mean(librosa.feature.rms(y=audio))),
        "centroid": float(np.mean(librosa.feature.spectral_centroid(y=audio, sr=SR))),
        "major_minor": _best_key_fit(chroma, MAJOR) - _best_key_fit(chroma, MINOR),
    }


def _best_key_fit(chroma: np.ndarray, profile: np.ndarray) -> float:
    return max(np.corrcoef(np.roll(profile, key), chroma)[0, 1] for key in range(12))


@pytest.fixture(scope="module")
def arousal_sweep() -> list[dict[str, float]]:
    """Mean features over two valences per arousal level."""
    out = []
    for a in LEVELS:
        rows = [features(create_melodic_music(v, a, SECONDS, seed=s, sample_rate=SR)) for v, s in ((0.25, 0), (0.75, 1))]
        out.append({k: float(np.mean([r[k] for r in rows])) for k in rows[0]})
    return out


@pytest.fixture(scope="module")
def valence_sweep() -> list[dict[str, float]]:
    """Mean features over two arousals and seeds per valence level."""
    out = []
    for v in LEVELS:
        rows = [features(create_melodic_music(v, a, SECONDS, seed=s, sample_rate=SR)) for a, s in ((0.3, 2), (0.7, 3))]
        out.append({k: float(np.mean([r[k] for r in rows])) for k in rows[0]})
    return out


@pytest.mark.parametrize("cue", ["onset_rate", "rms", "centroid"])
def test_arousal_cues_rise_with_arousal(arousal_sweep, cue):
    values = [row[cue] for row in arousal_sweep]
    assert spearmanr(LEVELS, values)[0] >= 0.9, values
    assert values[-1] > 1.5 * values[0], values


def test_major_key_fit_separates_major_from_minor_valence(valence_sweep):
    """Positive valence is written in major modes, negative in minor ones: the key-profile fit says so."""
    values = [row["major_minor"] for row in valence_sweep]
    assert min(values[3:]) > max(values[:3]), values
    assert np.mean(values[3:]) > np.mean(values[:2]) + 0.2, values


def test_register_and_brightness_rise_with_valence(valence_sweep):
    values = [row["centroid"] for row in valence_sweep]
    assert spearmanr(LEVELS, values)[0] >= 0.9, values


def test_valence_barely_moves_the_arousal_cues(valence_sweep, arousal_sweep):
    """Valence must not masquerade as arousal: its effect on onset rate is small next to arousal's."""
    valence_span = np.ptp([row["onset_rate"] for row in valence_sweep])
    arousal_span = np.ptp([row["onset_rate"] for row in arousal_sweep])
    assert valence_span < 0.3 * arousal_span


def test_presets_differ_along_both_axes():
    cues = {name: features(create_melodic_music(v, a, SECONDS, seed=4, sample_rate=SR)) for name, (v, a) in PRESETS.items()}
    for high, low in (("happy", "calm"), ("angry", "sad")):
        assert cues[high]["onset_rate"] > cues[low]["onset_rate"] and cues[high]["rms"] > cues[low]["rms"]
    for bright, dark in (("happy", "angry"), ("calm", "sad")):
        assert cues[bright]["major_minor"] > cues[dark]["major_minor"]
