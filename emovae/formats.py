"""Where each stage writes its artefacts, and the columns of its tables: the contracts between stages.

Kept in one module so a stage reads the previous stage's output by name rather than by guess.

Preprocess (``processed_data/``)::

    chunks_5s/<chunk_id>.wav          mono, 24 kHz, exactly chunk_seconds long
    chunks_5s/metadata.csv            one row per chunk, CHUNK_COLUMNS
    chunks_5s/metadata.json           run settings + the same rows + the skip report
    plots/                            VA distribution figures

Encode (``latent_representations/``)::

    latents_5s.npy                    float32 (N, channels, frames), row i <-> labels row i
    labels_5s.csv                     LATENT_COLUMNS
    codec_5s.json                     the codec identity the latents were made with

Train (``vae_model/``)::  best.pt, last.pt, history.csv, split.json, figures
"""

from __future__ import annotations

from pathlib import Path

CHUNK_SECONDS_CHOICES = (5, 10)

# preprocess
DEFAULT_PROCESSED_DIR = "processed_data"
CHUNK_METADATA_CSV = "metadata.csv"
CHUNK_METADATA_JSON = "metadata.json"
CHUNK_COLUMNS = [
    "chunk_id",  # f"{song_id}_{chunk_index:03d}", unique across the dataset
    "song_id",
    "chunk_index",
    "start_s",
    "end_s",
    "valence",  # [0, 1]
    "arousal",  # [0, 1]
    "label_source",  # "dynamic" or "static"
    "file",  # path of the wav relative to the chunks folder
]

# encode
DEFAULT_LATENT_DIR = "latent_representations"
LATENT_COLUMNS = ["chunk_id", "song_id", "chunk_index", "start_s", "end_s", "valence", "arousal", "label_source", "codec_id"]

# train
DEFAULT_MODEL_DIR = "vae_model"


def chunk_id(song_id: int, chunk_index: int) -> str:
    """The id of one chunk, stable across runs (it names the wav and keys every table)."""
    return f"{int(song_id)}_{int(chunk_index):03d}"


def chunks_dir(processed_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(processed_dir) / f"chunks_{int(chunk_seconds)}s"


def latents_path(latent_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(latent_dir) / f"latents_{int(chunk_seconds)}s.npy"


def labels_path(latent_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(latent_dir) / f"labels_{int(chunk_seconds)}s.csv"


def codec_identity_path(latent_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(latent_dir) / f"codec_{int(chunk_seconds)}s.json"
