"""Fréchet distance between latent feature sets, and its per-quadrant report."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.emotion import PRESETS
from emovae.eval.frechet import frechet_distance, quadrant_distances
from emovae.eval.probe import feature_columns, pooled_features


def test_identical_samples_are_at_distance_zero():
    x = np.random.default_rng(0).standard_normal((200, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # two draws of the same Gaussian are close compared with a shifted one
    y = np.random.default_rng(1).standard_normal((200, 6))
    assert frechet_distance(x, y) < 0.5


def test_distance_grows_with_a_mean_shift_like_its_square():
    rng = np.random.default_rng(2)
    x, noise = rng.standard_normal((300, 4)), rng.standard_normal((300, 4))
    distances = [frechet_distance(x, noise + shift) for shift in (0.0, 1.0, 2.0, 4.0)]
    assert all(b > a for a, b in zip(distances, distances[1:]))
    # a shift of s along every one of the 4 axes adds about 4 s^2
    assert distances[-1] - distances[0] == pytest.approx(4 * 16.0, rel=0.1)


def test_distance_sees_a_change_of_spread_with_the_same_mean():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 3))
    assert frechet_distance(x, 3.0 * rng.standard_normal((400, 3))) > 2.0 + frechet_distance(x, rng.standard_normal((400, 3)))


def test_one_dimensional_features_work():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((100, 1)), rng.standard_normal((100, 1)) + 3.0
    assert frechet_distance(a, b) == pytest.approx(9.0, rel=0.25)


def _side(rng, counts: dict[str, int], shift: float = 0.0, d: int = 10):
    features, emotions = [], []
    for name, n in counts.items():
        v, a = PRESETS[name]
        centre = np.array([0.25 + 0.5 * v, 0.25 + 0.5 * a])  # inside the quadrant, off the 0.5 border
        emotions.append(np.tile(centre, (n, 1)))
        features.append(rng.standard_normal((n, d)) + shift)
    return np.concatenate(features), np.concatenate(emotions)


def test_quadrant_distances_report_ratios_and_none_for_thin_quadrants():
    rng = np.random.default_rng(5)
    full = {"happy": 40, "angry": 40, "sad": 40, "calm": 40}
    train, test = _side(rng, full), _side(rng, full)
    close = _side(rng, {"happy": 40, "angry": 40, "sad": 40, "calm": 2})  # calm: too few generated chunks
    far = _side(rng, {"happy": 40, "angry": 40, "sad": 40, "calm": 2}, shift=3.0)

    near_report = quadrant_distances(train, test, close, n_components=4, min_chunks=4)
    far_report = quadrant_distances(train, test, far, n_components=4, min_chunks=4)
    assert set(near_report) == set(PRESETS)
    calm = near_report["calm"]
    assert calm["ratio"] is None and calm["generated_vs_test"] is None and calm["train_vs_test"] is None
    assert calm["n_generated"] == 2 and calm["n_test"] == 40 and calm["n_train"] == 40
    for name in ("happy", "angry", "sad"):
        near, distant = near_report[name], far_report[name]
        assert near["train_vs_test"] > 0 and near["ratio"] is not None
        assert near["ratio"] < 3.0  # generated like real: about as far from the test songs as the training songs
        assert distant["ratio"] > 5.0 * near["ratio"]  # shifted generated chunks are much farther
        assert distant["train_vs_test"] == pytest.approx(near["train_vs_test"])  # the yardstick does not move


def test_a_quadrant_thin_on_the_real_side_is_none_too():
    rng = np.random.default_rng(6)
    full = {"happy": 20, "angry": 20, "sad": 20, "calm": 20}
    report = quadrant_distances(_side(rng, {**full, "sad": 3}), _side(rng, full), _side(rng, full), n_components=3)
    assert report["sad"]["ratio"] is None and report["sad"]["n_train"] == 3
    assert report["happy"]["ratio"] is not None


class _Resampler:
    """A stand-in generator: for each requested emotion it returns a real chunk of the same quadrant, or
    (``prototype``) that quadrant's mean chunk with fresh frame noise: right texture, no song-to-song
    variation, the failure the training-conditions yardstick must see."""

    def __init__(self, latents: np.ndarray, emotions: np.ndarray, prototype: bool = False):
        from emovae.emotion import quadrant

        self.latents, self.prototype = latents, prototype
        self.quadrants = np.array([quadrant(v, a) for v, a in emotions])
        self.quadrant = quadrant

    def eval(self):
        return self

    def generate(self, cond, n_frames, generator=None, guidance=1.0):
        import torch

        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        out = []
        for v, a in cond.numpy():
            pool = self.latents[self.quadrants == self.quadrant(v, a)]
            if self.prototype:
                out.append(pool.mean(axis=0) + 0.5 * rng.standard_normal(pool.shape[1:]).astype(np.float32))
            else:
                out.append(pool[rng.integers(len(pool))])
        return torch.from_numpy(np.stack(out))


def test_frechet_at_training_conditions_scores_a_model_that_samples_like_the_data_near_one():
    import pandas as pd
    import torch

    from emovae.train.dataset import LatentDataset
    from emovae.train.evaluate import frechet_at_training_conditions

    rng = np.random.default_rng(7)
    n_songs, per_song = 400, 3
    emotions = np.repeat(rng.uniform(0.05, 0.95, (n_songs, 2)), per_song, axis=0).astype(np.float32)
    # what varies between songs: each channel's level and texture (its frame spread)
    song_offset = np.repeat(rng.standard_normal((n_songs, 6, 1)), per_song, axis=0)
    song_spread = np.repeat(0.5 * np.exp(0.4 * rng.standard_normal((n_songs, 6, 1))), per_song, axis=0)
    latents = (song_offset + song_spread * rng.standard_normal((n_songs * per_song, 6, 300))).astype(np.float32)
    labels = pd.DataFrame({"valence": emotions[:, 0], "arousal": emotions[:, 1]})
    dataset = LatentDataset(latents, labels, {}, 5, None, None)
    songs = np.repeat(np.arange(n_songs), per_song)
    train_rows, test_rows = np.flatnonzero(songs < 250), np.flatnonzero(songs >= 250)
    features = pooled_features(latents)

    def report(model, columns=None):
        return frechet_at_training_conditions(model, dataset, train_rows, features[train_rows],
                                              {"test": (test_rows, features[test_rows])}, seed=0,
                                              device=torch.device("cpu"), draws=2, columns=columns)["test"]

    like_data = report(_Resampler(latents[train_rows], emotions[train_rows]))
    prototypes = report(_Resampler(latents[train_rows], emotions[train_rows], prototype=True))
    rated = [name for name, row in like_data.items() if row["ratio"] is not None]
    assert rated, like_data
    for name in rated:
        assert like_data[name]["n_generated"] == like_data[name]["n_train"]  # same size, same emotions
        assert len(like_data[name]["ratio_per_draw"]) == 2
        assert like_data[name]["ratio"] < 1.6, (name, like_data[name])
        assert prototypes[name]["ratio"] > 2.0 * like_data[name]["ratio"], (name, prototypes[name])
    # judged on the texture groups alone (what a chunk level that draws means and spreads does not model)
    texture = feature_columns(["flux", "spread"], 6)
    like_texture = report(_Resampler(latents[train_rows], emotions[train_rows]), texture)
    prototype_texture = report(_Resampler(latents[train_rows], emotions[train_rows], prototype=True), texture)
    for name in rated:
        assert like_texture[name]["ratio"] < 1.6, (name, like_texture[name])
        assert prototype_texture[name]["ratio"] > 2.0 * like_texture[name]["ratio"], (name, prototype_texture[name])


def test_feature_columns_name_the_blocks_of_pooled_features():
    x = np.random.default_rng(0).standard_normal((3, 4, 150))
    features = pooled_features(x)
    assert np.array_equal(features[:, feature_columns(["flux"], 4)], np.abs(np.diff(x, axis=2)).mean(axis=2))
    assert list(feature_columns(["mean", "spread"], 4)) == [0, 1, 2, 3, 12, 13, 14, 15]
    with pytest.raises(ValueError, match="choose from mean, std, flux, spread"):
        feature_columns(["loudness"], 4)
