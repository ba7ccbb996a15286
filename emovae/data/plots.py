"""Valence/arousal distribution figures of a preprocessing run (seed notebook 1's plots).

They answer "what emotions does the training data cover?" before any model is trained: the static
per-song labels, the per-chunk labels coloured by where each label came from, and the marginal
histograms. PNGs via matplotlib (Agg, so it works headless and in worker threads); one plotly
HTML scatter for hovering over individual chunks. Every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import pandas as pd  # noqa: E402

from emovae.io import atomic_path  # noqa: E402

SOURCE_COLOURS = {"dynamic": "tab:blue", "static": "tab:orange"}


def _quadrant_axes(ax: plt.Axes, title: str) -> None:
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="valence", ylabel="arousal", title=title, aspect="equal")
    ax.axhline(0.5, color="grey", lw=0.6, ls="--")
    ax.axvline(0.5, color="grey", lw=0.6, ls="--")


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_static_scatter(static: pd.DataFrame, path: str | Path) -> Path:
    """One point per song at its static (whole-song) label."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(static["valence"], static["arousal"], s=12, alpha=0.6, color="tab:green")
    _quadrant_axes(ax, f"Static song labels (n={len(static)})")
    return _save(fig, Path(path))


def plot_chunk_scatter(chunks: pd.DataFrame, path: str | Path) -> Path:
    """One point per chunk, coloured by label source (dynamic window mean vs static fallback)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for source, group in chunks.groupby("label_source"):
        colour = SOURCE_COLOURS.get(str(source), "tab:grey")
        ax.scatter(group["valence"], group["arousal"], s=8, alpha=0.5, color=colour, label=f"{source} ({len(group)})")
    _quadrant_axes(ax, f"Chunk labels (n={len(chunks)})")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, Path(path))


def plot_histograms(static: pd.DataFrame, chunks: pd.DataFrame, path: str | Path) -> Path:
    """Marginal valence and arousal distributions of songs (static) and chunks side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    bins = [i / 20 for i in range(21)]
    for ax, dimension in zip(axes, ("valence", "arousal")):
        ax.hist(static[dimension], bins=bins, alpha=0.6, density=True, label=f"songs (n={len(static)})")
        ax.hist(chunks[dimension], bins=bins, alpha=0.6, density=True, label=f"chunks (n={len(chunks)})")
        ax.set(xlim=(0, 1), xlabel=dimension, ylabel="density", title=f"{dimension.capitalize()} distribution")
        ax.legend(fontsize=8)
    return _save(fig, Path(path))


def plot_chunk_scatter_html(chunks: pd.DataFrame, path: str | Path) -> Path:
    """Interactive chunk scatter; plotly.js goes beside it once (works offline, stays small)."""
    import plotly.express as px

    fig = px.scatter(
        chunks,
        x="valence",
        y="arousal",
        color="label_source",
        hover_data=["chunk_id", "song_id", "start_s", "end_s"],
        range_x=(0, 1),
        range_y=(0, 1),
        title=f"Chunk labels (n={len(chunks)})",
    )
    target = Path(path)
    with atomic_path(target, suffix=".html.tmp") as tmp:
        fig.write_html(tmp, include_plotlyjs="directory")
    return target
