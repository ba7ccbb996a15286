"""Emotion labels for audio chunks: dynamic annotations where they exist, the song label otherwise.

DEAM rates each song twice: once as a whole (static) and every 500 ms from 15 s on (dynamic). A
chunk is labelled with the mean of the dynamic ratings inside its window, because that follows the
music the chunk actually contains; the first 15 s and songs without dynamic data have none, so
those chunks fall back to the static song label. ``label_source`` records which one was used, so
later stages (and people) can tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LABEL_SOURCES = ("dynamic", "static")


class MissingAnnotationError(LookupError):
    """A song has neither a static nor a dynamic annotation, so none of its chunks can be labelled."""


@dataclass(frozen=True)
class ChunkLabel:
    """The emotion of one chunk window ``[start_s, end_s)`` on the [0, 1] scale."""

    start_s: float
    end_s: float
    valence: float
    arousal: float
    label_source: str


@dataclass(frozen=True)
class SongAnnotations:
    """Everything known about one song's emotion: the static label and the dynamic time series.

    Small and picklable on purpose: preprocessing ships one of these per song to a worker instead
    of the whole dataset.
    """

    song_id: int
    static: tuple[float, float] | None  # (valence, arousal)
    times_s: np.ndarray  # dynamic sample instants, seconds
    valence: np.ndarray  # dynamic, [0, 1], NaN where not rated
    arousal: np.ndarray

    @property
    def has_dynamic(self) -> bool:
        return bool(self.times_s.size)

    @property
    def has_any(self) -> bool:
        return self.static is not None or self.has_dynamic


def chunk_windows(duration_s: float, chunk_seconds: float) -> list[tuple[float, float]]:
    """Non-overlapping windows of exactly ``chunk_seconds`` from 0; a shorter tail is dropped."""
    count = int(np.floor(duration_s / chunk_seconds + 1e-9))
    return [(i * chunk_seconds, (i + 1) * chunk_seconds) for i in range(count)]


def label_window(song: SongAnnotations, start_s: float, end_s: float) -> ChunkLabel | None:
    """Label ``[start_s, end_s)``: mean dynamic rating inside it (NaNs ignored), else the static label.

    Both dimensions must have dynamic data in the window for a "dynamic" label, so a label never
    mixes sources. ``None`` when the window has no dynamic data and the song has no static label.
    """
    inside = (song.times_s >= start_s) & (song.times_s < end_s)
    valence, arousal = song.valence[inside], song.arousal[inside]
    if np.isfinite(valence).any() and np.isfinite(arousal).any():
        return ChunkLabel(start_s, end_s, float(np.nanmean(valence)), float(np.nanmean(arousal)), "dynamic")
    if song.static is not None:
        return ChunkLabel(start_s, end_s, song.static[0], song.static[1], "static")
    return None


def label_chunks(song: SongAnnotations, windows: list[tuple[float, float]]) -> list[ChunkLabel | None]:
    """Label every window of one song (``None`` for a window that cannot be labelled)."""
    if not song.has_any:
        raise MissingAnnotationError(f"song {song.song_id} has neither a static nor a dynamic annotation")
    return [label_window(song, start, end) for start, end in windows]


class AnnotationIndex:
    """Per-song lookup over the static and tidy dynamic tables of :class:`~emovae.data.deam.DeamDataset`.

    Grouping the dynamic table once keeps labelling thousands of songs linear.
    """

    def __init__(self, static: pd.DataFrame, dynamic: pd.DataFrame) -> None:
        self._static = {
            int(row.song_id): (float(row.valence), float(row.arousal)) for row in static.itertuples(index=False)
        }
        self._dynamic = {
            int(song_id): (
                group["time_s"].to_numpy(float),
                group["valence"].to_numpy(float),
                group["arousal"].to_numpy(float),
            )
            for song_id, group in dynamic.groupby("song_id", sort=False)
        }

    def song(self, song_id: int) -> SongAnnotations:
        """The annotations of ``song_id`` (possibly empty: check :attr:`SongAnnotations.has_any`)."""
        empty = np.empty(0, dtype=float)
        times, valence, arousal = self._dynamic.get(int(song_id), (empty, empty, empty))
        return SongAnnotations(int(song_id), self._static.get(int(song_id)), times, valence, arousal)
