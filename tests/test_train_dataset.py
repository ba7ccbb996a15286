"""Latents + labels loading: alignment checks with clear errors, and the leak-free split by song."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emovae import formats
from emovae.io import read_json, save_npy, write_csv, write_json
from emovae.train.dataset import DatasetError, channel_stats, load_latent_dataset, load_split, save_split, split_by_song
from emovae.train.synthetic import write_synthetic_latents


@pytest.fixture()
def latents_dir(tmp_path):
    return write_synthetic_latents(tmp_path / "lat", n_songs=6, chunks_per_song=3, channels=8, seed=1)


def test_loads_aligned_data(latents_dir):
    data = load_latent_dataset(latents_dir, 5)
    assert len(data) == 18 and data.latents.shape == (18, 8, 375)
    assert data.codec["codec_id"] == data.labels["codec_id"].iloc[0]
    x, c = data.batch(np.array([5, 2]))
    assert x.shape == (2, 8, 375) and c.shape == (2, 2)
    assert np.allclose(x[0].numpy(), data.latents[2])  # rows come back sorted, labels alongside
    assert np.allclose(c[0].numpy(), data.conditions[2])


def _labels(folder):
    return pd.read_csv(formats.labels_path(folder, 5), dtype={"chunk_id": str})


def test_row_count_mismatch_names_both_files(latents_dir):
    write_csv(formats.labels_path(latents_dir, 5), _labels(latents_dir).iloc[:-1])
    with pytest.raises(DatasetError, match=r"latents_5s\.npy has 18 rows but .*labels_5s\.csv has 17"):
        load_latent_dataset(latents_dir, 5)


def test_nan_label_names_file_and_chunk(latents_dir):
    labels = _labels(latents_dir)
    labels.loc[4, "arousal"] = np.nan
    write_csv(formats.labels_path(latents_dir, 5), labels)
    with pytest.raises(DatasetError, match=rf"labels_5s\.csv.*arousal.*{labels.loc[4, 'chunk_id']}"):
        load_latent_dataset(latents_dir, 5)


def test_shuffled_chunk_ids_are_caught(latents_dir):
    labels = _labels(latents_dir)
    labels.loc[0, "chunk_id"], labels.loc[1, "chunk_id"] = labels.loc[1, "chunk_id"], labels.loc[0, "chunk_id"]
    write_csv(formats.labels_path(latents_dir, 5), labels)
    with pytest.raises(DatasetError, match="chunk_id does not match"):
        load_latent_dataset(latents_dir, 5)


def test_empty_dataset(tmp_path, latents_dir):
    save_npy(formats.latents_path(latents_dir, 5), np.zeros((0, 8, 375), np.float32))
    write_csv(formats.labels_path(latents_dir, 5), _labels(latents_dir).iloc[:0])
    with pytest.raises(DatasetError, match=r"latents_5s\.npy: the dataset is empty"):
        load_latent_dataset(latents_dir, 5)


def test_wrong_chunk_length_and_missing_files(latents_dir):
    with pytest.raises(DatasetError, match=r"latents_10s\.npy: not found.*pipeline\.encode"):
        load_latent_dataset(latents_dir, 10)
    save_npy(formats.latents_path(latents_dir, 5), np.zeros((18, 8, 300), np.float32))
    with pytest.raises(DatasetError, match=r"chunks have shape \(8, 300\), expected \(8, 375\)"):
        load_latent_dataset(latents_dir, 5)


def test_labels_from_another_codec_are_refused(latents_dir):
    identity = read_json(formats.codec_identity_path(latents_dir, 5))
    write_json(formats.codec_identity_path(latents_dir, 5), {**identity, "codec_id": "pretrained-0000"})
    with pytest.raises(DatasetError, match=r"labels_5s\.csv.*synthetic-s0.*pretrained-0000"):
        load_latent_dataset(latents_dir, 5)


@pytest.mark.parametrize("seed", range(5))
def test_split_has_no_song_on_both_sides(latents_dir, seed):
    labels = load_latent_dataset(latents_dir, 5).labels
    split = split_by_song(labels, 0.34, seed)
    train_songs = set(labels["song_id"].iloc[split.train_index])
    val_songs = set(labels["song_id"].iloc[split.val_index])
    assert train_songs and val_songs and not train_songs & val_songs
    assert len(split.train_index) + len(split.val_index) == len(labels)
    assert sorted(val_songs) == split.val_songs and len(val_songs) == 3  # ceil(0.34 * 6)


def test_split_is_seeded_and_round_trips(tmp_path, latents_dir):
    labels = load_latent_dataset(latents_dir, 5).labels
    a, b = split_by_song(labels, 0.3, 7), split_by_song(labels, 0.3, 7)
    assert a.val_songs == b.val_songs
    assert any(split_by_song(labels, 0.3, s).val_songs != a.val_songs for s in range(8, 20))
    save_split(tmp_path / "split.json", a, labels)
    again = load_split(tmp_path / "split.json", labels)
    assert np.array_equal(again.train_index, a.train_index) and np.array_equal(again.val_index, a.val_index)
    with pytest.raises(DatasetError, match="need at least 2 songs"):
        split_by_song(labels[labels["song_id"] == 1], 0.3, 0)


def test_channel_stats_match_numpy(latents_dir):
    data = load_latent_dataset(latents_dir, 5)
    index = np.array([0, 3, 7, 11])
    mean, std = channel_stats(data.latents, index, block=3)
    x = np.asarray(data.latents[index], dtype=np.float64)
    assert np.allclose(mean, x.mean(axis=(0, 2)), atol=1e-5) and np.allclose(std, x.std(axis=(0, 2)), atol=1e-5)
