"""The demo dataset's chunk table and chunk audio, without generating the dataset.

Generating the 40-song demo dataset takes over a minute (rendering plus MP3 encoding), but nothing
in it is random once ``(n_songs, seconds, seed)`` are fixed: the plan (:func:`plan_demo_songs`)
decides every song's length and emotion curve in milliseconds, the annotations are written from
the plan alone, and the composer renders a song the same way every time. So what the app's Dataset
tab shows (songs, chunks, labels, counts) is computed here from the annotations with the
preprocess stage's own labelling rules, and a chunk's audio is rendered only when someone plays it.
The full dataset is generated only for a stage that reads its audio files (encoding, training).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emovae.audio import SAMPLE_RATE
from emovae.data.deam import load_deam
from emovae.data.demo import DemoSong, plan_demo_songs, render_song_mono, write_annotations
from emovae.data.labels import AnnotationIndex
from emovae.data.preprocess import label_chunk_table

RENDERED_SONGS_KEPT = 4  # a few songs' audio stays in memory: the next chunk of the same song plays at once


@dataclass
class DemoChunks:
    """The demo dataset's labels (no audio): its song and chunk tables, and a renderer for its chunks."""

    root: Path
    songs: pd.DataFrame  # static labels, as the DEAM loader reads them
    chunks: pd.DataFrame  # formats.CHUNK_COLUMNS, exactly what the preprocess stage would write
    renderer: "DemoChunkRenderer"
    skipped: list[str] = field(default_factory=list)
    load_issues: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def demo_chunks(root: str | Path, n_songs: int, seconds: float, seed: int, chunk_seconds: int) -> DemoChunks:
    """Write the demo dataset's annotations under ``root`` (cheap) and label its chunks from them.

    Reads the annotations back through the DEAM loader, so the labels are those the preprocess stage
    computes from the same files (``tests/test_demo_dataset.py`` checks the tables are equal).
    """
    root = Path(root)
    songs = plan_demo_songs(n_songs, seconds, seed)
    write_annotations(root, songs)
    dataset = load_deam(root)
    annotations = AnnotationIndex(dataset.static, dataset.dynamic)
    lengths = {s.song_id: (s.seconds, s.seconds) for s in songs}
    table, skipped = label_chunk_table(lengths, int(chunk_seconds), annotations, dataset)
    return DemoChunks(root=root, songs=dataset.static, chunks=table, renderer=DemoChunkRenderer(songs),
                      skipped=[str(s) for s in skipped], load_issues=[str(i) for i in dataset.issues],
                      warnings=list(dataset.warnings))


class DemoChunkRenderer:
    """A chunk's audio on demand: its song rendered by the composer (at 24 kHz), then cut.

    The dataset's own chunk files went through MP3 and resampling; these are rendered straight at
    the chunk rate, so they are the same music without the codec's artefacts.
    """

    def __init__(self, songs: list[DemoSong], sample_rate: int = SAMPLE_RATE) -> None:
        self.songs = {s.song_id: s for s in songs}
        self.sample_rate = sample_rate
        self._rendered: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def song_audio(self, song_id: int) -> np.ndarray:
        song = self.songs.get(int(song_id))
        if song is None:
            raise KeyError(f"song {song_id} is not in the demo dataset")
        with self._lock:  # two plays of one song render it once
            audio = self._rendered.get(song.song_id)
            if audio is None:
                audio = render_song_mono(song, self.sample_rate)
                self._rendered[song.song_id] = audio
                while len(self._rendered) > RENDERED_SONGS_KEPT:
                    self._rendered.popitem(last=False)
            self._rendered.move_to_end(song.song_id)
        return audio

    def chunk(self, song_id: int, start_s: float, end_s: float) -> np.ndarray:
        """Mono float32 audio of ``[start_s, end_s)`` of the song."""
        audio = self.song_audio(song_id)
        start, end = int(round(start_s * self.sample_rate)), int(round(end_s * self.sample_rate))
        return audio[start:end]
