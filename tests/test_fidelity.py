"""Sample fidelity: descriptors read off samples drawn at the chunks' labels, against the chunks' own."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.eval.fidelity import sample_fidelity

NAMES = ("register", "loudness_db")


def _chunks(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and 'measured' descriptors of held-out chunks: register follows valence, loudness arousal."""
    rng = np.random.default_rng(seed)
    conditions = rng.uniform(0.0, 1.0, size=(n, 2))
    measured = np.stack([60 + 17 * conditions[:, 0], -30 + 10 * conditions[:, 1]], axis=1) + rng.normal(0, 0.5, (n, 2))
    return conditions, measured


def _decode(latent: np.ndarray) -> np.ndarray:
    """A stand-in decoder: the 'latent' holds the descriptors of each window, channel by channel."""
    return latent.T


def test_samples_that_carry_the_label_agree_with_the_chunks():
    conditions, measured = _chunks()

    def faithful(emotion, seed):
        v, a = emotion
        return np.array([[60 + 17 * v] * 5, [-30 + 10 * a] * 5])  # 5 windows, the conditional mean

    result = sample_fidelity(faithful, _decode, conditions, measured, NAMES)
    assert result.n_chunks == 40
    assert result.r["register"] > 0.95 and result.r["loudness_db"] > 0.95
    assert abs(result.bias["register"]) < 0.1 and abs(result.bias["loudness_db"]) < 0.1


def test_a_sample_that_ignores_one_axis_loses_that_descriptor_only():
    """The failure the measure exists for: samples that carry loudness but not register."""
    conditions, measured = _chunks()

    def register_lost(emotion, seed):
        v, a = emotion
        rng = np.random.default_rng(seed)
        return np.array([[60 + 8.5 + rng.normal(0, 3.0)] * 5, [-30 + 10 * a] * 5])

    result = sample_fidelity(register_lost, _decode, conditions, measured, NAMES)
    assert abs(result.r["register"]) < 0.4
    assert result.r["loudness_db"] > 0.95


def test_a_constant_reading_scores_zero_not_nan():
    conditions, measured = _chunks()
    result = sample_fidelity(lambda e, s: np.array([[65.0] * 3, [-25.0] * 3]), _decode, conditions, measured, NAMES)
    assert result.r == {"register": 0.0, "loudness_db": 0.0}
    assert np.isfinite(list(result.bias.values())).all()


def test_each_chunk_is_sampled_at_its_label_with_its_own_seed():
    conditions, measured = _chunks(n=6)
    calls = []

    def recording(emotion, seed):
        calls.append((emotion, seed))
        return np.zeros((2, 2))

    sample_fidelity(recording, _decode, conditions, measured, NAMES)
    assert [seed for _, seed in calls] == list(range(6))
    assert np.allclose([emotion for emotion, _ in calls], conditions)


@pytest.mark.parametrize("conditions, measured, match", [
    (np.zeros((5, 3)), np.zeros((5, 2)), "conditions"),
    (np.zeros((5, 2)), np.zeros((4, 2)), "measured"),
    (np.zeros((2, 2)), np.zeros((2, 2)), "at least 3"),
])
def test_mismatched_or_too_few_chunks_are_refused(conditions, measured, match):
    with pytest.raises(ValueError, match=match):
        sample_fidelity(lambda e, s: np.zeros((2, 2)), _decode, conditions, measured, NAMES)
