"""Load the encode stage's output (latents + labels + codec identity), check it, and split it by song.

The latents are memory-mapped, not loaded: 16,000 five-second chunks are ~3 GB of float32, and the
training loop only ever needs one batch at a time (the OS page cache keeps the hot file in memory).
Every check names the file at fault and what to do, because these files are produced by an earlier,
slow stage and a silent misalignment would train a model on wrong labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch

from emovae import formats
from emovae.io import read_json, write_json


class DatasetError(ValueError):
    """The latents folder cannot be used for training (the message names the file and the fix)."""


@dataclass
class LatentDataset:
    """Row-aligned latents ``(N, C, T)``, labels table and the codec identity they were made with."""

    latents: np.ndarray  # float32, usually a read-only memmap
    labels: pd.DataFrame
    codec: dict[str, Any]
    chunk_seconds: int
    latents_file: Path
    labels_file: Path

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def conditions(self) -> np.ndarray:
        """``(N, 2)`` float32 (valence, arousal) in [0, 1]."""
        return self.labels[["valence", "arousal"]].to_numpy(dtype=np.float32)

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather rows (sorted first: sequential reads from the memmap) as ``(x, cond)`` tensors."""
        order = np.sort(np.asarray(indices))
        x = torch.from_numpy(np.ascontiguousarray(self.latents[order], dtype=np.float32))
        c = torch.from_numpy(self.conditions[order])
        return x, c


def load_latent_dataset(latent_dir: str | Path, chunk_seconds: int) -> LatentDataset:
    """Open ``latents_<S>s.npy``, ``labels_<S>s.csv`` and ``codec_<S>s.json`` and validate them together."""
    latents_file = formats.latents_path(latent_dir, chunk_seconds)
    labels_file = formats.labels_path(latent_dir, chunk_seconds)
    codec_file = formats.codec_identity_path(latent_dir, chunk_seconds)
    for path in (latents_file, labels_file, codec_file):
        if not path.is_file():
            raise DatasetError(
                f"{path}: not found; run `python -m pipeline.encode --chunk-seconds {chunk_seconds}` first "
                "(or point --latents at the folder holding it)"
            )
    try:
        latents = np.load(latents_file, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{latents_file}: not a readable .npy array ({exc}); re-run the encode stage") from None
    try:
        labels = pd.read_csv(labels_file, dtype={"chunk_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{labels_file}: not a readable CSV ({exc}); re-run the encode stage") from None
    codec = read_json(codec_file)
    _check_codec(codec, codec_file)
    _check_latents(latents, latents_file, codec, chunk_seconds)
    _check_labels(labels, labels_file, codec)
    if len(labels) != latents.shape[0]:
        raise DatasetError(
            f"{latents_file} has {latents.shape[0]} rows but {labels_file} has {len(labels)}: they must be "
            "row-aligned; re-run the encode stage so both are written together"
        )
    return LatentDataset(latents, labels, codec, int(chunk_seconds), latents_file, labels_file)


def _check_codec(codec: Any, path: Path) -> None:
    required = ("codec_id", "channels", "frame_rate")
    if not isinstance(codec, dict) or any(key not in codec for key in required):
        raise DatasetError(f"{path}: not a codec identity (needs keys {list(required)}); re-run the encode stage")


def _check_latents(latents: np.ndarray, path: Path, codec: dict[str, Any], chunk_seconds: int) -> None:
    if latents.ndim != 3:
        raise DatasetError(f"{path}: expected a 3-D array (chunks, channels, frames), got shape {latents.shape}")
    if latents.shape[0] == 0:
        raise DatasetError(f"{path}: the dataset is empty (0 chunks); check the preprocess and encode stages")
    if latents.dtype != np.float32:
        raise DatasetError(f"{path}: expected float32 latents, got {latents.dtype}; re-run the encode stage")
    expected = (int(codec["channels"]), int(round(float(codec["frame_rate"]) * chunk_seconds)))
    if latents.shape[1:] != expected:
        raise DatasetError(
            f"{path}: chunks have shape {latents.shape[1:]}, expected {expected} "
            f"({codec['channels']} channels x {codec['frame_rate']} frames/s x {chunk_seconds} s); "
            "is --chunk-seconds right?"
        )


def _check_labels(labels: pd.DataFrame, path: Path, codec: dict[str, Any]) -> None:
    missing = [c for c in formats.LATENT_COLUMNS if c not in labels.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; expected {formats.LATENT_COLUMNS}")
    if labels.empty:
        raise DatasetError(f"{path}: the dataset is empty (0 labelled chunks); check the preprocess and encode stages")
    for column in ("valence", "arousal"):
        values = pd.to_numeric(labels[column], errors="coerce")
        bad = labels.loc[values.isna(), "chunk_id"].astype(str).tolist()
        if bad:
            raise DatasetError(f"{path}: {len(bad)} chunk(s) have a missing/non-numeric {column}, e.g. {bad[:5]}")
        out = labels.loc[(values < 0) | (values > 1), "chunk_id"].astype(str).tolist()
        if out:
            raise DatasetError(f"{path}: {len(out)} chunk(s) have {column} outside [0, 1], e.g. {out[:5]}")
    dupes = labels.loc[labels["chunk_id"].duplicated(), "chunk_id"].astype(str).tolist()
    if dupes:
        raise DatasetError(f"{path}: duplicate chunk_id(s) {dupes[:5]}: rows are misaligned; re-run the encode stage")
    expected_ids = [formats.chunk_id(s, i) for s, i in zip(labels["song_id"], labels["chunk_index"])]
    wrong = labels.loc[labels["chunk_id"].astype(str) != pd.Series(expected_ids, index=labels.index), "chunk_id"]
    if len(wrong):
        raise DatasetError(
            f"{path}: chunk_id does not match song_id/chunk_index for {len(wrong)} row(s), e.g. "
            f"{wrong.astype(str).tolist()[:5]}: the table is corrupted; re-run the encode stage"
        )
    foreign = sorted(set(labels["codec_id"].astype(str)) - {str(codec["codec_id"])})
    if foreign:
        raise DatasetError(
            f"{path}: rows were encoded with codec {foreign} but the codec identity says "
            f"{codec['codec_id']!r}; re-encode so latents, labels and identity agree"
        )


# --- split -----------------------------------------------------------------------------------------------
@dataclass
class Split:
    """Chunk indices of the train, validation and test sides; no song is on two sides.

    Validation picks ``best.pt``; the test songs are touched by nothing that is fitted or chosen
    (weights, checkpoint, score decoder, estimator, probe), so the figures measured on them are honest.
    """

    train_index: np.ndarray
    val_index: np.ndarray
    train_songs: list[int]
    val_songs: list[int]
    seed: int
    val_fraction: float
    test_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_songs: list[int] = field(default_factory=list)
    test_fraction: float = 0.0

    def to_dict(self, labels: pd.DataFrame) -> dict[str, Any]:
        ids = labels["chunk_id"].astype(str).to_numpy()
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "train_songs": self.train_songs,
            "val_songs": self.val_songs,
            "test_songs": self.test_songs,
            "train_chunks": ids[self.train_index].tolist(),
            "val_chunks": ids[self.val_index].tolist(),
            "test_chunks": ids[self.test_index].tolist(),
        }


def split_sizes(n_songs: int, val_fraction: float, test_fraction: float = 0.0) -> tuple[int, int, int]:
    """How many songs :func:`split_by_song` puts on the train, validation and test sides (each non-empty)."""
    sides = 2 + (test_fraction > 0)
    if n_songs < sides:
        raise DatasetError(f"need at least {sides} songs to split train/validation{'/test' if sides == 3 else ''} "
                           f"by song, got {n_songs}")
    n_val = min(n_songs - sides + 1, max(1, int(math.ceil(val_fraction * n_songs))))
    n_test = 0 if sides == 2 else min(n_songs - n_val - 1, max(1, int(math.ceil(test_fraction * n_songs))))
    return n_songs - n_val - n_test, n_val, n_test


def split_by_song(labels: pd.DataFrame, val_fraction: float, seed: int, test_fraction: float = 0.0) -> Split:
    """Hold out seeded random fractions of *songs* for validation and test (chunks of a song are
    near-duplicates, so a chunk-level split would leak and flatter every held-out figure)."""
    songs = np.array(sorted(int(s) for s in labels["song_id"].unique()))
    _, n_val, n_test = split_sizes(len(songs), val_fraction, test_fraction)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(songs)
    val_songs, test_songs = set(shuffled[:n_val].tolist()), set(shuffled[n_val:n_val + n_test].tolist())
    song_of = labels["song_id"].astype(int)
    is_val, is_test = song_of.isin(val_songs).to_numpy(), song_of.isin(test_songs).to_numpy()
    return Split(
        train_index=np.flatnonzero(~is_val & ~is_test),
        val_index=np.flatnonzero(is_val),
        train_songs=sorted(int(s) for s in songs if s not in val_songs and s not in test_songs),
        val_songs=sorted(val_songs),
        seed=seed,
        val_fraction=val_fraction,
        test_index=np.flatnonzero(is_test),
        test_songs=sorted(test_songs),
        test_fraction=float(test_fraction),
    )


def save_split(path: Path, split: Split, labels: pd.DataFrame) -> None:
    write_json(path, split.to_dict(labels))


def load_split(path: Path, labels: pd.DataFrame) -> Split:
    """Re-read a saved split (for ``--resume``), refusing it if the chunks no longer match the labels."""
    data = read_json(path)
    position = {cid: i for i, cid in enumerate(labels["chunk_id"].astype(str))}
    try:
        index = {side: np.array([position[c] for c in data.get(f"{side}_chunks", [])], dtype=np.int64)
                 for side in ("train", "val", "test")}
    except KeyError as exc:
        raise DatasetError(f"{path}: refers to chunk {exc} which is not in the current labels; "
                           "start a fresh run (without --resume) or restore the original latents") from None
    return Split(index["train"], index["val"], list(data["train_songs"]), list(data["val_songs"]),
                 int(data["seed"]), float(data["val_fraction"]), index["test"], list(data.get("test_songs", [])),
                 float(data.get("test_fraction", 0.0)))


def channel_stats(latents: np.ndarray, index: np.ndarray, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over the given chunks and all frames, streamed in float64 blocks."""
    channels = latents.shape[1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for rows in iter_blocks(np.sort(index), block):
        x = np.asarray(latents[rows], dtype=np.float64)
        total += x.sum(axis=(0, 2))
        total_sq += np.square(x).sum(axis=(0, 2))
        count += x.shape[0] * x.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def iter_blocks(index: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start : start + size]
