"""Synthetic latents in the exact on-disk format of the encode stage, for tests and benchmarks.

Their statistics depend on the labels (valence shifts channel means; arousal sets the tempo and
strength of a rhythm shared by all channels, whose phase is random per chunk and so must go through z),
so a conditional model has something real to learn, and song-level offsets make chunks of
one song alike (which is why the split is by song). Not used by the pipeline itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emovae import formats
from emovae.io import atomic_path, write_csv, write_json

SYNTHETIC_CODEC_ID = "synthetic-s0"


def synthetic_codec_identity(codec_id: str = SYNTHETIC_CODEC_ID, channels: int = 128, frame_rate: int = 75) -> dict:
    return {"codec_id": codec_id, "weights": "random", "seed": 0, "latent_kind": "continuous", "bandwidth": None,
            "sample_rate": 24000, "frame_rate": frame_rate, "channels": channels, "weights_hash": "synthetic"}


def write_synthetic_latents(folder: str | Path, n_songs: int = 12, chunks_per_song: int = 6, chunk_seconds: int = 5,
                            channels: int = 128, frame_rate: int = 75, seed: int = 0,
                            codec_id: str = SYNTHETIC_CODEC_ID, block: int = 256) -> Path:
    """Write ``latents_<S>s.npy``, ``labels_<S>s.csv`` and ``codec_<S>s.json`` into ``folder``."""
    rng = np.random.default_rng(seed)
    frames = int(frame_rate * chunk_seconds)
    song_va = rng.uniform(0.05, 0.95, size=(n_songs, 2))
    song_offset = rng.normal(0.0, 0.3, size=(n_songs, channels))
    w_valence, w_arousal = rng.normal(0.0, 1.0, size=(2, channels))
    rows, labels = [], []
    for song in range(n_songs):
        for index in range(chunks_per_song):
            v, a = np.clip(song_va[song] + rng.normal(0.0, 0.03, size=2), 0.0, 1.0)
            rows.append((song, v, a))
            labels.append({"chunk_id": formats.chunk_id(song + 1, index), "song_id": song + 1, "chunk_index": index,
                           "start_s": float(index * chunk_seconds), "end_s": float((index + 1) * chunk_seconds),
                           "valence": round(float(v), 6), "arousal": round(float(a), 6),
                           "label_source": "dynamic", "codec_id": codec_id})
    folder = Path(folder)
    t = np.arange(frames) / frame_rate
    path = formats.latents_path(folder, chunk_seconds)
    with atomic_path(path, suffix=".npy.tmp") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(rows), channels, frames))
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            song = np.array([r[0] for r in part])
            v = np.array([r[1] for r in part])[:, None, None]
            a = np.array([r[2] for r in part])[:, None, None]
            phase = rng.uniform(0, 2 * np.pi, size=(len(part), 1, 1))
            wave = np.sin(2 * np.pi * (0.5 + 1.5 * a) * t[None, None, :] + phase)  # 0.5-2 Hz "tempo"
            x = (2 * v - 1) * w_valence[None, :, None] + (0.2 + 1.5 * a) * wave * w_arousal[None, :, None]
            x += song_offset[song][:, :, None] + rng.normal(0.0, 0.3, size=x.shape)
            out[start : start + len(part)] = x.astype(np.float32)
        out.flush()
        del out
    write_csv(formats.labels_path(folder, chunk_seconds), pd.DataFrame(labels, columns=formats.LATENT_COLUMNS))
    write_json(formats.codec_identity_path(folder, chunk_seconds),
               synthetic_codec_identity(codec_id, channels, frame_rate))
    return folder
