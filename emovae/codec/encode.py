"""The encoding stage: preprocess chunks -> EnCodec latents + aligned labels + codec identity.

Reads ``<chunks>/chunks_<S>s/metadata.csv`` (see :mod:`emovae.formats`) and writes, in ``out``::

    latents_<S>s.npy        float32 (N, 128, 75*S), memory-mappable, row i <-> labels row i
    labels_<S>s.csv         LATENT_COLUMNS
    codec_<S>s.json         the codec identity the latents were made with
    audio_stamps_<S>s.json  per chunk id, the stamp of the wav its latent was encoded from (see below)
    encode_report_<S>s.json what was padded, trimmed, resampled, skipped (and why)
    plots/latent_pca_<S>s.{png,html}

Why shards: DEAM is ~16k chunks (~20 min of encoding); a crash must not cost finished work. Each group
of chunks is written atomically to ``.encode_<S>s_shards/`` as it completes; at the end the
consolidated outputs are rebuilt from the previous consolidated file plus the shards, and only then
are the shards removed. A re-run therefore encodes only chunks found in neither. The processes of a
sharded run (:mod:`emovae.codec.sharding`) write one sub-folder each, and every shard below the folder counts. The shard folder and
the consolidated files carry the codec identity, and a run with another codec refuses to continue.

Stale latents are never reused: every latent is recorded with the stamp of the chunk wav it was encoded
from (size, mtime_ns and a SHA-256 digest of the file, :func:`emovae.io.file_identity`, taken before the
audio is read), in its shard and then in ``audio_stamps_<S>s.json``. A chunk counts as encoded only while its wav still matches that stamp:
same size and mtime, or (after a copy or a rewrite of identical bytes) the same digest. A chunk whose audio
changed under the same id (preprocess re-chunked a replaced song) is encoded again and the consolidated
file takes the new latent (``EncodeResult.n_audio_changed``). Latents written before stamps were recorded
cannot be checked, so they are encoded again once (``n_unstamped``): a one-time cost, chosen over trusting
them because trusting them is exactly how a re-chunked dataset kept its old latents. A chunk whose wav is
gone keeps the latent it has (reported as ``missing``/``kept``): nothing newer contradicts it, and
re-encoding is impossible.

Labels are not part of what is encoded: fixing an annotation and re-running preprocess keeps every chunk
id, so the latents are reused, but ``labels_<S>s.csv`` is compared row by row with the chunk table and
rewritten when any valence/arousal/label source changed (``EncodeResult.labels_refreshed`` counts them).

Bad input policy (each case is recorded in the report, by chunk id and file):
  * missing or unreadable wav -> skipped (retried on the next run, since nothing was written for it);
  * wrong sample rate -> resampled to 24 kHz on load and kept;
  * too short -> zero-padded to S seconds and kept; too long -> trimmed and kept;
  * silent (peak below ``silence_threshold``) -> skipped by default, because a silent chunk carries
    no emotion yet would teach the VAE that silence sounds like its label; ``keep_silent=True``
    (``--keep-silent``) keeps it.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from emovae import formats
from emovae.audio import SAMPLE_RATE, AudioLoadError, load_audio
from emovae.codec.encodec_codec import Codec, LatentKind, Precision, configure_threads, load_codec
from emovae.codec.identity import ensure_same_codec, read_identity
from emovae.device import resolve_device
from emovae.distributed import rank_device
from emovae.io import atomic_path, file_identity, read_json, same_file, save_npy, write_csv, write_json
from emovae.progress import Progress

REQUIRED_CHUNK_COLUMNS = ("chunk_id", "song_id", "chunk_index", "start_s", "end_s", "valence", "arousal",
                          "label_source", "file")


@dataclass
class EncodeConfig:
    """Settings of one encoding run (the CLI flags of ``python -m pipeline.encode``)."""

    chunks: Path = Path(formats.DEFAULT_PROCESSED_DIR)
    out: Path = Path(formats.DEFAULT_LATENT_DIR)
    chunk_seconds: int = 5
    weights: str | None = "auto"
    latent_kind: LatentKind = "continuous"
    bandwidth: float = 6.0
    seed: int = 0
    batch_size: int | None = None
    device: str = "auto"
    shard_size: int = 64  # chunks per atomically written shard: the most a crash can cost
    keep_silent: bool = False
    silence_threshold: float = 1e-4  # peak |sample| below this counts as silent
    plots: bool = True
    threads: int | None = None  # torch CPU threads; None: this process's share of the cores (emovae.distributed)
    precision: Precision = "fp32"  # "bf16": the encoder runs under bfloat16 autocast (see Codec.encode)
    prefetch: bool = True  # decode the next shard's audio in a thread while this one is encoded


@dataclass
class ChunkIssue:
    """One problem found with one chunk, and what the stage did about it."""

    chunk_id: str
    file: str
    problem: str  # missing | unreadable | resampled | short | long | silent
    action: str  # skipped | resampled | padded | trimmed | kept
    detail: str = ""


@dataclass
class EncodeResult:
    latents_path: Path
    labels_path: Path
    codec_path: Path
    report_path: Path
    codec: dict[str, Any]
    n_rows: int
    n_encoded: int  # encoded by this run
    n_reused: int  # already encoded by an earlier run
    labels_refreshed: int = 0  # label rows rewritten because the chunk table changed since the last run
    n_audio_changed: int = 0  # of n_encoded: had a latent, but their wav changed since it was encoded
    n_unstamped: int = 0  # of n_encoded: had a latent from before audio stamps were recorded (checked never again)
    issues: list[ChunkIssue] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)

    @property
    def skipped(self) -> list[ChunkIssue]:
        return [issue for issue in self.issues if issue.action == "skipped"]


def report_path(out_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(out_dir) / f"encode_report_{int(chunk_seconds)}s.json"


def shard_dir(out_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(out_dir) / f".encode_{int(chunk_seconds)}s_shards"


def stamps_path(out_dir: str | Path, chunk_seconds: int) -> Path:
    return Path(out_dir) / f"audio_stamps_{int(chunk_seconds)}s.json"


def stamp_check(stamp: dict[str, Any] | None, path: Path) -> dict[str, Any] | None:
    """The stamp (:func:`emovae.io.file_identity`) of ``path`` now if its audio is the one ``stamp``
    describes, else None.

    Size and mtime equal: the same file, no read. Same size but another mtime (a copy, or identical bytes
    written again): the digest decides, and the returned stamp carries the new mtime. Another size: not
    the same audio, nothing read.
    """
    if not stamp or path.stat().st_size != stamp.get("size"):
        return None
    current = file_identity(path, known=stamp)
    return current if same_file(current, stamp) else None


@dataclass
class Freshness:
    """Which chunks of a table have a latent made from their current audio (:meth:`LatentStore.check`)."""

    sources: dict[str, tuple[np.ndarray, int]]  # chunk id -> (array, row) of its usable latent
    stamps: dict[str, dict[str, Any] | None]  # chunk id -> the stamp to record with it
    audio_changed: list[str] = field(default_factory=list)  # had a latent, from other audio
    unstamped: list[str] = field(default_factory=list)  # had a latent that cannot be checked
    gone: list[str] = field(default_factory=list)  # had a latent, and the wav is missing: kept

    def pending(self, metadata: pd.DataFrame) -> pd.DataFrame:
        return metadata[~metadata["chunk_id"].isin(self.sources)]

    def gone_issues(self, metadata: pd.DataFrame, folder: Path) -> list[ChunkIssue]:
        files = dict(zip(metadata["chunk_id"], metadata["file"]))
        return [ChunkIssue(cid, str(folder / str(files[cid])), "missing", "kept",
                           "the latent of an earlier run is kept; its audio is gone, so it could not be checked")
                for cid in self.gone]


def run_encode(config: EncodeConfig, progress: Progress | None = None, codec: Codec | None = None) -> EncodeResult:
    """Encode every chunk not yet encoded, then (re)write the consolidated outputs.

    ``codec`` may be passed to reuse a loaded model (the app, tests); otherwise it is built from
    ``config.weights`` etc. Several processes share a run through :mod:`emovae.codec.sharding`.
    """
    metadata = read_chunk_metadata(config.chunks, config.chunk_seconds)
    codec = prepare_codec(config, codec)
    store = LatentStore(Path(config.out), int(config.chunk_seconds), codec.latents_identity,
                        frames_for_seconds(config.chunk_seconds))
    folder = formats.chunks_dir(config.chunks, config.chunk_seconds)
    found = store.check(metadata, folder)
    issues = found.gone_issues(metadata, folder)
    if progress and (found.audio_changed or found.unstamped):
        progress(0, 1, _stale_message(len(found.audio_changed), len(found.unstamped)))
    n_encoded = encode_pending(found.pending(metadata), config, codec, store, issues, progress)
    return finish_encode(config, metadata, store, n_encoded, issues, len(found.audio_changed), len(found.unstamped))


def _stale_message(changed: int, unstamped: int) -> str:
    parts = ([f"{changed} chunks whose audio changed since they were encoded"] if changed else []) + \
        ([f"{unstamped} chunks encoded before audio stamps were recorded"] if unstamped else [])
    return "re-encoding " + " and ".join(parts)


def prepare_codec(config: EncodeConfig, codec: Codec | None = None) -> Codec:
    """Set this process's thread count, then build the codec from the config unless one is given."""
    configure_threads(config.threads)
    if codec is None:
        device = rank_device(resolve_device(config.device))  # under torchrun: the rank's own GPU
        codec = load_codec(config.weights, device, config.latent_kind, config.bandwidth, config.seed,
                           config.batch_size, precision=config.precision)
    return codec


def frames_for_seconds(chunk_seconds: int) -> int:
    return Codec.frames_for(int(chunk_seconds) * SAMPLE_RATE)


def finish_encode(config: EncodeConfig, metadata: pd.DataFrame, store: LatentStore, n_encoded: int,
                  issues: list[ChunkIssue], n_audio_changed: int = 0, n_unstamped: int = 0) -> EncodeResult:
    """Consolidate every chunk of ``metadata`` (in its order) encoded from its current audio, write the
    report and the plots. A chunk whose audio changed and could not be encoded again is left out."""
    seconds, out = int(config.chunk_seconds), store.out
    found = store.check(metadata, formats.chunks_dir(config.chunks, seconds))
    wanted = metadata[metadata["chunk_id"].isin(found.sources)]
    consolidated = store.consolidate(wanted, found)
    result = EncodeResult(
        latents_path=formats.latents_path(out, seconds),
        labels_path=formats.labels_path(out, seconds),
        codec_path=formats.codec_identity_path(out, seconds),
        report_path=report_path(out, seconds),
        codec=store.identity,
        n_rows=len(wanted),
        n_encoded=n_encoded,
        n_reused=len(wanted) - n_encoded,
        labels_refreshed=consolidated.labels_refreshed,
        n_audio_changed=n_audio_changed,
        n_unstamped=n_unstamped,
        issues=issues,
    )
    write_json(result.report_path, {
        "codec": store.identity, "chunk_seconds": seconds, "rows": result.n_rows, "encoded_this_run": n_encoded,
        "reused": result.n_reused, "reencoded_audio_changed": n_audio_changed, "reencoded_unstamped": n_unstamped,
        "labels_refreshed": result.labels_refreshed, "keep_silent": config.keep_silent,
        "issues": [asdict(i) for i in issues],
    })
    if config.plots and len(wanted) >= 3:
        result.plots = _plots(out, seconds, consolidated.changed)
    return result


def read_chunk_metadata(processed_dir: str | Path, chunk_seconds: int) -> pd.DataFrame:
    """The preprocess stage's chunk table, checked for the columns this stage relies on."""
    path = formats.chunks_dir(processed_dir, chunk_seconds) / formats.CHUNK_METADATA_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chunk table not found; run `python -m pipeline.preprocess` with "
                                f"--chunk-seconds {chunk_seconds} first (or pass the right --chunks folder)")
    table = pd.read_csv(path, dtype={"chunk_id": str, "file": str, "label_source": str})
    missing = [column for column in REQUIRED_CHUNK_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(formats.CHUNK_COLUMNS)}")
    duplicated = table["chunk_id"][table["chunk_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{path}: duplicate chunk ids {duplicated[:5]}; re-run the preprocess stage")
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class Consolidation:
    """What :meth:`LatentStore.consolidate` rewrote."""

    latents_rewritten: bool
    labels_refreshed: int  # rows whose labels changed while the chunk ids (and so the latents) stayed

    @property
    def changed(self) -> bool:
        return self.latents_rewritten or self.labels_refreshed > 0


def ensure_same_precision(existing: dict[str, Any], new: dict[str, Any], context: str) -> None:
    """Refuse to mix precisions in one latent table: bf16 latents are the same latent space as fp32 ones
    (a VAE trained on either decodes with the same codec) but differ by a relative L2 of ~5e-3."""
    before, now = existing.get("precision", "fp32"), new.get("precision", "fp32")
    if before != now:
        raise ValueError(f"{context}: the latents there were encoded in {before}, these in {now}; re-run with "
                         f"--precision {before}, or encode into another --out")


Source = tuple[np.ndarray, int, "dict[str, Any] | None"]  # (array, row, stamp of the audio it was encoded from)


class LatentStore:
    """The output folder: consolidated latents from earlier runs plus shards from this (or a crashed) run."""

    def __init__(self, out: Path, chunk_seconds: int, identity: dict[str, Any], frames: int, part: str | None = None):
        """``part`` names the sub-folder this process writes its shards to (one per process of a sharded run)."""
        self.out, self.seconds, self.identity, self.frames = out, chunk_seconds, identity, frames
        self.latents_path = formats.latents_path(out, chunk_seconds)
        self.labels_path = formats.labels_path(out, chunk_seconds)
        self.codec_path = formats.codec_identity_path(out, chunk_seconds)
        self.stamps_path = stamps_path(out, chunk_seconds)
        self.shards = shard_dir(out, chunk_seconds)
        self.write_dir = self.shards / part if part else self.shards
        self._check_identity()
        self._sources = self._load_sources()

    def encoded_ids(self) -> set[str]:
        """Every chunk id with some latent, whether or not its audio still matches (see :meth:`check`)."""
        return set(self._sources)

    def check(self, metadata: pd.DataFrame, folder: Path) -> Freshness:
        """Which chunks of ``metadata`` (wavs in ``folder``) have a latent encoded from their current audio.

        Of several latents for one chunk (the consolidated file, shards of crashed runs) the newest whose
        stamp matches is used.
        """
        found = Freshness(sources={}, stamps={})
        for cid, file in zip(metadata["chunk_id"], metadata["file"]):
            candidates = self._sources.get(cid)
            if not candidates:
                continue
            path = folder / str(file)
            if not path.is_file():
                array, row, stamp = candidates[-1]
                found.sources[cid], found.stamps[cid] = (array, row), stamp
                found.gone.append(cid)
                continue
            for array, row, stamp in reversed(candidates):
                current = stamp_check(stamp, path)
                if current is not None:
                    found.sources[cid], found.stamps[cid] = (array, row), current
                    break
            else:
                (found.audio_changed if any(stamp for _, _, stamp in candidates) else found.unstamped).append(cid)
        return found

    def add_shard(self, chunk_ids: list[str], latents: np.ndarray, stamps: list[dict[str, Any]]) -> None:
        """Persist one group of encoded chunks; the JSON index is written last, so it marks completion."""
        self.write_dir.mkdir(parents=True, exist_ok=True)
        self.write_identity()
        index = 1 + max((int(p.stem.split("_")[1]) for p in self.write_dir.glob("shard_*.json")), default=-1)
        name = f"shard_{index:05d}"
        save_npy(self.write_dir / f"{name}.npy", latents.astype(np.float32, copy=False))
        write_json(self.write_dir / f"{name}.json", {"chunk_ids": chunk_ids, "stamps": stamps})
        array = np.load(self.write_dir / f"{name}.npy", mmap_mode="r")
        for row, (cid, stamp) in enumerate(zip(chunk_ids, stamps)):
            self._sources.setdefault(cid, []).append((array, row, stamp))

    def write_identity(self) -> None:
        """Tag the shard folder with the codec (atomic: processes of a sharded run may race to write it)."""
        self.shards.mkdir(parents=True, exist_ok=True)
        if not (self.shards / "codec.json").is_file():
            write_json(self.shards / "codec.json", self.identity)

    def consolidate(self, rows: pd.DataFrame, found: Freshness) -> Consolidation:
        """Rewrite latents + labels (+ identity, + audio stamps) for ``rows`` if they differ from what is on disk.

        ``found`` (:meth:`check`) says which latent each row takes. When only labels differ (an annotation
        was fixed and preprocess re-run: same chunk ids and audio, so no chunk is re-encoded), only the labels
        file is rewritten. Latents are streamed into a memory-mapped temporary file, so the full array never
        has to fit in RAM. The stamps file is written after the latents: a crash in between leaves old
        stamps beside new latents, which at worst makes the next run encode some chunks again.
        """
        ids = rows["chunk_id"].tolist()
        labels = rows[[c for c in formats.LATENT_COLUMNS if c != "codec_id"]].copy()
        labels["codec_id"] = self.identity["codec_id"]
        stamps = {cid: found.stamps[cid] for cid in ids}
        consolidated = self._consolidated_ids()
        if consolidated == ids and not self.shards.exists() and all(
                found.sources[cid][0] is self._latents and found.sources[cid][1] == row for row, cid in enumerate(ids)):
            refreshed = _changed_rows(self.labels_path, labels)
            if refreshed:
                write_csv(self.labels_path, labels)
            if self._stamps != stamps:  # e.g. a copied folder: same audio, new mtimes
                write_json(self.stamps_path, stamps)
            return Consolidation(latents_rewritten=False, labels_refreshed=refreshed)
        write_json(self.codec_path, self.identity)
        shape = (len(ids), 128, self.frames)
        with atomic_path(self.latents_path, suffix=".npy.tmp") as latents_tmp:
            target = np.lib.format.open_memmap(latents_tmp, mode="w+", dtype=np.float32, shape=shape)
            for row, chunk_id in enumerate(ids):
                array, index = found.sources[chunk_id]
                target[row] = array[index]
            target.flush()
            del target
            write_csv(self.labels_path, labels)  # replaced just before the latents: the window is one rename
        write_json(self.stamps_path, stamps)
        if self.shards.exists():
            shutil.rmtree(self.shards)
        self._sources = self._load_sources()
        return Consolidation(latents_rewritten=True, labels_refreshed=0)

    def _check_identity(self) -> None:
        for path in (self.codec_path, self.shards / "codec.json"):
            if path.is_file():
                existing = read_identity(path)
                ensure_same_codec(existing, self.identity, context=f"{path} (existing output) vs this run's codec")
                ensure_same_precision(existing, self.identity, context=f"{path} (existing output) vs this run")

    def _consolidated_ids(self) -> list[str] | None:
        if not (self.latents_path.is_file() and self.labels_path.is_file()):
            return None
        return pd.read_csv(self.labels_path, dtype={"chunk_id": str})["chunk_id"].tolist()

    def _load_sources(self) -> dict[str, list[Source]]:
        """Every latent on disk per chunk id, oldest first: the consolidated file, then shards by write time."""
        sources: dict[str, list[Source]] = {}
        ids = self._consolidated_ids()
        self._latents: np.ndarray | None = None
        self._stamps: dict[str, Any] = {}
        if ids is not None:
            latents = np.load(self.latents_path, mmap_mode="r")
            if latents.shape[0] != len(ids) or latents.shape[1:] != (128, self.frames):
                raise ValueError(f"{self.latents_path} has shape {latents.shape} but {self.labels_path} has "
                                 f"{len(ids)} rows of 128 x {self.frames} frames expected; delete both and re-run")
            self._latents = latents
            self._stamps = read_json(self.stamps_path) if self.stamps_path.is_file() else {}
            for row, cid in enumerate(ids):
                sources.setdefault(cid, []).append((latents, row, self._stamps.get(cid)))
        # this run's and every process's part; the newest shard last, so it wins over older ones
        for index_file in sorted(self.shards.rglob("shard_*.json"), key=lambda p: (p.stat().st_mtime_ns, str(p))):
            array_file = index_file.with_suffix(".npy")
            if not array_file.is_file():
                continue  # cannot happen with atomic writes in order, but never trust a half shard
            array = np.load(array_file, mmap_mode="r")
            index = read_json(index_file)
            chunk_ids = index["chunk_ids"]
            stamps = index.get("stamps") or [None] * len(chunk_ids)  # shards of older runs: unknown audio
            for row, (cid, stamp) in enumerate(zip(chunk_ids, stamps)):
                sources.setdefault(cid, []).append((array, row, stamp))
        return sources


def _changed_rows(path: Path, labels: pd.DataFrame) -> int:
    """How many rows of the labels CSV at ``path`` differ from ``labels`` (same ids, same order).

    Compared as CSV text, exactly as :func:`write_csv` would write it, so a float that survives the
    round trip unchanged never counts as a change.
    """
    new_lines = labels.to_csv(index=False).splitlines()
    old_lines = path.read_text().splitlines()
    if len(old_lines) != len(new_lines) or old_lines[0] != new_lines[0]:
        return len(labels)
    return sum(old != new for old, new in zip(old_lines[1:], new_lines[1:]))


def encode_pending(pending: pd.DataFrame, config: EncodeConfig, codec: Codec, store: LatentStore,
                   issues: list[ChunkIssue], progress: Progress | None, label: str = "") -> int:
    """Encode ``pending`` chunks shard by shard; return how many were encoded.

    With ``config.prefetch`` one thread reads and checks the next shard's wavs while this one is
    encoded (soundfile and torch both release the GIL), so disk and decoding time hide behind the codec.
    """
    chunk_folder = formats.chunks_dir(config.chunks, config.chunk_seconds)
    n_samples = int(config.chunk_seconds) * SAMPLE_RATE
    total, done, encoded = len(pending), 0, 0
    groups = [pending.iloc[start : start + config.shard_size] for start in range(0, total, config.shard_size)]
    bar = tqdm(total=total, desc=f"encode {config.chunk_seconds}s chunks{label}", unit="chunk", disable=total == 0)
    if progress:
        progress(0, total, f"encoding {total} chunks with {codec.codec_id}")

    def load(group: pd.DataFrame) -> tuple[list[str], list[np.ndarray], list[dict[str, Any]]]:
        loaded = [(row.chunk_id, *_load_chunk(chunk_folder, row, n_samples, config, issues))
                  for row in group.itertuples(index=False)]
        kept = [item for item in loaded if item[1] is not None]
        return [cid for cid, _, _ in kept], [wave for _, wave, _ in kept], [stamp for _, _, stamp in kept]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode-audio") as reader:
        upcoming: Future | None = reader.submit(load, groups[0]) if groups and config.prefetch else None
        for number, group in enumerate(groups):
            ids, waves, stamps = upcoming.result() if upcoming is not None else load(group)
            nxt = groups[number + 1] if number + 1 < len(groups) else None
            upcoming = reader.submit(load, nxt) if config.prefetch and nxt is not None else None
            outputs = []
            for part in range(0, len(waves), codec.batch_size):
                outputs.append(codec.encode(np.stack(waves[part : part + codec.batch_size])))
                step = min(codec.batch_size, len(waves) - part)
                bar.update(step)
                done += step
                if progress:
                    progress(done, total, f"encoded {done}/{total} chunks")
            skipped_here = len(group) - len(waves)
            bar.update(skipped_here)
            done += skipped_here
            if ids:
                store.add_shard(ids, np.concatenate(outputs), stamps)
                encoded += len(ids)
            if progress and skipped_here:
                progress(done, total, f"encoded {done}/{total} chunks ({len(issues)} issues so far)")
    bar.close()
    return encoded


def _load_chunk(folder: Path, row: Any, n_samples: int, config: EncodeConfig,
                issues: list[ChunkIssue]) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """Load one chunk as exactly ``n_samples`` at 24 kHz, recording anything odd; a wave of ``None`` means skip.

    The stamp of the file is taken before its audio is read: if the file is replaced in between, the stamp
    describes older audio than the latent, and the next run encodes the chunk again (never the reverse).
    """
    path = folder / str(row.file)

    def report(problem: str, action: str, detail: str = "") -> None:
        issues.append(ChunkIssue(str(row.chunk_id), str(path), problem, action, detail))

    try:
        stamp = file_identity(path)
    except (FileNotFoundError, IsADirectoryError):
        report("missing", "skipped", "file listed in metadata.csv does not exist")
        return None, None
    try:
        wave = load_audio(path, SAMPLE_RATE)
    except AudioLoadError as exc:
        report("unreadable", "skipped", str(exc))
        return None, None
    native_rate = _native_rate(path)
    if native_rate is not None and native_rate != SAMPLE_RATE:
        report("resampled", "resampled", f"{native_rate} Hz -> {SAMPLE_RATE} Hz")
    if wave.size < n_samples:
        report("short", "padded", f"{wave.size / SAMPLE_RATE:.3f} s zero-padded to {config.chunk_seconds} s")
        wave = np.pad(wave, (0, n_samples - wave.size))
    elif wave.size > n_samples:
        report("long", "trimmed", f"{wave.size / SAMPLE_RATE:.3f} s trimmed to {config.chunk_seconds} s")
        wave = wave[:n_samples]
    peak = float(np.max(np.abs(wave)))
    if peak < config.silence_threshold:
        report("silent", "kept" if config.keep_silent else "skipped", f"peak {peak:.2e} < {config.silence_threshold:g}")
        if not config.keep_silent:
            return None, None
    return wave, stamp


def _native_rate(path: Path) -> int | None:
    try:
        return int(sf.info(str(path)).samplerate)
    except RuntimeError:  # not a soundfile format; load_audio decoded it another way
        return None


def _plots(out: Path, seconds: int, changed: bool) -> list[Path]:
    from emovae.codec.plots import plot_latent_pca

    png = out / "plots" / f"latent_pca_{seconds}s.png"
    html = png.with_suffix(".html")
    if not changed and png.is_file() and html.is_file():
        return [png, html]
    latents = np.load(formats.latents_path(out, seconds), mmap_mode="r")
    labels = pd.read_csv(formats.labels_path(out, seconds), dtype={"chunk_id": str})
    return plot_latent_pca(latents, labels, png, html, title=f"EnCodec latents, {seconds} s chunks")
