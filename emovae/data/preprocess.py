"""Preprocessing stage: DEAM songs -> labelled mono 24 kHz WAV chunks of exactly S seconds.

Why it is shaped like this:

* **Songs are independent**, so a process pool spreads them over the cores; a worker only decodes,
  resamples, cuts and writes WAVs, and never sees the annotations.
* **Resumable**: after a song's chunks for one chunk length are written, the worker writes a small
  per-song record (atomically). A re-run skips every song whose record matches its audio file and
  settings. The metadata tables are rebuilt from the records at the end, so an interrupted run
  loses at most the songs in flight, and no half-written WAV ever appears (``write_wav`` is atomic).
* **Labels are computed at the end from the current annotations**, not stored in the records, so
  fixing an annotation file never requires re-decoding audio.
* **One run per output folder**, and workers die with their run even when it is SIGKILLed
  (:mod:`emovae.data.run_lock`), so a quick re-run never races a dead run's leftover workers.
* **Bad input is skipped and reported** (missing/corrupt audio, songs without annotations, audio
  shorter than one chunk, malformed CSV rows); the run fails only if it produced nothing.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emovae import formats
from emovae.audio import SAMPLE_RATE, AudioLoadError, load_audio, write_wav
from emovae.data.deam import DeamDataset, load_deam
from emovae.checks import choice_of, number_in_range
from emovae.data.labels import (AnnotationIndex, LabelPolicy, chunk_windows, label_window, offset_summary,
                                static_dynamic_offsets)
from emovae.data.run_lock import exclusive_run, init_worker
from emovae.io import read_json, write_csv, write_json
from emovae.progress import Progress

RECORDS_DIR = "song_records"  # inside each chunks_<S>s/ folder: one JSON per finished song
RECORD_VERSION = 1
_WORKER_PRELOAD = ["librosa.core.audio"]  # what load_audio's first resample would import lazily
STATIC_FALLBACKS = ("raw", "calibrated")  # see emovae.data.labels.LabelPolicy
MAX_LABEL_SHIFT_S = 10.0


class PreprocessConfigError(ValueError):
    """A setting of :class:`PreprocessConfig` that cannot work (the message says which and why)."""


@dataclass
class PreprocessConfig:
    """Settings of one preprocessing run (also written to ``metadata.json``)."""

    data_root: Path
    out_dir: Path = Path(formats.DEFAULT_PROCESSED_DIR)
    chunk_seconds: tuple[int, ...] = (5,)
    workers: int = 2
    limit: int | None = None  # only the first N songs (by id): quick runs
    sample_rate: int = SAMPLE_RATE
    make_plots: bool = True
    show_progress: bool = True
    # label choices (emovae.data.labels.LabelPolicy); the defaults keep the labels as they always were
    label_shift_s: float = 0.0  # rater lag of the dynamic ratings; about 3 s suits the real DEAM
    static_fallback: str = "raw"  # or "calibrated": shift static fallbacks by the mean dynamic - static offset

    def __post_init__(self) -> None:
        self.data_root, self.out_dir = Path(self.data_root), Path(self.out_dir)
        self.chunk_seconds = tuple(sorted({int(s) for s in self.chunk_seconds}))
        if not self.chunk_seconds or min(self.chunk_seconds) <= 0:
            raise PreprocessConfigError(
                f"chunk_seconds={self.chunk_seconds!r}: give one or more positive whole seconds, e.g. 5 10"
            )
        if self.workers < 1:
            raise PreprocessConfigError(f"workers={self.workers}: need at least 1")
        if self.limit is not None and self.limit < 1:
            raise PreprocessConfigError(f"limit={self.limit}: need at least 1 song")
        self.label_shift_s = number_in_range(self.label_shift_s, "label_shift_s", 0.0, MAX_LABEL_SHIFT_S,
                                             error=PreprocessConfigError)
        try:
            self.static_fallback = choice_of(self.static_fallback, "static_fallback", STATIC_FALLBACKS)
        except ValueError as exc:
            raise PreprocessConfigError(str(exc)) from None


@dataclass(frozen=True)
class SkippedSong:
    """A song (or one chunk length of it) that produced no chunks, and why."""

    song_id: int
    reason: str
    file: str | None = None
    chunk_seconds: int | None = None  # None: the whole song was skipped

    def __str__(self) -> str:
        scope = f" [{self.chunk_seconds} s chunks]" if self.chunk_seconds else ""
        return f"song {self.song_id}{scope}: {self.reason}"


@dataclass
class ChunkSet:
    """The outputs for one chunk length."""

    chunk_seconds: int
    chunks_dir: Path
    metadata_csv: Path
    metadata_json: Path
    n_chunks: int
    n_songs: int
    label_sources: dict[str, int]


@dataclass
class PreprocessResult:
    """What a run did: counts for the summary/benchmark, the skip report, and where things went."""

    out_dir: Path
    songs_total: int
    songs_processed: int  # decoded in this run
    songs_resumed: int  # already finished by an earlier run
    audio_seconds: float  # decoded in this run (the benchmark's numerator)
    wall_seconds: float
    chunk_sets: dict[int, ChunkSet]
    skipped: list[SkippedSong] = field(default_factory=list)
    load_issues: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # whole-file annotation problems (see DeamDataset)
    labels: dict = field(default_factory=dict)  # the label policy and the static-vs-dynamic offset report
    plots: list[Path] = field(default_factory=list)

    @property
    def n_chunks(self) -> int:
        return sum(chunk_set.n_chunks for chunk_set in self.chunk_sets.values())

    @property
    def ok(self) -> bool:
        """False only when nothing at all could be produced (the CLI's non-zero exit)."""
        return self.n_chunks > 0


# --------------------------------------------------------------------------- per-song work (runs in workers)


@dataclass(frozen=True)
class SongTask:
    """One song's work order; small and picklable."""

    song_id: int
    audio_file: Path
    audio_stamp: dict
    chunk_seconds: tuple[int, ...]  # the lengths still missing for this song
    out_dir: Path
    sample_rate: int


@dataclass(frozen=True)
class SongOutcome:
    song_id: int
    audio_seconds: float = 0.0
    error: str | None = None


def audio_stamp(path: Path) -> dict:
    """Identity of an audio file for resume: a replaced file gets re-processed."""
    stat = path.stat()
    return {"file": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def record_path(chunks_dir: Path, song_id: int) -> Path:
    return chunks_dir / RECORDS_DIR / f"{int(song_id)}.json"


def process_song(task: SongTask) -> SongOutcome:
    """Decode one song once, then cut and write its chunks for every missing chunk length.

    Each chunk length's record is written only after all of its WAVs, so a record is proof that
    the song is complete for that length.
    """
    try:
        audio = load_audio(task.audio_file, task.sample_rate)
    except AudioLoadError as exc:
        return SongOutcome(task.song_id, error=f"{exc} (replace the file and re-run to include this song)")
    for seconds in task.chunk_seconds:
        chunks_dir = formats.chunks_dir(task.out_dir, seconds)
        length = seconds * task.sample_rate
        count = len(audio) // length
        try:
            for index in range(count):
                write_wav(
                    chunks_dir / chunk_file(task.song_id, index),
                    audio[index * length : (index + 1) * length],
                    task.sample_rate,
                )
            record = {
                "version": RECORD_VERSION,
                "song_id": task.song_id,
                "chunk_seconds": seconds,
                "sample_rate": task.sample_rate,
                "duration_s": len(audio) / task.sample_rate,
                "n_chunks": count,
                "audio": task.audio_stamp,
            }
            write_json(record_path(chunks_dir, task.song_id), record)
        except OSError as exc:
            return SongOutcome(task.song_id, error=f"cannot write chunks to {chunks_dir}: {exc}")
    return SongOutcome(task.song_id, audio_seconds=len(audio) / task.sample_rate)


def chunk_file(song_id: int, index: int) -> str:
    """The WAV name of a chunk, relative to its chunks folder (the ``file`` column)."""
    return f"{formats.chunk_id(song_id, index)}.wav"


def _init_worker(run_pid: int, workers_lock: Path) -> None:
    """Pool initializer: tie the worker's life to the run's (see :mod:`emovae.data.run_lock`), then warm up."""
    init_worker(run_pid, workers_lock)
    _warm_up()


def _warm_up() -> None:
    """Pay librosa's lazy resampler imports (~2 s) before the first song, not inside it.

    A no-op when the fork server preloaded them; it matters when another pool started the fork
    server first (its preload list is fixed at start) or under ``spawn``.
    """
    import librosa

    librosa.resample(np.zeros(64, dtype=np.float32), orig_sr=48_000, target_sr=24_000, res_type="soxr_hq")


# --------------------------------------------------------------------------- orchestration


def run_preprocess(config: PreprocessConfig, progress: Progress | None = None) -> PreprocessResult:
    """Run the stage: load annotations, chunk every pending song in a pool, rebuild tables and plots."""
    started = time.perf_counter()
    dataset = load_deam(config.data_root)
    with exclusive_run(config.out_dir) as workers_lock:
        return _run_locked(config, dataset, workers_lock, started, progress)


def _run_locked(config: PreprocessConfig, dataset: DeamDataset, workers_lock: Path, started: float,
                progress: Progress | None) -> PreprocessResult:
    """The stage's work, while this process alone may write to ``config.out_dir``."""
    annotations = AnnotationIndex(dataset.static, dataset.dynamic)
    song_ids = dataset.song_ids()[: config.limit]
    for folder in [formats.chunks_dir(config.out_dir, s) for s in config.chunk_seconds] + [config.out_dir / "plots"]:
        _remove_stale_temp_files(folder)
    tasks, resumed, skipped = _plan(config, dataset, annotations, song_ids)

    total, done = len(song_ids), len(song_ids) - len(tasks)
    processed, audio_seconds = 0, 0.0
    if progress:
        progress(done, total, f"{resumed} song(s) already done, {len(tasks)} to process")
    with (
        _worker_pool(config.workers if len(tasks) > 1 else 1, workers_lock) as pool,
        tqdm(total=total, initial=done, desc="preprocess", unit="song", disable=not config.show_progress) as bar,
    ):
        for outcome in _run_tasks(pool, tasks):
            done += 1
            bar.update(1)
            if outcome.error:
                skipped.append(SkippedSong(outcome.song_id, outcome.error, str(dataset.audio_path(outcome.song_id))))
                bar.write(f"skipped song {outcome.song_id}: {outcome.error}")
            else:
                processed += 1
                audio_seconds += outcome.audio_seconds
            if progress:
                progress(done, total, f"song {outcome.song_id} " + ("skipped" if outcome.error else "done"))

        failed = {item.song_id for item in skipped}
        finished = [song_id for song_id in song_ids if song_id not in failed]
        policy, labels = _label_policy(config, annotations, song_ids)
        static = dataset.static[dataset.static["song_id"].isin(song_ids)]
        chunk_sets, plot_jobs = {}, []
        for seconds in config.chunk_seconds:
            table, length_skips = build_chunk_table(config, seconds, finished, annotations, dataset, policy)
            skipped.extend(length_skips)
            chunk_sets[seconds] = _write_metadata(config, seconds, table, skipped, dataset, song_ids, labels)
            if config.make_plots and len(table):
                plot_jobs += _plot_jobs(config.out_dir, seconds, table, static)
        plots = _render(pool, plot_jobs)
    return PreprocessResult(
        out_dir=config.out_dir,
        songs_total=len(song_ids),
        songs_processed=processed,
        songs_resumed=resumed,
        audio_seconds=audio_seconds,
        wall_seconds=time.perf_counter() - started,
        chunk_sets=chunk_sets,
        skipped=skipped,
        load_issues=[str(issue) for issue in dataset.issues],
        warnings=list(dataset.warnings),
        labels=labels,
        plots=plots,
    )


def _label_policy(config: PreprocessConfig, annotations: AnnotationIndex, song_ids: list[int]) -> tuple[LabelPolicy, dict]:
    """The labelling choices of this run, and the record of them that goes into ``metadata.json``."""
    offsets = offset_summary(static_dynamic_offsets(annotations, song_ids))
    static_offset = (0.0, 0.0)
    if config.static_fallback == "calibrated" and offsets["songs"]:
        static_offset = (offsets["valence"]["mean"], offsets["arousal"]["mean"])
    policy = LabelPolicy(shift_s=config.label_shift_s, static_offset=static_offset)
    return policy, {"label_shift_s": policy.shift_s, "static_fallback": config.static_fallback,
                    "static_offset_applied": {"valence": static_offset[0], "arousal": static_offset[1]},
                    "static_vs_dynamic_offset": offsets}


def _plan(
    config: PreprocessConfig, dataset: DeamDataset, annotations: AnnotationIndex, song_ids: list[int]
) -> tuple[list[SongTask], int, list[SkippedSong]]:
    """Sort songs into work to do, songs already finished (resumed) and songs that cannot be used."""
    tasks: list[SongTask] = []
    skipped: list[SkippedSong] = []
    resumed = 0
    for song_id in song_ids:
        file = dataset.audio_path(song_id)
        if not annotations.song(song_id).has_any:
            skipped.append(SkippedSong(song_id, f"{file.name}: song has no static or dynamic annotation", str(file)))
        elif not file.is_file():
            skipped.append(SkippedSong(song_id, f"{file}: audio file not found", str(file)))
        else:
            stamp = audio_stamp(file)
            missing = tuple(s for s in config.chunk_seconds if not _is_done(config, s, song_id, stamp))
            if missing:
                tasks.append(SongTask(song_id, file, stamp, missing, config.out_dir, config.sample_rate))
            else:
                resumed += 1
    # largest files first: DEAM's full songs (ids > 2000) come last by id and would leave one
    # worker busy alone at the end
    tasks.sort(key=lambda task: task.audio_stamp["size"], reverse=True)
    return tasks, resumed, skipped


@contextlib.contextmanager
def _worker_pool(workers: int, workers_lock: Path) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool for ``workers`` > 1, else ``None`` (everything runs in this process).

    On Ctrl-C or an error, queued songs are dropped at once; finished songs already have records.
    Each worker holds ``workers_lock`` shared and exits when this process dies.
    """
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_init_worker,
                               initargs=(os.getpid(), workers_lock))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_tasks(pool: ProcessPoolExecutor | None, tasks: list[SongTask]) -> Iterator[SongOutcome]:
    """Yield song outcomes as they finish."""
    if pool is None:
        yield from map(process_song, tasks)
        return
    futures: dict[Future, SongTask] = {pool.submit(process_song, task): task for task in tasks}
    for future in as_completed(futures):
        try:
            yield future.result()
        except BrokenProcessPool:
            task = futures[future]
            yield SongOutcome(
                task.song_id, error=f"{task.audio_file}: worker process died on this file (corrupt?); re-run to retry"
            )


def _render(pool: ProcessPoolExecutor | None, jobs: list[tuple[Callable[..., Path], tuple]]) -> list[Path]:
    """Draw the figures, in the (already warm) workers when there are any: they are independent."""
    if pool is not None:
        try:
            return [future.result() for future in [pool.submit(function, *args) for function, args in jobs]]
        except BrokenProcessPool:  # a worker died on a song earlier: draw them here instead
            pass
    return [function(*args) for function, args in jobs]


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where available: safe to start from the app's threads, unlike fork.

    The fork server imports the worker code and librosa's resampler once (~3 s of imports) and
    then forks every worker from that warm state, so workers start in milliseconds; in the
    long-lived app the server survives, so later runs start warm too.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *_WORKER_PRELOAD])
    return context


def _is_done(config: PreprocessConfig, seconds: int, song_id: int, stamp: dict) -> bool:
    """A song is done for a chunk length if its record matches the settings, audio file and WAVs."""
    chunks_dir = formats.chunks_dir(config.out_dir, seconds)
    record = _read_record(chunks_dir, song_id)
    if record is None:
        return False
    if (record.get("version"), record.get("sample_rate"), record.get("audio")) != (
        RECORD_VERSION,
        config.sample_rate,
        stamp,
    ):
        return False
    return all((chunks_dir / chunk_file(song_id, index)).is_file() for index in range(int(record["n_chunks"])))


def _read_record(chunks_dir: Path, song_id: int) -> dict | None:
    path = record_path(chunks_dir, song_id)
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except ValueError:  # unreadable record: the song is simply redone
        return None
    required = {"version", "sample_rate", "audio", "n_chunks", "duration_s"}
    return record if isinstance(record, dict) and required <= record.keys() else None


def _remove_stale_temp_files(folder: Path) -> None:
    """A killed run (SIGKILL) can leave ``.<name>.tmp`` files from atomic writes; they are never valid.

    Safe only under :func:`exclusive_run`: no other run can be writing them.
    """
    if folder.is_dir():
        for stale in folder.rglob(".*.tmp"):
            stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------- tables, metadata, plots


def build_chunk_table(
    config: PreprocessConfig, seconds: int, song_ids: Iterable[int], annotations: AnnotationIndex, dataset: DeamDataset,
    policy: LabelPolicy = LabelPolicy(),
) -> tuple[pd.DataFrame, list[SkippedSong]]:
    """Rows of ``metadata.csv`` (CHUNK_COLUMNS) from the song records, labelled from the annotations."""
    chunks_dir = formats.chunks_dir(config.out_dir, seconds)
    durations = {}
    for song_id in song_ids:
        record = _read_record(chunks_dir, song_id)
        if record is not None:
            durations[song_id] = (record["n_chunks"] * seconds, record["duration_s"])
    return label_chunk_table(durations, seconds, annotations, dataset, policy)


def label_chunk_table(
    durations: dict[int, tuple[float, float]], seconds: int, annotations: AnnotationIndex, dataset: DeamDataset,
    policy: LabelPolicy = LabelPolicy(),
) -> tuple[pd.DataFrame, list[SkippedSong]]:
    """The chunk table of songs with known lengths: ``{song_id: (chunked seconds, audio seconds)}``.

    One copy of the chunking and labelling rules, for the stage (lengths from its records) and for the
    demo dataset, whose lengths are known before any audio exists (:mod:`emovae.data.demo_chunks`).
    """
    rows, skipped = [], []
    for song_id, (chunked_s, duration_s) in durations.items():
        file = str(dataset.audio_path(song_id))
        windows = chunk_windows(chunked_s, seconds)
        if not windows:
            reason = f"audio is {duration_s:.1f} s, shorter than one {seconds} s chunk"
            skipped.append(SkippedSong(song_id, reason, file, seconds))
        song = annotations.song(song_id)
        unlabelled = 0
        for index, (start, end) in enumerate(windows):
            label = label_window(song, start, end, policy)
            if label is None:
                unlabelled += 1
                continue
            rows.append(
                {
                    "chunk_id": formats.chunk_id(song_id, index),
                    "song_id": song_id,
                    "chunk_index": index,
                    "start_s": start,
                    "end_s": end,
                    "valence": label.valence,
                    "arousal": label.arousal,
                    "label_source": label.label_source,
                    "file": chunk_file(song_id, index),
                }
            )
        if unlabelled:
            reason = f"{unlabelled} chunk(s) left out: no dynamic rating in their window and no static label"
            skipped.append(SkippedSong(song_id, reason, file, seconds))
    return pd.DataFrame(rows, columns=formats.CHUNK_COLUMNS), skipped


def _write_metadata(
    config: PreprocessConfig,
    seconds: int,
    table: pd.DataFrame,
    skipped: list[SkippedSong],
    dataset: DeamDataset,
    song_ids: list[int],
    labels: dict,
) -> ChunkSet:
    chunks_dir = formats.chunks_dir(config.out_dir, seconds)
    csv_path, json_path = chunks_dir / formats.CHUNK_METADATA_CSV, chunks_dir / formats.CHUNK_METADATA_JSON
    write_csv(csv_path, table)
    sources = {str(k): int(v) for k, v in table["label_source"].value_counts().items()}
    relevant = [item for item in skipped if item.chunk_seconds in (None, seconds)]
    write_json(
        json_path,
        {
            "settings": {
                "data_root": str(config.data_root.resolve()),
                "chunk_seconds": seconds,
                "sample_rate": config.sample_rate,
                "limit": config.limit,
                "columns": formats.CHUNK_COLUMNS,
            },
            "labels": labels,
            "counts": {
                "songs_considered": len(song_ids),
                "songs_with_chunks": int(table["song_id"].nunique()),
                "chunks": len(table),
                "label_sources": sources,
                "skipped": len(relevant),
                "annotation_rows_skipped": len(dataset.issues),
            },
            "rows": table.to_dict(orient="records"),
            "skipped": [asdict(item) for item in relevant],
            "annotation_issues": [str(issue) for issue in dataset.issues],
            "warnings": list(dataset.warnings),
        },
    )
    return ChunkSet(seconds, chunks_dir, csv_path, json_path, len(table), int(table["song_id"].nunique()), sources)


def _plot_jobs(
    out_dir: Path, seconds: int, table: pd.DataFrame, static: pd.DataFrame
) -> list[tuple[Callable[..., Path], tuple]]:
    """The figures of one chunk length, as (function, args) so they can run in the pool.

    matplotlib/plotly are imported here, not at module level, to keep worker start-up lean.
    """
    from emovae.data import plots as va_plots

    folder = Path(out_dir) / "plots"
    return [
        (va_plots.plot_static_scatter, (static, folder / "va_static.png")),
        (va_plots.plot_chunk_scatter, (table, folder / f"va_chunks_{seconds}s.png")),
        (va_plots.plot_histograms, (static, table, folder / f"va_histograms_{seconds}s.png")),
        (va_plots.plot_chunk_scatter_html, (table, folder / f"va_chunks_{seconds}s.html")),
    ]
