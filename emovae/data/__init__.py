"""DEAM data layer and the preprocessing stage (the first pipeline stage).

``deam`` finds and reads a DEAM root (official nested layout or flat), ``labels`` turns its
annotations into per-chunk emotion labels on the [0, 1] scale, ``preprocess`` cuts songs into
labelled 24 kHz WAV chunks, and ``plots`` draws the label distributions. The demo dataset
generator lives in ``emovae.data.demo`` and is imported from there (it pulls in the composer).
"""

from emovae.data.deam import (
    DeamDataset,
    DeamFormatError,
    DeamNotFoundError,
    DeamPaths,
    LoadIssue,
    load_deam,
    locate_deam,
)
from emovae.data.labels import (
    AnnotationIndex,
    ChunkLabel,
    MissingAnnotationError,
    SongAnnotations,
    chunk_windows,
    label_chunks,
    label_window,
)
from emovae.data.preprocess import (
    PreprocessConfig,
    PreprocessConfigError,
    PreprocessResult,
    SkippedSong,
    run_preprocess,
)

__all__ = [
    "AnnotationIndex",
    "ChunkLabel",
    "DeamDataset",
    "DeamFormatError",
    "DeamNotFoundError",
    "DeamPaths",
    "LoadIssue",
    "MissingAnnotationError",
    "PreprocessConfig",
    "PreprocessConfigError",
    "PreprocessResult",
    "SkippedSong",
    "SongAnnotations",
    "chunk_windows",
    "label_chunks",
    "label_window",
    "load_deam",
    "locate_deam",
    "run_preprocess",
]
