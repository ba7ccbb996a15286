"""The Dataset tab: open a dataset (the demo by default), draw its maps, play its chunks.

The demo dataset opens instantly from its labels (:func:`emovae.app.dataset.demo_view`); its audio
files are generated once per host, only when a training run needs them (:meth:`DatasetService.on_disk`,
called from the run's background thread, with the run's progress). A typed root is a real dataset
inside the data folders and is chunked by the preprocess stage into the app cache.
"""

from __future__ import annotations

import threading

import numpy as np

from emovae.app import figures
from emovae.app.bundle import DemoBundle, demo_dataset_dir, ensure_demo_dataset
from emovae.app.dataset import DatasetView, demo_view, prepare_dataset
from emovae.app.paths import resolve_dataset_root
from emovae.app.settings import AppSettings
from emovae.audio import SAMPLE_RATE
from emovae.checks import choice_of, text_value
from emovae.progress import Progress

DEMO = "demo"
CHUNK_SECONDS = (5, 10)  # what the Dataset tab offers (the Radio's choices and the API's)


def is_demo(text: str | None) -> bool:
    return (text or "").strip().lower() in ("", DEMO)


class DatasetService:
    """Opened datasets, keyed per root and chunk length and shared by every session (they are read-only)."""

    def __init__(self, settings: AppSettings, bundle: DemoBundle | None, bundle_error: str | None) -> None:
        self.settings = settings
        self.bundle = bundle
        self.bundle_error = bundle_error
        self._views: dict[str, DatasetView] = {}
        self._lock = threading.Lock()

    @property
    def default_chunk_seconds(self) -> int:
        return self.bundle.chunk_seconds if self.bundle else 5

    def _demo_params(self) -> dict:
        if self.bundle is None:
            raise FileNotFoundError(f"no demo dataset without the demo bundle: {self.bundle_error}")
        return self.bundle.dataset_params

    def open(self, text: str | None, chunk_seconds, progress: Progress | None = None) -> tuple[DatasetView, str]:
        """The view of ``text`` (``demo`` or a root inside the data folders) and the key a session stores."""
        seconds = int(choice_of(chunk_seconds, "seconds", CHUNK_SECONDS))
        text = text_value(text, "root")
        if is_demo(text):
            root = demo_dataset_dir(self.settings.demo_data_dir, self._demo_params())
        else:
            root = resolve_dataset_root(text, self.settings.data_roots)
        key = f"{root}|{seconds}"
        with self._lock:
            view = self._views.get(key)
        if view is None:
            if is_demo(text):
                view = demo_view(root, self._demo_params(), seconds)
            else:
                view = prepare_dataset(root, self.settings.cache_dir, seconds, progress)
            with self._lock:
                view = self._views.setdefault(key, view)
        return view, key

    def view(self, key: str) -> DatasetView:
        with self._lock:
            view = self._views.get(key or "")
        if view is None:
            raise LookupError("open a dataset first (Dataset tab → Open dataset)")
        return view

    def demo(self) -> DatasetView:
        return self.open(DEMO, self.default_chunk_seconds)[0]

    def on_disk(self, view: DatasetView, progress: Progress | None = None) -> DatasetView:
        """``view`` with its chunk files written (generating the demo dataset once per host if needed).

        Slow the first time (the demo's 40 songs: about a minute and a half on 2 cores); meant for a
        training run's background thread. Later plays of the same dataset read the files.
        """
        if view.on_disk:
            return view
        root = ensure_demo_dataset(self.settings.demo_data_dir, self._demo_params(), progress)
        written = prepare_dataset(root, self.settings.cache_dir, view.chunk_seconds, progress)
        with self._lock:
            self._views[f"{view.root}|{view.chunk_seconds}"] = written
        return written

    # ---------------------------------------------------------------------------- what the tab shows
    def open_outputs(self, text: str | None, chunk_seconds, progress: Progress | None = None):
        """The Open button: session key, summary, VA map, histograms, clickable chunk map."""
        view, key = self.open(text, chunk_seconds, progress)
        scatter = figures.va_scatter(view.songs, view.chunks, title=f"{view.root.name}: songs and {view.chunk_seconds} s chunks")
        chunk_map = figures.render_emotion_map(points=(view.chunks["valence"], view.chunks["arousal"]))
        return key, view.summary_markdown(text), scatter, figures.histograms(view.chunks), chunk_map

    def play(self, view: DatasetView, chunk_id: str):
        """``((rate, int16 pcm), description)`` of one chunk of ``view``."""
        row = view.chunk(chunk_id)
        audio = view.chunk_audio(row["chunk_id"])
        text = (f"chunk **{row['chunk_id']}** (song {int(row['song_id'])}, {row['start_s']:g}–{row['end_s']:g} s) · "
                f"V={row['valence']:.2f}, A={row['arousal']:.2f} ({row['label_source']} label)")
        if not view.on_disk:
            text += " · rendered now by the demo composer"
        pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)  # what the browser gets anyway
        return (SAMPLE_RATE, pcm), text

    def play_nearest(self, key: str, valence: float, arousal: float):
        view = self.view(key)
        return self.play(view, view.nearest_chunk(valence, arousal)["chunk_id"])

    def play_chunk(self, key: str, chunk_id):
        """A chunk by id from the session's open dataset, or from the demo dataset when none is open."""
        view = self.view(key) if key else self.demo()
        return self.play(view, text_value(chunk_id, "chunk_id").strip())
