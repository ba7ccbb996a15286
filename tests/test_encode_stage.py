"""The encoding stage on a tiny hand-made chunks folder (1 s chunks keep it fast; the contract is the same)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emovae import formats
from emovae.audio import load_audio, write_wav
from emovae.codec import CodecMismatchError, load_codec
from emovae.codec.encode import EncodeConfig, run_encode, shard_dir

SR = 24_000
SECONDS = 1


@pytest.fixture(scope="module")
def codec():
    return load_codec("random", seed=0)


def _tone(freq: float, seconds: float = SECONDS, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_chunks(root, songs: dict[int, int], seconds: int = SECONDS) -> pd.DataFrame:
    """A preprocess-style folder: ``songs`` maps song id -> number of chunks; returns the metadata table."""
    folder = formats.chunks_dir(root, seconds)
    rows = []
    for song_id, n_chunks in songs.items():
        for index in range(n_chunks):
            cid = formats.chunk_id(song_id, index)
            write_wav(folder / f"{cid}.wav", _tone(110 * song_id + 30 * index, seconds))
            rows.append({"chunk_id": cid, "song_id": song_id, "chunk_index": index, "start_s": index * seconds,
                         "end_s": (index + 1) * seconds, "valence": (song_id % 5) / 5 + 0.1 * index,
                         "arousal": 1 - (song_id % 5) / 5, "label_source": "static", "file": f"{cid}.wav"})
    table = pd.DataFrame(rows, columns=formats.CHUNK_COLUMNS)
    table.to_csv(folder / formats.CHUNK_METADATA_CSV, index=False)
    return table


def _config(tmp_path, **overrides) -> EncodeConfig:
    settings = dict(chunks=tmp_path / "processed", out=tmp_path / "latents", chunk_seconds=SECONDS, shard_size=2,
                    plots=False)
    settings.update(overrides)
    return EncodeConfig(**settings)


def _count_encodes(codec, monkeypatch) -> list[int]:
    """Record the batch size of every call to ``codec.encode``."""
    calls: list[int] = []
    original = codec.encode

    def counting(audio, *args, **kwargs):
        calls.append(len(audio))
        return original(audio, *args, **kwargs)

    monkeypatch.setattr(codec, "encode", counting)
    return calls


def test_outputs_are_row_aligned_with_labels_and_identity(tmp_path, codec):
    metadata = _write_chunks(tmp_path / "processed", {1: 2, 2: 3})
    progress = []
    result = run_encode(_config(tmp_path, plots=True), progress=lambda *a: progress.append(a), codec=codec)

    latents = np.load(result.latents_path, mmap_mode="r")
    labels = pd.read_csv(result.labels_path, dtype={"chunk_id": str})
    assert latents.shape == (5, 128, 75 * SECONDS) and latents.dtype == np.float32
    assert list(labels.columns) == formats.LATENT_COLUMNS
    assert labels["chunk_id"].tolist() == metadata["chunk_id"].tolist()
    assert (labels["codec_id"] == codec.codec_id).all()
    np.testing.assert_allclose(labels["valence"], metadata["valence"])
    for row in (0, 3):  # each latent row is the encoding of the wav its label row names
        wav = load_audio(formats.chunks_dir(tmp_path / "processed", SECONDS) / metadata["file"][row])
        np.testing.assert_allclose(latents[row], codec.encode(wav)[0], rtol=1e-4, atol=1e-5)
    assert json.loads(result.codec_path.read_text()) == codec.identity
    assert progress[-1][:2] == (5, 5) and not shard_dir(result.latents_path.parent, SECONDS).exists()
    html = result.plots[1].read_text()
    assert result.plots[0].stat().st_size > 10_000 and "2_002" in html and "valence" in html


def test_rerun_encodes_nothing_and_new_chunks_only(tmp_path, codec, monkeypatch):
    _write_chunks(tmp_path / "processed", {1: 2, 2: 1})
    first = run_encode(_config(tmp_path), codec=codec)
    before = np.load(first.latents_path)
    mtime = first.latents_path.stat().st_mtime_ns

    calls = _count_encodes(codec, monkeypatch)
    again = run_encode(_config(tmp_path), codec=codec)
    assert calls == [] and again.n_encoded == 0 and again.n_reused == 3
    assert first.latents_path.stat().st_mtime_ns == mtime  # nothing rewritten

    _write_chunks(tmp_path / "processed", {1: 2, 2: 1, 3: 2})  # two new chunks appear
    grown = run_encode(_config(tmp_path), codec=codec)
    assert sum(calls) == 2 and grown.n_encoded == 2 and grown.n_reused == 3
    np.testing.assert_array_equal(np.load(grown.latents_path)[:3], before)


def test_rerun_after_a_label_fix_refreshes_the_labels_without_re_encoding(tmp_path, codec, monkeypatch):
    metadata = _write_chunks(tmp_path / "processed", {1: 2, 2: 1})
    first = run_encode(_config(tmp_path), codec=codec)
    before = np.load(first.latents_path)

    metadata.loc[metadata["song_id"] == 2, ["valence", "arousal"]] = [0.9, 0.05]  # an annotation was fixed
    metadata.loc[metadata["song_id"] == 2, "label_source"] = "dynamic"
    metadata.to_csv(formats.chunks_dir(tmp_path / "processed", SECONDS) / formats.CHUNK_METADATA_CSV, index=False)
    calls = _count_encodes(codec, monkeypatch)
    again = run_encode(_config(tmp_path), codec=codec)

    labels = pd.read_csv(again.labels_path, dtype={"chunk_id": str})
    assert calls == [] and again.labels_refreshed == 1
    np.testing.assert_allclose(labels[["valence", "arousal"]], metadata[["valence", "arousal"]])
    assert labels["label_source"].tolist() == metadata["label_source"].tolist()
    np.testing.assert_array_equal(np.load(again.latents_path), before)  # latents reused, still row-aligned
    assert json.loads(again.report_path.read_text())["labels_refreshed"] == 1
    assert run_encode(_config(tmp_path), codec=codec).labels_refreshed == 0  # nothing changed since


def test_a_crash_keeps_finished_shards_and_the_rerun_finishes_the_rest(tmp_path, codec, monkeypatch):
    _write_chunks(tmp_path / "processed", {1: 3, 2: 2})
    original = codec.encode
    seen = []

    def crash_after_four_chunks(audio, *args, **kwargs):  # whatever the codec's batch size
        seen.append(len(audio))
        if sum(seen) > 4:
            raise KeyboardInterrupt("simulated crash")
        return original(audio, *args, **kwargs)

    monkeypatch.setattr(codec, "encode", crash_after_four_chunks)
    with pytest.raises(KeyboardInterrupt):
        run_encode(_config(tmp_path, shard_size=2), codec=codec)
    shards = shard_dir(tmp_path / "latents", SECONDS)
    assert len(list(shards.glob("shard_*.json"))) == 2  # 4 chunks were safely on disk

    monkeypatch.setattr(codec, "encode", original)
    calls = _count_encodes(codec, monkeypatch)
    result = run_encode(_config(tmp_path), codec=codec)
    assert calls == [1] and result.n_rows == 5 and result.n_encoded == 1
    assert not shards.exists()


def test_output_made_with_another_codec_is_refused(tmp_path, codec):
    _write_chunks(tmp_path / "processed", {1: 1, 2: 1, 3: 1})
    first = run_encode(_config(tmp_path), codec=codec)
    other = load_codec("random", seed=7)
    with pytest.raises(CodecMismatchError) as info:
        run_encode(_config(tmp_path), codec=other)
    assert codec.codec_id in str(info.value) and other.codec_id in str(info.value)
    assert str(first.codec_path) in str(info.value)
    assert json.loads(first.codec_path.read_text())["codec_id"] == codec.codec_id  # untouched


def test_bad_chunks_are_reported_by_name_and_handled(tmp_path, codec):
    _write_chunks(tmp_path / "processed", {1: 5})
    folder = formats.chunks_dir(tmp_path / "processed", SECONDS)
    (folder / "1_000.wav").unlink()  # missing
    write_wav(folder / "1_001.wav", _tone(200, seconds=0.4))  # too short
    write_wav(folder / "1_002.wav", np.zeros(SR, np.float32))  # silent
    sf.write(folder / "1_003.wav", _tone(200, sr=16_000), 16_000)  # wrong sample rate

    result = run_encode(_config(tmp_path), codec=codec)
    found = {(i.chunk_id, i.problem, i.action) for i in result.issues}
    assert found == {("1_000", "missing", "skipped"), ("1_001", "short", "padded"),
                     ("1_002", "silent", "skipped"), ("1_003", "resampled", "resampled")}
    assert any(i.file.endswith("1_000.wav") for i in result.issues)
    labels = pd.read_csv(result.labels_path, dtype={"chunk_id": str})
    assert labels["chunk_id"].tolist() == ["1_001", "1_003", "1_004"]
    report = json.loads(result.report_path.read_text())
    assert {i["chunk_id"] for i in report["issues"]} == {"1_000", "1_001", "1_002", "1_003"}

    kept = run_encode(_config(tmp_path, keep_silent=True), codec=codec)  # opt in: silent chunk now encoded
    assert pd.read_csv(kept.labels_path, dtype={"chunk_id": str})["chunk_id"].tolist() == ["1_001", "1_002", "1_003", "1_004"]


def test_missing_chunk_table_says_which_stage_to_run(tmp_path, codec):
    with pytest.raises(FileNotFoundError, match="pipeline.preprocess"):
        run_encode(_config(tmp_path), codec=codec)


def test_cli_encodes_with_explicit_random_weights(tmp_path, capsys):
    from pipeline.encode import main

    _write_chunks(tmp_path / "processed", {4: 2}, seconds=5)  # the CLI offers the product's 5 s / 10 s only
    args = ["--chunks", str(tmp_path / "processed"), "--out", str(tmp_path / "latents"), "--encodec-weights", "random"]
    assert main(args + ["--chunk-seconds", "10"]) == 2
    assert "chunks_10s" in capsys.readouterr().err  # only 5 s chunks exist: the error names what is missing

    assert main(args + ["--chunk-seconds", "5", "--no-plots"]) == 0
    assert "random-s0-" in capsys.readouterr().out
    assert np.load(formats.latents_path(tmp_path / "latents", 5), mmap_mode="r").shape == (2, 128, 375)

    table = formats.chunks_dir(tmp_path / "processed", 5) / formats.CHUNK_METADATA_CSV
    pd.read_csv(table).assign(valence=0.5).to_csv(table, index=False)
    assert main(args + ["--chunk-seconds", "5", "--no-plots"]) == 0
    assert "labels refreshed: 2 chunks" in capsys.readouterr().out


def test_a_resumed_run_in_another_precision_is_refused(tmp_path, codec):
    """Regression: ``--precision bf16`` on a folder of fp32 latents used to append bf16 rows to the fp32 table
    (same codec identity), mixing two precisions whose latents differ by ~5e-3 relative L2."""
    import dataclasses

    _write_chunks(tmp_path / "processed", {1: 1, 2: 1})
    first = run_encode(_config(tmp_path), codec=codec)
    _write_chunks(tmp_path / "processed", {1: 1, 2: 1, 3: 1})  # a new song arrives; the resume would encode it
    with pytest.raises(ValueError, match="encoded in fp32, these in bf16"):
        run_encode(_config(tmp_path), codec=dataclasses.replace(codec, precision="bf16"))
    assert "precision" not in json.loads(first.codec_path.read_text())  # fp32 output untouched, identity unchanged
    bf16_out = run_encode(_config(tmp_path, out=tmp_path / "bf16"), codec=dataclasses.replace(codec, precision="bf16"))
    assert json.loads(bf16_out.codec_path.read_text())["precision"] == "bf16"


def test_a_chunk_whose_audio_changed_under_the_same_id_is_encoded_again(tmp_path, codec, monkeypatch):
    """Regression: "already encoded" was decided by chunk id alone, so after the demo songs were regenerated
    and preprocess re-chunked them (same ids, new audio) every old latent was reused (report: reused 369)."""
    _write_chunks(tmp_path / "processed", {1: 2, 2: 2})
    first = run_encode(_config(tmp_path), codec=codec)
    before = np.load(first.latents_path)
    folder = formats.chunks_dir(tmp_path / "processed", SECONDS)
    new_audio = _tone(777.0)
    write_wav(folder / "2_000.wav", new_audio)  # the same chunk id, other music

    calls = _count_encodes(codec, monkeypatch)
    again = run_encode(_config(tmp_path), codec=codec)
    assert sum(calls) == 1 and again.n_encoded == 1 and again.n_reused == 3 and again.n_audio_changed == 1
    after = np.load(again.latents_path)
    labels = pd.read_csv(again.labels_path, dtype={"chunk_id": str})["chunk_id"].tolist()
    row = labels.index("2_000")
    np.testing.assert_allclose(after[row], codec.encode(load_audio(folder / "2_000.wav"))[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(after[row], before[row])
    others = [i for i in range(len(labels)) if i != row]
    np.testing.assert_array_equal(after[others], before[others])  # the rest reused, row-aligned
    assert json.loads(again.report_path.read_text())["reencoded_audio_changed"] == 1

    calls.clear()
    third = run_encode(_config(tmp_path), codec=codec)
    assert calls == [] and third.n_encoded == 0 and third.n_audio_changed == 0  # stamped now: reused


def test_identical_audio_rewritten_or_copied_is_not_encoded_again(tmp_path, codec, monkeypatch):
    """A new mtime alone (a copied folder, the same bytes written again) is not a change: the digest decides."""
    import shutil

    _write_chunks(tmp_path / "processed", {1: 2})
    run_encode(_config(tmp_path), codec=codec)
    shutil.copytree(tmp_path / "processed", tmp_path / "copy")  # copytree keeps mtimes: write them anew
    for wav in formats.chunks_dir(tmp_path / "copy", SECONDS).glob("*.wav"):
        wav.write_bytes(wav.read_bytes())
        os.utime(wav, ns=(wav.stat().st_atime_ns, wav.stat().st_mtime_ns + 10**9))
    calls = _count_encodes(codec, monkeypatch)
    again = run_encode(_config(tmp_path, chunks=tmp_path / "copy"), codec=codec)
    assert calls == [] and again.n_encoded == 0 and again.n_reused == 2


def test_latents_written_before_audio_stamps_are_encoded_again_once(tmp_path, codec, monkeypatch):
    """Outputs of older versions say nothing about the audio they came from: trusting them is how a re-chunked
    dataset kept its old latents, so they are encoded again (once; then they carry stamps)."""
    from emovae.codec.encode import stamps_path

    _write_chunks(tmp_path / "processed", {1: 2, 2: 1})
    first = run_encode(_config(tmp_path), codec=codec)
    stamps_path(tmp_path / "latents", SECONDS).unlink()  # as an older version left it
    calls = _count_encodes(codec, monkeypatch)
    again = run_encode(_config(tmp_path), codec=codec)
    assert sum(calls) == 3 and again.n_unstamped == 3 and again.n_audio_changed == 0
    assert json.loads(again.report_path.read_text())["reencoded_unstamped"] == 3
    np.testing.assert_allclose(np.load(again.latents_path), np.load(first.latents_path), rtol=1e-4, atol=1e-5)
    calls.clear()
    assert run_encode(_config(tmp_path), codec=codec).n_encoded == 0 and calls == []


def test_a_changed_chunk_that_now_fails_to_load_drops_its_old_latent(tmp_path, codec):
    """A chunk whose new audio is skipped (here: silent) must not keep the latent of its old audio."""
    _write_chunks(tmp_path / "processed", {1: 3})
    run_encode(_config(tmp_path), codec=codec)
    write_wav(formats.chunks_dir(tmp_path / "processed", SECONDS) / "1_001.wav", np.zeros(SR, np.float32))
    again = run_encode(_config(tmp_path), codec=codec)
    assert pd.read_csv(again.labels_path, dtype={"chunk_id": str})["chunk_id"].tolist() == ["1_000", "1_002"]
    assert np.load(again.latents_path).shape[0] == 2
    assert {(i.chunk_id, i.problem, i.action) for i in again.issues} == {("1_001", "silent", "skipped")}


def test_a_deleted_wav_keeps_its_latent_and_says_so(tmp_path, codec):
    _write_chunks(tmp_path / "processed", {1: 2})
    first = run_encode(_config(tmp_path), codec=codec)
    (formats.chunks_dir(tmp_path / "processed", SECONDS) / "1_001.wav").unlink()
    again = run_encode(_config(tmp_path), codec=codec)
    np.testing.assert_array_equal(np.load(again.latents_path), np.load(first.latents_path))
    assert [(i.chunk_id, i.problem, i.action) for i in again.issues] == [("1_001", "missing", "kept")]
