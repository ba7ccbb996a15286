"""The embedded default: the demo bundle in ``checkpoints/demo/`` and its regenerated dataset.

The bundle ships only what is small (VAE checkpoint, estimator, latent map, manifest); the demo
dataset it was trained on is deterministic from the manifest's ``(n_songs, seconds, seed)``, so the
app shows its labels at once (:mod:`emovae.data.demo_chunks`) and *regenerates* its audio with
:func:`emovae.data.demo.make_demo_dataset` only when a stage needs the files (:func:`ensure_demo_dataset`,
once per host), without shipping megabytes of audio.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from emovae.io import read_json, write_json
from emovae.progress import Progress

MANIFEST = "manifest.json"
DONE_MARKER = ".emovae-demo.json"


class BundleMissingError(FileNotFoundError):
    """The demo bundle (or one of its files) is absent; the message says how to build it."""


@dataclass
class LatentMap:
    """PCA of time-pooled VAE posterior means (plus chunk statistics) of the training chunks (:mod:`emovae.train.latent_map`).

    ``project`` applies the same projection to a new clip's pooled posterior mean, so an upload
    lands on the very map the training chunks are drawn on.
    """

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (2, D)
    coords: np.ndarray  # (N, 2)
    chunk_ids: np.ndarray  # (N,) str
    valence: np.ndarray  # (N,)
    arousal: np.ndarray  # (N,)

    @classmethod
    def load(cls, path: Path) -> "LatentMap":
        with np.load(path, allow_pickle=False) as data:
            missing = {"mean", "components", "coords", "chunk_ids", "valence", "arousal"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: latent map lacks {sorted(missing)}; rebuild the demo bundle")
            return cls(
                mean=np.asarray(data["mean"], dtype=np.float64).reshape(-1),
                components=np.asarray(data["components"], dtype=np.float64).reshape(2, -1),
                coords=np.asarray(data["coords"], dtype=np.float64),
                chunk_ids=np.asarray(data["chunk_ids"]).astype(str),
                valence=np.asarray(data["valence"], dtype=np.float64),
                arousal=np.asarray(data["arousal"], dtype=np.float64),
            )

    def project(self, pooled: np.ndarray) -> np.ndarray:
        """(D,) or (B, D) pooled posterior means -> (2,) or (B, 2) map coordinates."""
        return (np.asarray(pooled, dtype=np.float64) - self.mean) @ self.components.T

    def nearest(self, point: np.ndarray, k: int = 5) -> np.ndarray:
        """Indices of the ``k`` training chunks closest to ``point`` on the map, nearest first."""
        distance = np.linalg.norm(self.coords - np.asarray(point, dtype=np.float64)[None, :], axis=1)
        return np.argsort(distance)[: min(k, len(distance))]


@dataclass
class DemoBundle:
    """A loaded ``manifest.json`` and the paths it names (files are opened lazily)."""

    folder: Path
    manifest: dict
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _file(self, key: str, default: str) -> Path:
        path = self.folder / str(self.manifest.get(key, default))
        if not path.is_file():
            raise BundleMissingError(f"{path}: missing from the demo bundle; rebuild it with `python -m pipeline.run_all --demo`")
        return path

    @property
    def vae_path(self) -> Path:
        return self._file("vae", "vae.pt")

    @property
    def estimator_path(self) -> Path:
        return self._file("estimator", "estimator.json")

    @property
    def latent_map_path(self) -> Path:
        return self._file("latent_map", "latent_map.npz")

    @property
    def codec_identity(self) -> dict:
        return dict(self.manifest.get("codec") or {})

    @property
    def chunk_seconds(self) -> int:
        return int(self.manifest.get("chunk_seconds", 5))

    @property
    def dataset_params(self) -> dict:
        params = dict(self.manifest.get("dataset") or {})
        return {"n_songs": int(params.get("n_songs", 40)), "seconds": float(params.get("seconds", 45.0)), "seed": int(params.get("seed", 0))}

    @cached_property
    def latent_map(self) -> LatentMap:
        return LatentMap.load(self.latent_map_path)

    @cached_property
    def estimator(self):
        from emovae.eval.estimator import EmotionEstimator

        return EmotionEstimator.load(self.estimator_path)


def load_bundle(folder: Path) -> DemoBundle:
    """Read the bundle manifest, or explain how to create the bundle."""
    manifest_path = Path(folder) / MANIFEST
    if not manifest_path.is_file():
        raise BundleMissingError(
            f"{manifest_path}: no demo bundle; build it with `python -m pipeline.run_all --demo` (a few minutes on CPU)"
        )
    return DemoBundle(folder=Path(folder), manifest=read_json(manifest_path))


_dataset_lock = threading.Lock()


def demo_dataset_dir(cache_dir: Path, params: dict) -> Path:
    """One folder per (n_songs, seconds, seed): a different bundle never reuses a stale dataset."""
    return Path(cache_dir) / f"deam-n{params['n_songs']}-s{params['seconds']:g}-seed{params['seed']}"


def ensure_demo_dataset(cache_dir: Path, params: dict, progress: Progress | None = None) -> Path:
    """Regenerate the bundle's demo dataset into ``cache_dir`` once; later calls return at once.

    A marker written after :func:`make_demo_dataset` returns says the folder is complete, so an
    interrupted generation is simply redone (the generator itself writes atomically).
    """
    root = demo_dataset_dir(cache_dir, params)
    marker = root / DONE_MARKER
    with _dataset_lock:  # two visitors opening the Dataset tab at once must not generate twice
        if marker.is_file() and read_json(marker) == params:
            return root
        from emovae.data.demo import make_demo_dataset

        make_demo_dataset(root, n_songs=params["n_songs"], seconds=params["seconds"], seed=params["seed"], progress=progress)
        write_json(marker, params)
    return root
