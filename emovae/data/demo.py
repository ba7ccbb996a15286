"""The demo dataset: procedurally composed songs written in the exact DEAM layout.

It is the offline stand-in for DEAM (the app's default, the tests, the benchmarks), so it goes
through the very same loader and preprocessing as the real thing. Each song gets a target
(valence, arousal) from a jittered grid that covers the whole emotion square, its four corners (where
the presets sit) always included, and a smooth
per-second emotion curve that drifts and sways around that target; the music engine renders the
curve (so the audio really moves with its labels), and the annotations are written the way DEAM
writes them:

* static song means on the 1..9 scale, the second file with its odd ``valence_ max_mean`` columns;
* dynamic values on [-1, 1] every 500 ms from 15 s, NaN-padded (empty cells) for shorter rows;
* audio as ``MEMD_audio/<id>.mp3``, 44.1 kHz stereo; ids 1..2000 are excerpts of ``seconds``,
  a few ids in 2001..2058 are longer "full songs", as in DEAM.

Everything is deterministic from ``seed``. Re-running with the same settings skips songs whose
MP3 already exists (each is written atomically); different settings, a changed plan or a changed music
engine (:func:`emovae.music.fingerprint.source_fingerprint`) regenerate the dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm.auto import tqdm

from emovae.audio import write_audio
from emovae.io import atomic_path, read_json, write_json
from emovae.music import create_melodic_music
from emovae.music.fingerprint import source_fingerprint
from emovae.progress import Progress

MANIFEST_NAME = "emovae_demo.json"
DEAM_SAMPLE_RATE = 44_100
DYNAMIC_START_S = 15.0  # DEAM raters' first 15 s are discarded as unstable
DYNAMIC_STEP_S = 0.5
FULL_SONG_STRETCH = 4.0 / 3.0  # "full songs" (2001..2058) are a bit longer than the excerpts

AUDIO_DIR = Path("MEMD_audio")
ANNOTATIONS_DIR = Path("annotations") / "annotations averaged per song"
STATIC_EXCERPTS = ANNOTATIONS_DIR / "song_level" / "static_annotations_averaged_songs_1_2000.csv"
STATIC_FULL_SONGS = ANNOTATIONS_DIR / "song_level" / "static_annotations_averaged_songs_2000_2058.csv"
DYNAMIC_DIR = ANNOTATIONS_DIR / "dynamic (per second annotations)"

# Header spellings copied from the genuine DEAM files (leading spaces and the "valence_ max_mean" typo included).
STATIC_EXCERPTS_HEADER = "song_id, valence_mean, valence_std, arousal_mean, arousal_std"
STATIC_FULL_SONGS_HEADER = (
    "song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, valence_min_mean, valence_min_std,"
    " arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, arousal_min_mean, arousal_min_std"
)
NEWLINE = "\r\n"  # the genuine DEAM CSVs use Windows line endings


@dataclass(frozen=True)
class DemoSong:
    """One planned song: id, length, seed, and its emotion curves on [0, 1] (one sample per second)."""

    song_id: int
    seconds: float
    seed: int
    valence: tuple[float, ...]
    arousal: tuple[float, ...]
    valence_std: float  # simulated spread between raters, 1..9 scale
    arousal_std: float

    def curve_times(self) -> np.ndarray:
        """The instants of the curve samples (uniform from 0 to ``seconds``, as the music engine reads them)."""
        return np.linspace(0.0, self.seconds, len(self.valence))

    def at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Valence and arousal on [0, 1] at ``times`` (linear between the per-second samples)."""
        knots = self.curve_times()
        return np.interp(times, knots, self.valence), np.interp(times, knots, self.arousal)

    def dynamic_times(self) -> np.ndarray:
        """DEAM's annotation instants for this song: every 500 ms from 15 s to before its end."""
        return np.arange(DYNAMIC_START_S, self.seconds - 1e-9, DYNAMIC_STEP_S)


def plan_demo_songs(n_songs: int = 40, seconds: float = 45.0, seed: int = 0) -> list[DemoSong]:
    """Decide ids, targets and emotion curves of every song (cheap; no audio)."""
    if int(n_songs) < 1:
        raise ValueError(f"n_songs={n_songs!r}: the demo dataset needs at least 1 song")
    if not np.isfinite(seconds) or not 1.0 <= seconds <= 600.0:
        raise ValueError(f"seconds={seconds!r} is outside the valid range 1..600 seconds per song")
    rng = np.random.default_rng([int(seed), 0xDE])
    n_full = min(3, max(1, n_songs // 13)) if n_songs >= 3 else 0
    n_excerpts = n_songs - n_full
    ids = sorted(rng.choice(np.arange(1, 2001), n_excerpts, replace=False).tolist())
    ids += sorted(rng.choice(np.arange(2001, 2059), n_full, replace=False).tolist())
    targets = _spread_targets(n_songs, rng)
    songs = []
    for index, song_id in enumerate(ids):
        length = seconds * FULL_SONG_STRETCH if song_id > 2000 else seconds
        length = round(length, 3)
        valence = _moving_curve(targets[index, 0], length, rng)
        arousal = _moving_curve(targets[index, 1], length, rng)
        songs.append(
            DemoSong(
                song_id=int(song_id),
                seconds=length,
                seed=int(rng.integers(0, 2**31 - 1)),
                valence=tuple(np.round(valence, 6).tolist()),
                arousal=tuple(np.round(arousal, 6).tolist()),
                valence_std=float(rng.uniform(0.8, 2.0)),
                arousal_std=float(rng.uniform(0.8, 2.0)),
            )
        )
    return songs


def make_demo_dataset(
    root: str | os.PathLike,
    n_songs: int = 40,
    seconds: float = 45.0,
    seed: int = 0,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Path:
    """Write the demo dataset under ``root`` in the official nested DEAM layout and return ``root``.

    ``workers``: processes rendering songs (default: up to 2, the cores this project budgets for).
    ``progress(done, total, message)`` is called after each song (for the app's progress bar).
    """
    root = Path(root)
    songs = plan_demo_songs(n_songs, seconds, seed)
    # The engine's source fingerprint and the plan itself: songs of another engine, or planned by other code
    # (other targets, curves or seeds under the same ids), are stale: they are what the model learns from.
    settings = {"engine": source_fingerprint(), "plan": _plan_digest(songs), "n_songs": int(n_songs),
                "seconds": float(seconds), "seed": int(seed)}
    manifest_path = root / MANIFEST_NAME
    previous = read_json(manifest_path) if manifest_path.is_file() else None
    audio_dir = root / AUDIO_DIR
    if previous is not None and previous.get("settings") != settings:
        _remove_stale_audio(audio_dir, previous.get("song_ids", []))
    write_json(manifest_path, {"settings": settings, "song_ids": [s.song_id for s in songs]})

    pending = [s for s in songs if not (audio_dir / f"{s.song_id}.mp3").is_file()]
    total, done = len(songs), len(songs) - len(pending)
    _report(progress, done, total, f"{done} of {total} songs already generated")
    with tqdm(total=total, initial=done, desc="demo songs", unit="song", disable=None) as bar:
        for song_id in _render_all(pending, audio_dir, workers):
            done += 1
            bar.update(1)
            _report(progress, done, total, f"song {song_id} written")

    write_annotations(root, songs)
    return root


def render_song(song: DemoSong, sample_rate: int = DEAM_SAMPLE_RATE) -> np.ndarray:
    """The song's audio as float32 stereo (frames, 2): the music engine rendering its emotion curve."""
    return np.repeat(render_song_mono(song, sample_rate)[:, None], 2, axis=1)


def render_song_mono(song: DemoSong, sample_rate: int = DEAM_SAMPLE_RATE) -> np.ndarray:
    """The song's audio as mono float32 (deterministic: the same song renders the same samples every time)."""
    audio = create_melodic_music(np.asarray(song.valence), np.asarray(song.arousal), song.seconds, seed=song.seed,
                                 sample_rate=sample_rate)
    return np.asarray(audio, dtype=np.float32)


def write_annotations(root: str | os.PathLike, songs: Iterable[DemoSong]) -> None:
    """Write the two static and two dynamic CSVs, formatted as the genuine DEAM files are."""
    root = Path(root)
    songs = sorted(songs, key=lambda s: s.song_id)
    excerpts = [s for s in songs if s.song_id <= 2000]
    full = [s for s in songs if s.song_id > 2000]
    _write_lines(root / STATIC_EXCERPTS, [STATIC_EXCERPTS_HEADER] + [_static_excerpt_row(s) for s in excerpts])
    _write_lines(root / STATIC_FULL_SONGS, [STATIC_FULL_SONGS_HEADER] + [_static_full_row(s) for s in full])
    longest = max((s.dynamic_times().size for s in songs), default=0)
    header = ",".join(["song_id"] + [f"sample_{int(round(1000 * (DYNAMIC_START_S + i * DYNAMIC_STEP_S)))}ms" for i in range(longest)])
    for name, index in (("arousal.csv", 1), ("valence.csv", 0)):
        rows = [header]
        for song in songs:
            values = song.at(song.dynamic_times())[index] * 2.0 - 1.0  # [0, 1] -> DEAM's [-1, 1]
            cells = [_dynamic_cell(x) for x in values] + [""] * (longest - values.size)  # NaN padding
            rows.append(",".join([str(song.song_id)] + cells))
        _write_lines(root / DYNAMIC_DIR / name, rows)


def _render_all(songs: list[DemoSong], audio_dir: Path, workers: int | None) -> Iterable[int]:
    """Render and write songs, in a small process pool when it pays off; yields ids as they finish."""
    if not songs:
        return
    audio_dir.mkdir(parents=True, exist_ok=True)
    workers = min(workers or min(2, os.cpu_count() or 1), len(songs))
    if workers <= 1:
        for song in songs:
            yield _write_song(song, audio_dir)
        return
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        yield from pool.map(_write_song, songs, [audio_dir] * len(songs))
    finally:  # a caller that stops early (a progress hook raising on Stop) waits for the songs in flight only
        pool.shutdown(wait=True, cancel_futures=True)


def _write_song(song: DemoSong, audio_dir: Path) -> int:
    write_audio(audio_dir / f"{song.song_id}.mp3", render_song(song), DEAM_SAMPLE_RATE)
    return song.song_id


def _plan_digest(songs: Iterable[DemoSong]) -> str:
    """16 hex digits of SHA-256 over every planned song (id, length, seed, curves, spreads), in order."""
    digest = hashlib.sha256()
    for song in songs:
        digest.update(repr(dataclasses.astuple(song)).encode())
    return digest.hexdigest()[:16]


def _spread_targets(n: int, rng: np.random.Generator) -> np.ndarray:
    """Targets covering the whole square: one random point in each of ``n`` cells of a k x k grid.

    The four corner cells are always among them (when ``n >= 4``), the other cells are drawn at random.
    Why: the presets sit at the corners (happy (1, 1), angry (0, 1), sad (0, 0), calm (1, 0)) and so do
    the benchmark's extreme cells; with the cells drawn purely at random, the 40-song bundle had no song
    in the calm-happy corner cell (no chunk at valence > 0.8 with arousal < 0.2), so the model had to
    extrapolate the calm preset from songs a whole cell away.
    """
    k = int(np.ceil(np.sqrt(n)))
    corners = np.array([0, k - 1, k * (k - 1), k * k - 1])
    others = np.setdiff1d(np.arange(k * k), corners)
    cells = np.concatenate([rng.permutation(corners), rng.permutation(others)])[:n] if k > 1 else np.zeros(n, int)
    cells = rng.permutation(cells)  # which song gets which cell stays random
    grid = np.stack([cells % k, cells // k], axis=1).astype(float)
    return 0.08 + 0.84 * (grid + rng.uniform(0.15, 0.85, size=grid.shape)) / k


def _moving_curve(target: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth per-second curve averaging ``target``: a linear drift plus a slow sway, kept inside (0, 1)."""
    t = np.linspace(0.0, seconds, int(round(seconds)) + 1)
    drift = rng.uniform(-0.3, 0.3) * (t / seconds - 0.5)
    sway = rng.uniform(0.05, 0.12) * np.sin(2 * np.pi * t / rng.uniform(15.0, 40.0) + rng.uniform(0, 2 * np.pi))
    motion = drift + sway
    return np.clip(target + motion - motion.mean(), 0.02, 0.98)


def _static_excerpt_row(song: DemoSong) -> str:
    v, a = _to_static(song.valence), _to_static(song.arousal)
    return ",".join([str(song.song_id), _short(v.mean()), _short(song.valence_std), _short(a.mean()), _short(song.arousal_std)])


def _static_full_row(song: DemoSong) -> str:
    v, a = _to_static(song.valence), _to_static(song.arousal)
    cells = [v.mean(), song.valence_std, v.max(), 0.8 * song.valence_std, v.min(), 0.8 * song.valence_std]
    cells += [a.mean(), song.arousal_std, a.max(), 0.8 * song.arousal_std, a.min(), 0.8 * song.arousal_std]
    return ",".join([str(song.song_id)] + [str(round(float(x), 2)) for x in cells])  # this file writes "5.0"


def _to_static(curve: tuple[float, ...]) -> np.ndarray:
    return 1.0 + 8.0 * np.asarray(curve)  # [0, 1] -> DEAM's 1..9


def _short(x: float) -> str:
    """Two decimals without trailing zeros ("3", "3.1", "1.75"), as in the 1..2000 static file."""
    return f"{round(float(x), 2):g}"


def _dynamic_cell(x: float) -> str:
    return f"{round(float(x), 4):g}"


def _write_lines(path: Path, lines: list[str]) -> None:
    with atomic_path(path, suffix=".csv.tmp") as tmp:
        tmp.write_bytes((NEWLINE.join(lines) + NEWLINE).encode("ascii"))


def _remove_stale_audio(audio_dir: Path, song_ids: Iterable[int]) -> None:
    """Delete the MP3s a previous demo run with other settings wrote (only those, by id)."""
    for song_id in song_ids:
        (audio_dir / f"{int(song_id)}.mp3").unlink(missing_ok=True)


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)

