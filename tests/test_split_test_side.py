"""The test side of the song split: disjoint from training and validation, seeded, and old split files still load."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.io import read_json, write_json
from emovae.train.config import TrainConfig
from emovae.train.dataset import DatasetError, load_latent_dataset, load_split, save_split, split_by_song
from emovae.train.synthetic import write_synthetic_latents


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    folder = write_synthetic_latents(tmp_path_factory.mktemp("lat") / "lat", n_songs=10, chunks_per_song=3, channels=4, seed=2)
    return load_latent_dataset(folder, 5).labels


def _songs(labels, index) -> set[int]:
    return set(labels["song_id"].iloc[index].astype(int))


@pytest.mark.parametrize("seed", range(6))
def test_test_songs_share_no_song_with_train_or_validation(labels, seed):
    split = split_by_song(labels, 0.2, seed, test_fraction=0.2)
    train, val, test = (_songs(labels, i) for i in (split.train_index, split.val_index, split.test_index))
    assert train and val and test
    assert not train & test and not val & test and not train & val
    assert train | val | test == set(labels["song_id"].astype(int))
    # every chunk is on exactly one side
    every = np.concatenate([split.train_index, split.val_index, split.test_index])
    assert sorted(every.tolist()) == list(range(len(labels)))
    assert sorted(test) == split.test_songs and len(test) == 2  # ceil(0.2 * 10)
    assert sorted(val) == split.val_songs and sorted(train) == split.train_songs


def test_test_side_is_deterministic_for_a_seed_and_moves_with_it(labels):
    a, b = split_by_song(labels, 0.2, 5, 0.2), split_by_song(labels, 0.2, 5, 0.2)
    assert a.test_songs == b.test_songs and a.val_songs == b.val_songs
    np.testing.assert_array_equal(a.test_index, b.test_index)
    assert any(split_by_song(labels, 0.2, s, 0.2).test_songs != a.test_songs for s in range(6, 20))


def test_without_test_fraction_there_is_no_test_side(labels):
    split = split_by_song(labels, 0.3, 0)
    assert split.test_songs == [] and split.test_index.size == 0
    assert len(split.train_index) + len(split.val_index) == len(labels)


def test_a_tiny_dataset_still_gets_a_song_on_every_side(labels):
    three = labels[labels["song_id"].isin(sorted(labels["song_id"].unique())[:3])].reset_index(drop=True)
    split = split_by_song(three, 0.5, 0, test_fraction=0.5)
    assert len(split.train_songs) == len(split.val_songs) == len(split.test_songs) == 1
    with pytest.raises(DatasetError, match="at least 3 songs"):
        split_by_song(three[three["song_id"].isin(split.train_songs + split.val_songs)], 0.3, 0, test_fraction=0.2)


def test_split_with_test_round_trips_and_an_old_file_without_test_loads(tmp_path, labels):
    split = split_by_song(labels, 0.2, 3, test_fraction=0.2)
    save_split(tmp_path / "split.json", split, labels)
    stored = read_json(tmp_path / "split.json")
    assert stored["test_songs"] == split.test_songs and stored["test_fraction"] == 0.2
    again = load_split(tmp_path / "split.json", labels)
    np.testing.assert_array_equal(again.test_index, split.test_index)
    assert again.test_songs == split.test_songs and again.test_fraction == 0.2

    old = {k: v for k, v in stored.items() if not k.startswith("test_")}  # written before the test side existed
    write_json(tmp_path / "old.json", old)
    loaded = load_split(tmp_path / "old.json", labels)
    np.testing.assert_array_equal(loaded.train_index, split.train_index)
    np.testing.assert_array_equal(loaded.val_index, split.val_index)
    assert loaded.test_index.size == 0 and loaded.test_songs == [] and loaded.test_fraction == 0.0


def test_train_config_holds_out_test_songs_by_default_and_checks_the_fractions():
    assert TrainConfig().test_fraction == pytest.approx(0.2)
    with pytest.raises(ValueError, match="test_fraction=0.5"):
        TrainConfig(val_fraction=0.5, test_fraction=0.5)  # nothing left to train on
    with pytest.raises(ValueError, match="test_fraction=-0.1"):
        TrainConfig(test_fraction=-0.1)
