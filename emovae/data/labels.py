"""Emotion labels for audio chunks: dynamic annotations where they exist, the song label otherwise.

DEAM rates each song twice: once as a whole (static) and every 500 ms from 15 s on (dynamic). A
chunk is labelled with the mean of the dynamic ratings inside its window, because that follows the
music the chunk actually contains; the first 15 s and songs without dynamic data have none, so
those chunks fall back to the static song label. ``label_source`` records which one was used, so
later stages (and people) can tell the two apart.

The two are different instruments (a 1..9 rating of the whole song vs a continuous [-1, 1] trace),
so a chunk label silently mixes them. :class:`LabelPolicy` makes the choices explicit (they are
written to ``metadata.json``):

* ``static_offset``: added to the static label where it is the fallback. The default (0, 0) keeps
  the raw rating; ``calibrated`` uses the mean per-song offset between the mean dynamic rating and
  the static label over songs that have both (:func:`static_dynamic_offsets` measures it).
* ``shift_s``: raters react 2-4 s late, so the ratings describing ``[start, end)`` are those at
  ``[start + shift, end + shift)``. The default 0 keeps the labels as they were (and is exact for
  the demo dataset, whose curves have no lag); about 3 s suits the real DEAM.
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
class LabelPolicy:
    """How a chunk window is labelled (see the module docstring for why each knob exists)."""

    shift_s: float = 0.0  # dynamic ratings lag the music by this much
    static_offset: tuple[float, float] = (0.0, 0.0)  # added to a static fallback (valence, arousal)


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


def label_window(song: SongAnnotations, start_s: float, end_s: float,
                 policy: LabelPolicy = LabelPolicy()) -> ChunkLabel | None:
    """Label ``[start_s, end_s)``: mean dynamic rating over it (NaNs ignored), else the static label.

    The dynamic window is shifted by ``policy.shift_s`` (rater lag). Both dimensions must have
    dynamic data in the window for a "dynamic" label, so a label never mixes sources. ``None`` when
    the window has no dynamic data and the song has no static label.
    """
    inside = (song.times_s >= start_s + policy.shift_s) & (song.times_s < end_s + policy.shift_s)
    valence, arousal = song.valence[inside], song.arousal[inside]
    if np.isfinite(valence).any() and np.isfinite(arousal).any():
        return ChunkLabel(start_s, end_s, float(np.nanmean(valence)), float(np.nanmean(arousal)), "dynamic")
    if song.static is not None:
        v, a = (float(np.clip(x + dx, 0.0, 1.0)) for x, dx in zip(song.static, policy.static_offset))
        return ChunkLabel(start_s, end_s, v, a, "static")
    return None


def static_dynamic_offsets(annotations: "AnnotationIndex", song_ids: list[int]) -> pd.DataFrame:
    """Per song with both ratings: mean dynamic rating minus static label (``valence``, ``arousal``)."""
    rows = []
    for song_id in song_ids:
        song = annotations.song(song_id)
        if song.static is None or not (np.isfinite(song.valence).any() and np.isfinite(song.arousal).any()):
            continue
        rows.append({"song_id": song_id, "valence": float(np.nanmean(song.valence)) - song.static[0],
                     "arousal": float(np.nanmean(song.arousal)) - song.static[1]})
    return pd.DataFrame(rows, columns=["song_id", "valence", "arousal"])


def offset_summary(offsets: pd.DataFrame) -> dict:
    """The report of :func:`static_dynamic_offsets`: how far apart the two instruments are, per dimension."""
    summary: dict = {"songs": len(offsets)}
    for dimension in ("valence", "arousal"):
        values = offsets[dimension].to_numpy(float)
        summary[dimension] = ({"mean": float(values.mean()), "std": float(values.std()),
                               "mean_abs": float(np.abs(values).mean())} if values.size else None)
    return summary


def label_chunks(song: SongAnnotations, windows: list[tuple[float, float]],
                 policy: LabelPolicy = LabelPolicy()) -> list[ChunkLabel | None]:
    """Label every window of one song (``None`` for a window that cannot be labelled)."""
    if not song.has_any:
        raise MissingAnnotationError(f"song {song.song_id} has neither a static nor a dynamic annotation")
    return [label_window(song, start, end, policy) for start, end in windows]


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
