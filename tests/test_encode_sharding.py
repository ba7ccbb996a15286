"""Sharded encoding: K/N parts (a scheduler's array, or torchrun ranks) give the single-process result, byte for byte."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import numpy as np
import pandas as pd
import pytest
import torch

from emovae import formats
from emovae.codec import load_codec
from emovae.codec.encode import EncodeConfig, report_path, run_encode, shard_dir
from emovae.codec.sharding import ShardsIncomplete, ShardSpec, consolidate_shards, encode_shard, song_slice
from tests.test_encode_stage import _write_chunks
from tests.torchrun_helpers import PID_LINE, stop, torchrun

SECONDS = 1


@pytest.fixture(scope="module")
def codec():
    return load_codec("random", seed=0)


def _config(root, out: str, seconds: int = SECONDS, **overrides) -> EncodeConfig:
    settings = dict(chunks=root / "processed", out=root / out, chunk_seconds=seconds, shard_size=2, plots=False,
                    threads=1)
    return EncodeConfig(**{**settings, **overrides})


def _outputs(out, seconds: int = SECONDS) -> dict[str, bytes]:
    paths = (formats.latents_path(out, seconds), formats.labels_path(out, seconds), formats.codec_identity_path(out, seconds))
    return {path.name: path.read_bytes() for path in paths}


def test_parts_take_whole_songs_in_table_order_and_balance_chunks():
    songs = [1] * 9 + [2] * 3 + [3] * 3 + [4] * 9 + [5] * 1 + [6] * 5
    table = pd.DataFrame({"chunk_id": [f"c{i}" for i in range(len(songs))], "song_id": songs})
    for count in (1, 2, 3, 7):
        parts = [song_slice(table, ShardSpec(k, count)) for k in range(count)]
        assert pd.concat(parts)["chunk_id"].tolist() == table["chunk_id"].tolist()  # each chunk once, in order
        owners = [{song for song in part["song_id"]} for part in parts]
        assert sum(len(o) for o in owners) == table["song_id"].nunique()  # no song split between parts
    assert [len(song_slice(table, ShardSpec(k, 2))) for k in range(2)] == [15, 15]


@pytest.mark.parametrize("text", ["2/2", "-1/3", "1of3", "1/0", ""])
def test_bad_shard_spec_is_refused_with_the_form_to_use(text):
    with pytest.raises(ValueError, match=re.escape(f"--shard {text!r}: expected K/N")):
        ShardSpec.parse(text)
    assert ShardSpec.parse(" 1 / 3 ") == ShardSpec(1, 3) and str(ShardSpec(1, 3)) == "1/3"


def test_two_parts_consolidated_equal_one_process_byte_for_byte(tmp_path, codec):
    _write_chunks(tmp_path / "processed", {1: 3, 2: 1, 3: 2, 4: 2})
    (formats.chunks_dir(tmp_path / "processed", SECONDS) / "3_001.wav").unlink()  # an issue in part 1
    single = run_encode(_config(tmp_path, "single"), codec=codec)

    first = encode_shard(_config(tmp_path, "sharded"), ShardSpec(0, 2), codec=codec)
    with pytest.raises(ShardsIncomplete, match=r"1 of 2 parts not finished \(1/2: no part_0001_of_0002/done.json\)"):
        consolidate_shards(_config(tmp_path, "sharded"))
    second = encode_shard(_config(tmp_path, "sharded"), ShardSpec(1, 2), codec=codec)
    assert (first.n_chunks, second.n_chunks) == (4, 4) and [i.chunk_id for i in second.issues] == ["3_001"]
    merged = consolidate_shards(_config(tmp_path, "sharded"))

    assert _outputs(tmp_path / "sharded") == _outputs(tmp_path / "single")
    assert merged.n_rows == single.n_rows == 7 and merged.n_encoded == 7
    reports = [json.loads(report_path(tmp_path / out, SECONDS).read_text()) for out in ("single", "sharded")]
    assert reports[0]["issues"] == reports[1]["issues"]
    assert not shard_dir(tmp_path / "sharded", SECONDS).exists()


def test_a_rerun_part_reuses_its_finished_shards(tmp_path, codec, monkeypatch):
    _write_chunks(tmp_path / "processed", {1: 2, 2: 2})
    encode_shard(_config(tmp_path, "out"), ShardSpec(1, 2), codec=codec)
    calls = []
    original = codec.encode
    monkeypatch.setattr(codec, "encode", lambda audio, *a, **k: calls.append(len(audio)) or original(audio, *a, **k))
    again = encode_shard(_config(tmp_path, "out"), ShardSpec(1, 2), codec=codec)
    assert calls == [] and again.n_encoded == 0 and again.n_chunks == 2


def test_consolidate_without_parts_or_with_a_changed_table_names_the_fix(tmp_path, codec):
    _write_chunks(tmp_path / "processed", {1: 1, 2: 1})
    with pytest.raises(FileNotFoundError, match=r"no shard parts found.*--shard K/N"):
        consolidate_shards(_config(tmp_path, "out"))
    for k in range(2):
        encode_shard(_config(tmp_path, "out"), ShardSpec(k, 2), codec=codec)
    _write_chunks(tmp_path / "processed", {1: 1, 2: 1, 9: 1})  # preprocess re-run with a new song
    with pytest.raises(ShardsIncomplete, match=r"metadata.csv: 1 chunks \(e.g. \['9_000'\]\).*run the 2 shards again"):
        consolidate_shards(_config(tmp_path, "out"))


def _run_encode_cli(tmp_path, out: str) -> list[str]:
    return ["pipeline.encode", "--chunks", str(tmp_path / "processed"), "--out", str(tmp_path / out),
            "--encodec-weights", "random", "--no-plots", "--threads", "1"]


def test_torchrun_two_ranks_equal_one_process(tmp_path):
    _write_chunks(tmp_path / "processed", {1: 2, 2: 1, 3: 2}, seconds=5)
    torch.set_num_threads(1)  # the ranks run one thread each; so does the reference (see configure_threads)
    run_encode(_config(tmp_path, "single", seconds=5, threads=1, weights="random"))
    proc = torchrun(_run_encode_cli(tmp_path, "ranks"))
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        stop(proc)
    assert proc.returncode == 0, output
    assert sorted(int(rank) for rank, _ in PID_LINE.findall(output)) == [0, 1]
    assert _outputs(tmp_path / "ranks", 5) == _outputs(tmp_path / "single", 5)


def test_a_killed_rank_fails_the_run_clearly_and_quickly(tmp_path):
    _write_chunks(tmp_path / "processed", {1: 4, 2: 4}, seconds=5)
    proc = torchrun(_run_encode_cli(tmp_path, "ranks") + ["--rank-timeout", "60"])
    lines, pids, started = [], [], time.monotonic()
    try:
        for line in proc.stdout:
            lines.append(line)
            match = PID_LINE.search(line)
            if match:
                pids.append(int(match[2]))
                if match[1] == "1":
                    signal_sent = time.monotonic()
                    os.kill(int(match[2]), signal.SIGKILL)
            assert time.monotonic() - started < 120, "".join(lines)
        proc.wait(timeout=60)
    finally:
        stop(proc, pids)
    output = "".join(lines)
    assert proc.returncode != 0
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", output) and "SIGKILL" in output, output
    assert time.monotonic() - signal_sent < 60  # torchrun tore the run down; nothing waited for its timeout
    assert not formats.latents_path(tmp_path / "ranks", 5).exists()


def test_parts_encode_again_the_chunks_whose_audio_changed(tmp_path, codec):
    """The sharded path of the same regression: a part decided "encoded" by chunk id and reused old latents."""
    from emovae.audio import load_audio, write_wav
    from tests.test_encode_stage import _tone

    _write_chunks(tmp_path / "processed", {1: 2, 2: 2, 3: 2})
    first = run_encode(_config(tmp_path, "sharded"), codec=codec)
    before = np.load(first.latents_path)
    wav = formats.chunks_dir(tmp_path / "processed", SECONDS) / "3_001.wav"
    write_wav(wav, _tone(555.0))
    parts = [encode_shard(_config(tmp_path, "sharded"), ShardSpec(k, 2), codec=codec) for k in range(2)]
    assert [p.n_encoded for p in parts] == [0, 1]
    merged = consolidate_shards(_config(tmp_path, "sharded"))
    assert merged.n_encoded == 1 and merged.n_audio_changed == 1 and merged.n_reused == 5
    after = np.load(merged.latents_path)
    np.testing.assert_allclose(after[5], codec.encode(load_audio(wav))[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(after[:5], before[:5])
    assert run_encode(_config(tmp_path, "sharded"), codec=codec).n_encoded == 0  # the merged stamps hold
