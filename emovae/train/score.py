"""Fit the score decoder (latent -> musical descriptors) on the training songs; judge it on held-out ones.

Targets are measured from each chunk's *audio* (:func:`emovae.analysis.describe`), so nothing here
knows how the chunk was made or what emotion it is labelled with. The descriptors are cached beside
the run (``descriptors_<S>s.npz``, written atomically every few hundred chunks), so an interrupted fit
or a second run only describes what is missing. An entry is reused only for the same chunk id *and*
the same file (:func:`emovae.io.file_identity`, as the encode stage stamps its chunks: size and
SHA-256, read only when the mtime moved) described by the same code (a digest of
:mod:`emovae.analysis.descriptors`): chunks made again under the same ids (another engine, another
preprocess) are described again rather than read from the cache.

The ridge penalty is picked on the validation songs; the per-descriptor correlation reported for
the test songs comes from songs that chose nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emovae import formats
from emovae.analysis import descriptors as descriptors_module
from emovae.analysis.descriptors import DESCRIPTOR_NAMES, describe
from emovae.io import atomic_path, file_identity, same_file
from emovae.model.score import SCORE_DECODER_FILE, ScoreDecoder, window_features
from emovae.train.dataset import LatentDataset, Split
from emovae.progress import Progress

ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
SAVE_EVERY = 200


def descriptors_cache(out: Path, chunk_seconds: int) -> Path:
    return Path(out) / f"descriptors_{int(chunk_seconds)}s.npz"


def _describer_digest() -> str:
    """SHA-256 of the descriptors' source: cached values are valid for this code only."""
    return file_identity(descriptors_module.__file__)["sha256"]


def _identity(path: Path, known: dict | None) -> dict:
    """:func:`~emovae.io.file_identity` of a chunk, or an error that names the missing file and the fix."""
    try:
        return file_identity(path, known)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: a chunk listed in {formats.CHUNK_METADATA_CSV} is missing; run the "
                                "preprocess stage again to remake the chunks") from None


def chunk_descriptors(labels: pd.DataFrame, chunks: str | Path, chunk_seconds: int, cache: Path,
                      show_progress: bool = True, progress: Progress | None = None) -> np.ndarray:
    """``(N, n_windows, n_descriptors)`` for the rows of ``labels``, from the chunk wavs (cached, resumable;
    see the module docstring for when a cached entry is reused)."""
    from emovae.audio import SAMPLE_RATE, load_audio

    folder = formats.chunks_dir(chunks, chunk_seconds)
    table_path = folder / formats.CHUNK_METADATA_CSV
    if not table_path.is_file():
        raise FileNotFoundError(f"{table_path}: no chunk metadata; --chunks must be the preprocess output the "
                                f"latents were encoded from (e.g. processed_data)")
    files = pd.read_csv(table_path, dtype={"chunk_id": str}).set_index("chunk_id")["file"]
    ids = labels["chunk_id"].astype(str).tolist()
    unknown = [cid for cid in ids if cid not in files.index]
    if unknown:
        raise FileNotFoundError(f"{table_path}: has no row for chunk(s) {unknown[:5]} of the latents; pass the "
                                "preprocess output these latents were encoded from")
    digest = _describer_digest()
    known: dict[str, tuple[dict, np.ndarray]] = {}  # chunk id -> (identity of the file described, descriptors)
    if cache.is_file():
        with np.load(cache) as stored:
            # A cache from other code, or from before entries carried their file's identity, is described again in full.
            if "identities" in stored.files and str(stored["describer"]) == digest and tuple(stored["names"].tolist()) == DESCRIPTOR_NAMES:
                known = {cid: (json.loads(identity), values) for cid, identity, values in
                         zip(stored["ids"].tolist(), stored["identities"].tolist(), stored["values"])}
    earlier = {cid: identity for cid, (identity, _) in known.items()}
    identities = {cid: _identity(folder / files[cid], earlier.get(cid)) for cid in ids}
    missing = [cid for cid in ids if not same_file(identities[cid], earlier.get(cid))]

    def save() -> None:
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, ids=np.array(list(known), dtype="U"),
                         identities=np.array([json.dumps(i) for i, _ in known.values()], dtype="U"),
                         values=np.stack([v for _, v in known.values()]), names=np.array(DESCRIPTOR_NAMES),
                         describer=np.array(digest))

    for done, cid in enumerate(tqdm(missing, desc="describe chunks", unit="chunk", disable=not show_progress), 1):
        known[cid] = (identities[cid], describe(load_audio(folder / files[cid], SAMPLE_RATE), SAMPLE_RATE))
        if progress is not None:
            progress(done, len(missing), "describing chunks")
        if done % SAVE_EVERY == 0:
            save()
    if missing:
        save()
    return np.stack([known[cid][1] for cid in ids])


def _rows(dataset: LatentDataset, descriptors: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window features, matching descriptor rows and the song of each row, for chunks ``index``."""
    frame_rate = int(dataset.codec["frame_rate"])
    feats, targets, songs = [], [], []
    song_ids = dataset.labels["song_id"].to_numpy()
    for row in np.sort(index):
        f = window_features(np.asarray(dataset.latents[row]), frame_rate)
        n = min(len(f), len(descriptors[row]))
        feats.append(f[:n]), targets.append(descriptors[row][:n]), songs.append(np.full(n, song_ids[row]))
    return np.concatenate(feats), np.concatenate(targets), np.concatenate(songs)


def correlations(targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Pearson r per descriptor (0 where a side is constant)."""
    out = {}
    for i, name in enumerate(DESCRIPTOR_NAMES):
        t, p = targets[:, i], predictions[:, i]
        out[name] = float(np.corrcoef(t, p)[0, 1]) if t.std() > 1e-12 and p.std() > 1e-12 else 0.0
    return out


def fit_score_decoder(dataset: LatentDataset, split: Split, descriptors: np.ndarray) -> tuple[ScoreDecoder, dict[str, Any]]:
    """Ridge fitted on training songs, penalty picked on validation songs, scored on test songs."""
    x_train, y_train, _ = _rows(dataset, descriptors, split.train_index)
    x_val, y_val, _ = _rows(dataset, descriptors, split.val_index)
    scores = {}
    for alpha in ALPHAS:
        model = ScoreDecoder.fit(x_train, y_train, alpha)
        scores[alpha] = float(np.mean(list(correlations(y_val, model.predict_features(x_val)).values())))
    alpha = max(scores, key=scores.get)
    decoder = ScoreDecoder.fit(x_train, y_train, alpha, int(dataset.codec["frame_rate"]), str(dataset.codec["codec_id"]))
    metrics: dict[str, Any] = {"alpha": alpha, "n_train_windows": int(len(x_train)),
                               "val_r": correlations(y_val, decoder.predict_features(x_val))}
    if len(split.test_index):
        x_test, y_test, _ = _rows(dataset, descriptors, split.test_index)
        metrics["test_r"] = correlations(y_test, decoder.predict_features(x_test))
        metrics["n_test_windows"] = int(len(x_test))
    decoder.training = metrics
    return decoder, metrics


def train_score_decoder(out: Path, dataset: LatentDataset, split: Split, chunks: str | Path,
                        show_progress: bool = True, progress: Progress | None = None) -> tuple[Path, dict[str, Any]]:
    """Describe the chunks (cached), fit, and write ``score_decoder.json`` beside the checkpoints."""
    descriptors = chunk_descriptors(dataset.labels, chunks, dataset.chunk_seconds,
                                    descriptors_cache(out, dataset.chunk_seconds), show_progress, progress)
    decoder, metrics = fit_score_decoder(dataset, split, descriptors)
    return decoder.save(Path(out) / SCORE_DECODER_FILE), metrics
