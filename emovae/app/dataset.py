"""The Dataset tab's model: a DEAM-layout root chunked by the preprocess stage, ready to browse.

The app never chunks into a user-chosen folder: each dataset root gets its own processed folder
inside the app cache (keyed by a hash of its real path), and the preprocess stage is resumable,
so opening the same root again costs only a check. Chunk audio is looked up by ``chunk_id`` in the
stage's own table, never from a path the visitor sends.

The demo dataset is shown without its audio (:func:`demo_view`): its labels come from the plan and
a chunk is rendered when it is played, so the tab opens in a second on an empty cache; its files
are written only when training needs them (:func:`prepare_dataset` on the generated root).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from emovae import formats
from emovae.audio import SAMPLE_RATE, load_audio
from emovae.progress import Progress

if TYPE_CHECKING:
    from emovae.data.demo_chunks import DemoChunkRenderer


@dataclass
class DatasetView:
    """Songs (static labels), chunks (their labels) and what the loader had to skip.

    Chunk audio comes from ``chunks_dir`` (a preprocessed dataset) or, for the demo dataset before
    its files exist, from ``renderer`` (:class:`emovae.data.demo_chunks.DemoChunkRenderer`).
    """

    root: Path
    chunks_dir: Path | None
    chunk_seconds: int
    songs: pd.DataFrame
    chunks: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    load_issues: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    renderer: "DemoChunkRenderer | None" = None

    @property
    def on_disk(self) -> bool:
        """Whether the chunks exist as files (what encoding and training read)."""
        return self.chunks_dir is not None

    @property
    def label_sources(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.chunks["label_source"].value_counts().items()} if len(self.chunks) else {}

    def summary_markdown(self, name: str | None) -> str:
        """What the Dataset tab shows; ``name`` is what the visitor typed (empty means the demo)."""
        from emovae.app.paths import public_text

        name = (name or "").strip() or "demo"
        sources = ", ".join(f"{n} {src}" for src, n in self.label_sources.items()) or "none"
        lines = [
            f"**{name}** — {len(self.songs)} songs with static labels, {self.chunks['song_id'].nunique() if len(self.chunks) else 0} "
            f"songs chunked into **{len(self.chunks)} chunks** of {self.chunk_seconds} s.",
            f"Chunk label sources: {sources} (dynamic = mean of DEAM's per-second ratings over the chunk; "
            f"static = the song's overall rating, used where no per-second ratings exist).",
        ]
        if not self.on_disk:
            lines.append("Labels from the demo dataset's plan; a chunk's audio is rendered when you play it (the "
                         "dataset's files are generated once, in the background, when a training run needs them).")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} song(s), e.g. {self.skipped[0]}")
        lines += [f"⚠️ {warning}" for warning in self.warnings]
        if self.load_issues:
            lines.append(f"{len(self.load_issues)} annotation row(s) ignored, e.g. {self.load_issues[0]}")
        return public_text("\n\n".join(lines))

    def chunk(self, chunk_id: str) -> pd.Series:
        rows = self.chunks[self.chunks["chunk_id"].astype(str) == str(chunk_id)]
        if rows.empty:
            raise KeyError(f"chunk {chunk_id!r} is not in this dataset")
        return rows.iloc[0]

    def chunk_audio_path(self, chunk_id: str) -> Path:
        """The WAV of a chunk named in the table (and checked to lie inside the chunks folder)."""
        if self.chunks_dir is None:
            raise LookupError(f"{self.root.name}: the chunks are not written yet (they are rendered when played)")
        path = (self.chunks_dir / str(self.chunk(chunk_id)["file"])).resolve()
        if self.chunks_dir.resolve() not in path.parents:
            raise KeyError(f"chunk {chunk_id!r} points outside its chunks folder")
        return path

    def chunk_audio(self, chunk_id: str) -> np.ndarray:
        """Mono ``SAMPLE_RATE`` audio of a chunk in the table: read from its file, or rendered."""
        if self.chunks_dir is not None:
            return load_audio(self.chunk_audio_path(chunk_id), SAMPLE_RATE)
        row = self.chunk(chunk_id)
        return self.renderer.chunk(int(row["song_id"]), float(row["start_s"]), float(row["end_s"]))

    def nearest_chunk(self, valence: float, arousal: float) -> pd.Series:
        """The chunk whose label is closest to (valence, arousal): what a click on the map means."""
        if self.chunks.empty:
            raise KeyError("this dataset has no chunks")
        d = np.hypot(self.chunks["valence"].to_numpy() - valence, self.chunks["arousal"].to_numpy() - arousal)
        return self.chunks.iloc[int(np.argmin(d))]


def processed_dir_for(root: Path, cache_dir: Path) -> Path:
    digest = hashlib.sha1(os.path.realpath(root).encode()).hexdigest()[:12]
    return Path(cache_dir) / "processed" / f"{Path(root).name}-{digest}"


_prepare_lock = threading.Lock()


def demo_view(root: Path, params: dict, chunk_seconds: int) -> DatasetView:
    """The demo dataset's tables from its plan, in milliseconds; chunk audio is rendered when played."""
    from emovae.data.demo_chunks import demo_chunks

    labels = demo_chunks(root, params["n_songs"], params["seconds"], params["seed"], chunk_seconds)
    return DatasetView(root=root, chunks_dir=None, chunk_seconds=chunk_seconds, songs=labels.songs, chunks=labels.chunks,
                       skipped=labels.skipped, load_issues=labels.load_issues, warnings=labels.warnings,
                       renderer=labels.renderer)


def prepare_dataset(
    root: Path,
    cache_dir: Path,
    chunk_seconds: int = 5,
    progress: Progress | None = None,
    workers: int = 1,
) -> DatasetView:
    """Chunk ``root`` (resumably) into the app cache and load the tables for display."""
    from emovae.data.deam import load_deam
    from emovae.data.preprocess import PreprocessConfig, run_preprocess

    out_dir = processed_dir_for(root, cache_dir)
    config = PreprocessConfig(
        data_root=root, out_dir=out_dir, chunk_seconds=(chunk_seconds,), workers=workers, make_plots=False, show_progress=False
    )
    with _prepare_lock:  # the stage is resumable but not meant to run twice on one folder at once
        result = run_preprocess(config, progress=progress)
    chunks_dir = formats.chunks_dir(out_dir, chunk_seconds)
    table = pd.read_csv(chunks_dir / formats.CHUNK_METADATA_CSV, dtype={"chunk_id": str})
    songs = load_deam(root).static
    return DatasetView(
        root=root,
        chunks_dir=chunks_dir,
        chunk_seconds=chunk_seconds,
        songs=songs,
        chunks=table,
        skipped=[str(s) for s in result.skipped],
        load_issues=list(result.load_issues),
        warnings=list(result.warnings),
    )
