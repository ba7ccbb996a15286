"""Saved PNG figures of a training run (matplotlib, Agg backend: works headless and in threads)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emovae.io import atomic_path  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def plot_training_curves(history: pd.DataFrame, path: Path) -> Path:
    """Total, MSE and KL per epoch for train and validation (beta drawn behind the KL panel)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, title in zip(axes, ("total", "mse", "kl"), ("total (mse + beta*KL)", "reconstruction MSE", "KL / value")):
        ax.plot(history["epoch"], history[f"train_{key}"], "o-", label="train", ms=3)
        ax.plot(history["epoch"], history[f"val_{key}"], "s-", label="validation", ms=3)
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    beta_ax = axes[2].twinx()
    beta_ax.plot(history["epoch"], history["beta"], color="grey", alpha=0.4, lw=1)
    beta_ax.set_ylabel("beta (warm-up)", color="grey")
    fig.tight_layout()
    return _save(fig, path)


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray, titles: Sequence[str], path: Path) -> Path:
    """Original vs reconstructed latent heat maps (channels x frames), one row per chunk, shared colours."""
    n = len(originals)
    fig, axes = plt.subplots(n, 2, figsize=(11, 2.6 * n), squeeze=False, layout="constrained")
    for row in range(n):
        limit = float(np.quantile(np.abs(originals[row]), 0.99)) or 1.0
        for col, (data, label) in enumerate(((originals[row], "original"), (reconstructions[row], "reconstruction"))):
            image = axes[row, col].imshow(data, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes[row, col].set(title=f"{titles[row]} - {label}", ylabel="channel")
        fig.colorbar(image, ax=axes[row].tolist(), shrink=0.9)
    for ax in axes[-1]:
        ax.set_xlabel("frame (75 / s)")
    return _save(fig, path)


def plot_latent_space(coords: np.ndarray, valence: np.ndarray, arousal: np.ndarray, explained: Sequence[float],
                      path: Path) -> Path:
    """PCA of time-pooled posterior means, coloured by valence and by arousal."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, values, name in zip(axes, (valence, arousal), ("valence", "arousal")):
        points = ax.scatter(coords[:, 0], coords[:, 1], c=values, cmap="viridis", s=10, vmin=0, vmax=1)
        ax.set(title=f"posterior means coloured by {name}",
               xlabel=f"PC1 ({explained[0]:.0%})", ylabel=f"PC2 ({explained[1]:.0%})")
        fig.colorbar(points, ax=ax, label=name)
    fig.tight_layout()
    return _save(fig, path)


def plot_conditioning(targets: np.ndarray, predictions: np.ndarray, rho: Sequence[float], path: Path) -> Path:
    """Requested vs regressor-read emotion of generated chunks: the emotion-control check, per axis."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        ax.scatter(targets[:, axis], predictions[:, axis], s=12, alpha=0.6)
        levels = np.unique(targets[:, axis])
        means = [predictions[targets[:, axis] == level, axis].mean() for level in levels]
        ax.plot(levels, means, "r-o", label="mean per target")
        ax.set(title=f"{name}: Spearman rho = {rho[axis]:.2f}", xlabel=f"target {name}", ylabel=f"predicted {name}")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
