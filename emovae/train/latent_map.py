"""The latent map: where the training chunks sit in the VAE's latent space.

Each chunk is encoded to its posterior mean ``mu`` (B, latent_dim, T'), pooled over time (one vector
per chunk: the map shows *what* a chunk is, not how it unfolds), joined by the chunk level's code (the
chunk's channel means and log spreads, the part of "what it is" the per-frame encoder no longer sees
since it encodes the chunk standardised by them), and a 2-D PCA of those vectors is
stored with the chunks' ids and labels. The app draws the map and projects an uploaded clip onto it
with the same ``mean`` and ``components`` (``emovae.app.bundle.LatentMap``), so an upload lands on the
very map the training chunks are drawn on.
Written as ``latent_map.npz`` with keys mean, components, coords, chunk_ids, valence, arousal.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emovae.io import atomic_path

BATCH = 64


@torch.no_grad()
def pooled_posterior_means(model: torch.nn.Module, latents: np.ndarray, cond: np.ndarray,
                           rows: np.ndarray | None = None, batch_size: int = BATCH) -> np.ndarray:
    """Raw codec latents (N, 128, T) + labels (N, 2) -> time-pooled posterior means (n, latent_dim),
    followed by the chunk statistics (n, 2C) when the model has a chunk level.

    ``rows`` selects (sorted) rows of a possibly memory-mapped array, read ``batch_size`` at a time,
    so DEAM-sized latents never have to fit in memory at once.
    """
    rows = np.arange(len(latents)) if rows is None else np.sort(np.asarray(rows))
    device = next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        block = rows[start : start + batch_size]
        x = torch.as_tensor(np.asarray(latents[block], dtype=np.float32), device=device)
        c = torch.as_tensor(np.asarray(cond[block], dtype=np.float32), device=device)
        mu, _ = model.encode_latents(x, c)
        code, stats = mu.mean(dim=-1), model.chunk_statistics(x)
        out.append((code if stats is None else torch.cat([code, stats], dim=1)).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 0))


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, components (2, D), coords (N, 2), explained variance ratio (2,)).

    The sign of each axis is fixed (largest loading positive) so the same data always gives the
    same map; fewer than two usable axes are padded with zeros to keep the file's shape contract.
    """
    mean = points.mean(axis=0)
    _, singular, vt = np.linalg.svd(points - mean, full_matrices=False)
    components = np.zeros((2, points.shape[1]))
    components[: min(2, len(vt))] = vt[:2]
    for row in components:
        if np.any(row) and row[np.argmax(np.abs(row))] < 0:
            row *= -1
    variance = singular**2
    explained = np.zeros(2)
    if variance.sum() > 0:
        explained[: min(2, len(variance))] = (variance / variance.sum())[:2]
    return mean, components, (points - mean) @ components.T, explained


def save_latent_map(path: str | os.PathLike, pooled: np.ndarray, conditions: np.ndarray,
                    chunk_ids: np.ndarray) -> tuple[Path, np.ndarray, np.ndarray]:
    """PCA of ``pooled`` written atomically to ``path``; returns (path, coords, explained ratio)."""
    if len(pooled) < 2 or len(pooled) != len(conditions) or len(pooled) != len(chunk_ids):
        raise ValueError(f"latent map needs >= 2 chunks with one label row each; got {len(pooled)} means, "
                         f"{len(conditions)} labels, {len(chunk_ids)} ids")
    mean, components, coords, explained = pca_2d(np.asarray(pooled, dtype=np.float64))
    target = Path(path)
    with atomic_path(target, suffix=".npz.tmp") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, mean=mean, components=components, coords=coords,
                     chunk_ids=np.asarray([str(c) for c in chunk_ids], dtype=str),  # not object: loads without pickle
                     valence=np.asarray(conditions[:, 0], dtype=np.float64),
                     arousal=np.asarray(conditions[:, 1], dtype=np.float64))
    return target, coords, explained


def build_latent_map(model: torch.nn.Module, latents: np.ndarray, labels: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``latent_map.npz`` for all chunks in ``latents`` (row-aligned with ``labels``)."""
    if len(latents) != len(labels):
        raise ValueError(f"latent map needs one label row per latent; got {len(latents)} latents, {len(labels)} rows")
    cond = labels[["valence", "arousal"]].to_numpy(dtype=np.float32)
    return save_latent_map(path, pooled_posterior_means(model, latents, cond), cond, labels["chunk_id"].astype(str).to_numpy())[0]
