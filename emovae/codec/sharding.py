"""Encoding in N parts: which songs each part takes, the record that says it finished, and the merge.

One rule serves torchrun (shard = rank / world size) and any batch scheduler (``--shard K/N``): the
songs, in chunk-table order, are cut into N contiguous runs of about equal chunk counts. Whole songs,
because the training split is by song and a song's chunks belong together; contiguous, because then
the parts' issue lists, concatenated in part order, are in chunk-table order exactly as a
single-process run reports them. Each part writes its shards into its own folder
(``.encode_<S>s_shards/part_K_of_N/``), so no two processes ever write the same file, and ends with
``done.json`` listing the chunk ids it was responsible for: consolidation checks that the finished
parts cover the whole chunk table before it writes anything.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emovae import formats
from emovae.codec.encode import (
    ChunkIssue,
    EncodeConfig,
    EncodeResult,
    LatentStore,
    encode_pending,
    ensure_same_precision,
    finish_encode,
    frames_for_seconds,
    prepare_codec,
    read_chunk_metadata,
    shard_dir,
)
from emovae.codec.encodec_codec import Codec
from emovae.codec.identity import ensure_same_codec
from emovae.progress import Progress
from emovae.distributed import DEFAULT_TIMEOUT_S, DistEnv, barrier, process_group
from emovae.io import read_json, write_json

DONE_FILE = "done.json"
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_PART = re.compile(r"^part_(\d+)_of_(\d+)$")


@dataclass(frozen=True)
class ShardSpec:
    """Part ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= K < N (K counts from 0)")

    @classmethod
    def parse(cls, text: str) -> "ShardSpec":
        """``"K/N"`` -> ShardSpec; the error shows the form (e.g. a SLURM array's task id and count)."""
        match = _SPEC.match(str(text))
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise ValueError(f"--shard {text!r}: expected K/N with 0 <= K < N, K counting from 0 (e.g. 0/4 ... 3/4; "
                             "in a SLURM array: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-3)")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def folder_name(self) -> str:
        return f"part_{self.index:04d}_of_{self.count:04d}"


def song_slice(metadata: pd.DataFrame, spec: ShardSpec) -> pd.DataFrame:
    """The rows of the songs part ``spec`` encodes: a song goes to the part its first chunk's position falls in."""
    songs = metadata["song_id"].to_numpy()
    if len(songs) == 0:
        return metadata.iloc[0:0]
    first = pd.Series(np.arange(len(songs))).groupby(songs, sort=False).transform("min").to_numpy()
    part = first * spec.count // len(songs)
    return metadata[part == spec.index]


@dataclass(frozen=True)
class PartRecord:
    """What ``done.json`` of one finished part says."""

    spec: ShardSpec
    codec: dict[str, Any]
    chunk_ids: list[str]
    issues: list[dict[str, Any]]
    n_encoded: int
    path: Path
    n_audio_changed: int = 0  # of n_encoded: their audio changed since an earlier encoding
    n_unstamped: int = 0  # of n_encoded: their earlier latent predates audio stamps


def write_done(folder: Path, spec: ShardSpec, codec: dict[str, Any], chunk_ids: list[str],
               issues: list[dict[str, Any]], n_encoded: int, n_audio_changed: int = 0, n_unstamped: int = 0) -> Path:
    """Mark part ``spec`` finished; written last, after all its shards, so it never claims unwritten work."""
    path = folder / DONE_FILE
    write_json(path, {"shard": str(spec), "codec": codec, "encoded_this_run": n_encoded, "chunk_ids": chunk_ids,
                      "issues": issues, "reencoded_audio_changed": n_audio_changed, "reencoded_unstamped": n_unstamped})
    return path


def read_parts(shards: Path) -> list[PartRecord]:
    """Every finished part under ``shards``, in part order."""
    records = []
    for folder in sorted(p for p in shards.glob("part_*") if p.is_dir() and _PART.match(p.name)):
        path = folder / DONE_FILE
        if not path.is_file():
            continue
        data = read_json(path)
        try:
            records.append(PartRecord(ShardSpec.parse(data["shard"]), dict(data["codec"]), list(data["chunk_ids"]),
                                      list(data["issues"]), int(data["encoded_this_run"]), path,
                                      int(data.get("reencoded_audio_changed", 0)), int(data.get("reencoded_unstamped", 0))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a shard completion record ({exc}); delete it and re-run that shard") from None
    return records


def unfinished_parts(shards: Path) -> tuple[int, list[ShardSpec]]:
    """The part count N the shards were made with, and the parts of N without ``done.json``.

    Started-but-unfinished parts count too (a folder without the record), so a SLURM task that crashed is
    named, not just one that never ran.
    """
    counts = {int(m[2]) for p in shards.glob("part_*") if (m := _PART.match(p.name))}
    if not counts:
        raise FileNotFoundError(f"{shards}: no shard parts found; run `python -m pipeline.encode --shard K/N` for "
                                "K = 0 .. N-1 first (or under torchrun), then --consolidate")
    if len(counts) > 1:
        raise ValueError(f"{shards}: parts of different splits {sorted(counts)} (N in --shard K/N); keep one N: "
                         "delete the part_*_of_<N> folders of the split you abandoned (any chunk they held is encoded again)")
    count = counts.pop()
    done = {record.spec.index for record in read_parts(shards)}
    return count, [ShardSpec(k, count) for k in range(count) if k not in done]


class ShardsIncomplete(FileNotFoundError):
    """Consolidation was asked for before every part finished (the message names the missing parts)."""


@dataclass
class ShardResult:
    """What one part of a sharded run did (the consolidated outputs come later, from :func:`consolidate_shards`)."""

    spec: ShardSpec
    folder: Path
    n_chunks: int  # chunks of this part's songs
    n_encoded: int  # encoded by this run (the rest were found already encoded)
    issues: list[ChunkIssue] = field(default_factory=list)


def encode_shard(config: EncodeConfig, spec: ShardSpec, progress: Progress | None = None,
                 codec: Codec | None = None) -> ShardResult:
    """Encode part ``spec`` of the songs into its own shard folder and mark it done; resumable like a full run."""
    metadata = read_chunk_metadata(config.chunks, config.chunk_seconds)
    part = song_slice(metadata, spec)
    codec = prepare_codec(config, codec)
    store = LatentStore(Path(config.out), int(config.chunk_seconds), codec.latents_identity,
                        frames_for_seconds(config.chunk_seconds), part=spec.folder_name)
    env = DistEnv.from_environ()
    who = f"rank {env.rank}, pid {os.getpid()}" if env.active else f"pid {os.getpid()}"
    print(f"shard {spec} ({who}): {len(part)} chunks of {part['song_id'].nunique()} songs, {codec.codec_id}, "
          f"precision {codec.precision}, {torch.get_num_threads()} threads", file=sys.stderr, flush=True)
    folder = formats.chunks_dir(config.chunks, config.chunk_seconds)
    found = store.check(part, folder)  # encoded from the chunk's current audio, by an earlier run or any part
    issues = found.gone_issues(part, folder)
    n_encoded = encode_pending(found.pending(part), config, codec, store, issues, progress, label=f" [shard {spec}]")
    store.write_dir.mkdir(parents=True, exist_ok=True)
    store.write_identity()
    write_done(store.write_dir, spec, codec.latents_identity, part["chunk_id"].tolist(), [asdict(i) for i in issues], n_encoded,
               len(found.audio_changed), len(found.unstamped))
    return ShardResult(spec, store.write_dir, len(part), n_encoded, issues)


def consolidate_shards(config: EncodeConfig) -> EncodeResult:
    """Merge the finished parts into the outputs a single-process run writes (same rows, same order, same bytes).

    Needs no codec model: the identity comes from the parts' records, which must all agree.
    """
    metadata = read_chunk_metadata(config.chunks, config.chunk_seconds)
    shards = shard_dir(config.out, config.chunk_seconds)
    count, missing = unfinished_parts(shards)
    if missing:
        listed = ", ".join(str(spec) for spec in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ShardsIncomplete(
            f"{shards}: {len(missing)} of {count} parts not finished ({listed}: no "
            f"{missing[0].folder_name}/{DONE_FILE}); run `python -m pipeline.encode --shard K/{count}` for each "
            "(finished chunks are kept), then --consolidate again")
    records = read_parts(shards)
    for record in records[1:]:
        ensure_same_codec(record.codec, records[0].codec, context=f"{record.path} vs {records[0].path}")
        ensure_same_precision(record.codec, records[0].codec, context=f"{record.path} vs {records[0].path}")
    covered = {cid for record in records for cid in record.chunk_ids}
    uncovered = metadata.loc[~metadata["chunk_id"].isin(covered), "chunk_id"].tolist()
    if uncovered:
        table = formats.chunks_dir(config.chunks, config.chunk_seconds) / formats.CHUNK_METADATA_CSV
        raise ShardsIncomplete(
            f"{table}: {len(uncovered)} chunks (e.g. {uncovered[:5]}) are in no finished part: the chunk table changed "
            f"after the parts ran; run the {count} shards again (finished chunks are reused), then --consolidate")
    store = LatentStore(Path(config.out), int(config.chunk_seconds), records[0].codec,
                        frames_for_seconds(config.chunk_seconds))
    issues = [ChunkIssue(**issue) for record in records for issue in record.issues]
    return finish_encode(config, metadata, store, sum(record.n_encoded for record in records), issues,
                         sum(record.n_audio_changed for record in records), sum(record.n_unstamped for record in records))


def encode_with_torchrun(config: EncodeConfig, env: DistEnv, timeout_s: float = DEFAULT_TIMEOUT_S) -> EncodeResult | ShardResult:
    """One rank of ``torchrun -m pipeline.encode``: encode part rank/world, wait for all, rank 0 consolidates.

    The process group (gloo, whatever device encodes) only carries the barrier; the data goes through
    the shared output folder, so every node must see the same ``--out``.
    """
    with process_group(env, "gloo", timeout_s):
        shard = encode_shard(config, ShardSpec(env.rank, env.world_size))
        barrier(f"encoding their shards into {shard.folder.parent}", timeout_s)
        return consolidate_shards(config) if env.is_main else shard


__all__ = ["DONE_FILE", "PartRecord", "ShardResult", "ShardSpec", "ShardsIncomplete", "consolidate_shards",
           "encode_shard", "encode_with_torchrun", "read_parts", "song_slice", "unfinished_parts", "write_done"]
