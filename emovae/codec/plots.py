"""Latent-space figures: does EnCodec's latent space already order chunks by emotion?

Each chunk's latents are averaged over time (128 numbers per chunk), projected on their first two
principal components, and coloured by valence and by arousal. A PNG is kept for the record, an
interactive plotly HTML (hover shows the chunk id) for exploring.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from emovae.io import atomic_path  # noqa: E402

EMOTIONS = ("valence", "arousal")


def time_pooled(latents: np.ndarray, block: int = 256) -> np.ndarray:
    """Mean over frames, ``(N, C, F) -> (N, C)``, in blocks so a memory-mapped array is never fully loaded."""
    if len(latents) == 0:
        return np.zeros((0, latents.shape[1]), np.float32)
    blocks = [np.asarray(latents[i : i + block], dtype=np.float32).mean(axis=2) for i in range(0, len(latents), block)]
    return np.concatenate(blocks)


def latent_pca(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA coordinates of the time-pooled latents, and the variance ratio of each component."""
    pooled = time_pooled(latents)
    pca = PCA(n_components=2, random_state=0).fit(pooled)
    return pca.transform(pooled), pca.explained_variance_ratio_


def plot_latent_pca(latents: np.ndarray, labels: pd.DataFrame, png: Path, html: Path, title: str) -> list[Path]:
    """Write the PCA scatter coloured by valence and by arousal as ``png`` and ``html``; return both paths."""
    if len(latents) != len(labels):
        raise ValueError(f"{len(latents)} latent rows but {len(labels)} label rows: they must be row-aligned")
    coords, ratio = latent_pca(latents)
    axis_names = [f"PC{i + 1} ({100 * r:.1f}% var)" for i, r in enumerate(ratio)]
    _write_png(coords, labels, axis_names, png, title)
    _write_html(coords, labels, axis_names, html, title)
    return [Path(png), Path(html)]


def _write_png(coords: np.ndarray, labels: pd.DataFrame, axis_names: list[str], path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for ax, emotion in zip(axes, EMOTIONS):
        points = ax.scatter(coords[:, 0], coords[:, 1], c=labels[emotion], cmap="coolwarm", vmin=0, vmax=1, s=10)
        fig.colorbar(points, ax=ax, label=emotion)
        ax.set(title=f"coloured by {emotion}", xlabel=axis_names[0], ylabel=axis_names[1])
    fig.suptitle(title)
    with atomic_path(path, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _write_html(coords: np.ndarray, labels: pd.DataFrame, axis_names: list[str], path: Path, title: str) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"coloured by {e}" for e in EMOTIONS], horizontal_spacing=0.12)
    hover = [f"{cid}<br>valence {v:.2f}, arousal {a:.2f}"
             for cid, v, a in zip(labels["chunk_id"], labels["valence"], labels["arousal"])]
    for col, emotion in enumerate(EMOTIONS, start=1):
        colorbar = dict(title=emotion, x=0.44 if col == 1 else 1.0)
        marker = dict(color=labels[emotion], colorscale="RdBu_r", cmin=0, cmax=1, size=6, colorbar=colorbar)
        fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", marker=marker, text=hover,
                                   hoverinfo="text", name=emotion, showlegend=False), row=1, col=col)
        fig.update_xaxes(title_text=axis_names[0], row=1, col=col)
        fig.update_yaxes(title_text=axis_names[1], row=1, col=col)
    fig.update_layout(title=title, width=1100, height=500)
    with atomic_path(path, suffix=".html.tmp") as tmp:
        fig.write_html(tmp, include_plotlyjs=True)  # self-contained: works offline
