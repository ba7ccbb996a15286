"""Preprocessing stage on a tiny demo dataset: CLI end to end, round trip, resume, bad input, interrupts."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import emovae.data.preprocess as stage
from emovae import formats
from emovae.audio import SAMPLE_RATE, load_audio
from emovae.data.demo import make_demo_dataset, plan_demo_songs
from emovae.data.preprocess import PreprocessConfig, run_preprocess
from emovae.data.run_lock import RunLockedError
from pipeline.preprocess import main

REPO = Path(__file__).resolve().parents[1]
N_SONGS, SECONDS = 4, 20.0  # the demo makes one of the four a longer "full song" (id > 2000)


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("demo"), n_songs=N_SONGS, seconds=SECONDS, seed=0, workers=1)


@pytest.fixture
def demo(tmp_path, demo_source) -> Path:
    """A private copy, so a test may corrupt or delete files."""
    return Path(shutil.copytree(demo_source, tmp_path / "deam"))


def _config(data: Path, out: Path, **overrides) -> PreprocessConfig:
    settings = {"workers": 1, "make_plots": False, "show_progress": False} | overrides
    return PreprocessConfig(data, out, **settings)


def _count_decodes(monkeypatch) -> list[Path]:
    calls: list[Path] = []

    def counting_load(path, *args, **kwargs):
        calls.append(Path(path))
        return load_audio(path, *args, **kwargs)

    monkeypatch.setattr(stage, "load_audio", counting_load)
    return calls


def _mp3(root: Path, song_id: int) -> Path:
    return root / "MEMD_audio" / f"{song_id}.mp3"


def test_cli_end_to_end_writes_exact_chunks_tables_and_plots(demo, tmp_path):
    out = tmp_path / "processed"
    assert main(["--data", str(demo), "--out", str(out), "--chunk-seconds", "5", "10", "--workers", "2"]) == 0

    songs = {song.song_id: song for song in plan_demo_songs(N_SONGS, SECONDS, seed=0)}
    for seconds in (5, 10):
        folder = formats.chunks_dir(out, seconds)
        table = pd.read_csv(folder / formats.CHUNK_METADATA_CSV)
        assert list(table.columns) == formats.CHUNK_COLUMNS
        expected_counts = {song_id: int(song.seconds // seconds) for song_id, song in songs.items()}
        assert table.groupby("song_id").size().to_dict() == expected_counts
        assert table["chunk_id"].is_unique
        assert ((table.end_s - table.start_s) == seconds).all() and table[["valence", "arousal"]].stack().between(
            0, 1
        ).all()
        # a window gets dynamic labels exactly when it reaches into the annotated part (>= 15 s)
        assert ((table.end_s > 15.0) == (table.label_source == "dynamic")).all()
        for row in table.itertuples():
            info = sf.info(folder / row.file)
            assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, seconds * SAMPLE_RATE)
        meta = json.loads((folder / formats.CHUNK_METADATA_JSON).read_text())
        assert pd.DataFrame(meta["rows"])[formats.CHUNK_COLUMNS].equals(table)
        assert meta["settings"]["chunk_seconds"] == seconds and meta["skipped"] == []

    # the second 5 s chunk of a song is that stretch of the decoded, resampled song (16-bit rounding aside)
    first = min(songs)
    chunk, _ = sf.read(formats.chunks_dir(out, 5) / f"{formats.chunk_id(first, 1)}.wav", dtype="float32")
    np.testing.assert_allclose(chunk, load_audio(_mp3(demo, first))[5 * SAMPLE_RATE : 10 * SAMPLE_RATE], atol=1e-4)

    for name in ("va_static.png", "va_chunks_5s.png", "va_histograms_5s.png", "va_chunks_10s.png"):
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "chunk_id" in (out / "plots" / "va_chunks_5s.html").read_text()


def test_demo_round_trip_labels_match_the_planned_emotion_curves(demo, tmp_path):
    result = run_preprocess(_config(demo, tmp_path / "out", chunk_seconds=(5,)))
    table = pd.read_csv(result.chunk_sets[5].metadata_csv)
    songs = {song.song_id: song for song in plan_demo_songs(N_SONGS, SECONDS, seed=0)}
    for row in table.itertuples():
        song = songs[row.song_id]
        if row.label_source == "static":
            expected = (np.mean(song.valence), np.mean(song.arousal))
            tolerance = 0.005 / 8 + 1e-9  # the static CSV rounds to 2 decimals on the 1..9 scale
        else:
            times = song.dynamic_times()
            valence, arousal = song.at(times[(times >= row.start_s) & (times < row.end_s)])
            expected, tolerance = (valence.mean(), arousal.mean()), 1e-4
        assert row.valence == pytest.approx(expected[0], abs=tolerance)
        assert row.arousal == pytest.approx(expected[1], abs=tolerance)
    assert set(table.label_source) == {"static", "dynamic"}


def test_rerun_skips_finished_songs_and_redoes_only_what_changed(demo, tmp_path, monkeypatch):
    out = tmp_path / "out"
    decodes = _count_decodes(monkeypatch)
    first = run_preprocess(_config(demo, out))
    assert len(decodes) == N_SONGS and first.songs_processed == N_SONGS
    wavs = sorted(formats.chunks_dir(out, 5).glob("*.wav"))
    mtimes = {path: path.stat().st_mtime_ns for path in wavs}

    decodes.clear()
    progress = []
    again = run_preprocess(_config(demo, out), progress=lambda done, total, message: progress.append((done, total)))
    assert decodes == [] and (again.songs_processed, again.songs_resumed) == (0, N_SONGS)
    assert {path: path.stat().st_mtime_ns for path in wavs} == mtimes
    assert again.chunk_sets[5].n_chunks == first.chunk_sets[5].n_chunks
    assert progress[-1] == (N_SONGS, N_SONGS)

    # a replaced MP3 and a deleted chunk each cause exactly their own song to be redone
    songs = sorted(pd.read_csv(first.chunk_sets[5].metadata_csv).song_id.unique())
    shutil.copy(_mp3(demo, songs[1]), _mp3(demo, songs[0]))
    (formats.chunks_dir(out, 5) / f"{formats.chunk_id(songs[2], 0)}.wav").unlink()
    decodes.clear()
    third = run_preprocess(_config(demo, out))
    assert sorted(decodes) == sorted([_mp3(demo, songs[0]), _mp3(demo, songs[2])])
    assert third.songs_processed == 2 and third.songs_resumed == N_SONGS - 2

    # asking for another chunk length decodes each song once more, leaving the 5 s chunks alone
    before = {path: path.stat().st_mtime_ns for path in formats.chunks_dir(out, 5).glob("*.wav")}
    decodes.clear()
    fourth = run_preprocess(_config(demo, out, chunk_seconds=(5, 10)))
    assert len(decodes) == N_SONGS and fourth.chunk_sets[10].n_chunks > 0
    assert {path: path.stat().st_mtime_ns for path in formats.chunks_dir(out, 5).glob("*.wav")} == before


def test_corrupt_missing_and_unannotated_songs_are_skipped_and_reported(demo, tmp_path, capsys):
    ids = sorted(int(p.stem) for p in (demo / "MEMD_audio").glob("*.mp3"))
    corrupt, missing, good = ids[0], ids[1], ids[2:]
    _mp3(demo, corrupt).write_bytes(b"ID3 this is not really an mp3" * 50)
    _mp3(demo, missing).unlink()
    shutil.copy(_mp3(demo, good[0]), _mp3(demo, 1999))  # audio nobody annotated
    out = tmp_path / "out"

    assert main(["--data", str(demo), "--out", str(out), "--workers", "1", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(formats.chunks_dir(out, 5) / formats.CHUNK_METADATA_CSV)
    assert sorted(table.song_id.unique()) == good
    reasons = {
        item["song_id"]: item["reason"]
        for item in json.loads((formats.chunks_dir(out, 5) / "metadata.json").read_text())["skipped"]
    }
    assert set(reasons) == {corrupt, missing, 1999}
    assert f"{corrupt}.mp3" in reasons[corrupt] and "corrupt or not audio" in reasons[corrupt]
    assert "possibly a pipe" not in reasons[corrupt]  # libsndfile's misleading words for an unknown format
    assert f"{missing}.mp3" in reasons[missing] and "not found" in reasons[missing]
    assert "no static or dynamic annotation" in reasons[1999]
    assert all(f"song {song_id}" in printed for song_id in reasons)


def test_nothing_processable_exits_non_zero_with_the_files_named(demo, tmp_path):
    for mp3 in (demo / "MEMD_audio").glob("*.mp3"):
        mp3.write_bytes(b"\x00garbage" * 100)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.preprocess",
            "--data",
            str(demo),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert "no chunk could be produced" in run.stderr
    assert all(f"{mp3.name}" in run.stdout for mp3 in (demo / "MEMD_audio").glob("*.mp3"))


def test_bad_root_and_bad_options_exit_2_with_a_message(tmp_path, capsys):
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "static_annotations_averaged_songs_1_2000.csv" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--chunk-seconds", "0"]) == 2
    assert "chunk_seconds" in capsys.readouterr().err


def test_interrupted_run_leaves_no_partial_wav_and_resumes(demo, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_write = sf.write
    writes = []

    def dying_write(file, data, *args, **kwargs):
        writes.append(file)
        if len(writes) == 3:  # half of the third chunk reaches the disk, then Ctrl-C
            real_write(file, data[: len(data) // 2], *args, **kwargs)
            raise KeyboardInterrupt
        return real_write(file, data, *args, **kwargs)

    monkeypatch.setattr(sf, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_preprocess(_config(demo, out))
    folder = formats.chunks_dir(out, 5)
    survivors = sorted(folder.glob("*.wav"))
    assert len(survivors) == 2 and all(sf.info(p).frames == 5 * SAMPLE_RATE for p in survivors)
    assert list(folder.rglob("*.tmp")) == [] and list(folder.rglob("*.json")) == []

    monkeypatch.setattr(sf, "write", real_write)
    result = run_preprocess(_config(demo, out))
    assert result.songs_processed == N_SONGS  # the interrupted song had no record, so it is redone
    table = pd.read_csv(result.chunk_sets[5].metadata_csv)
    assert all(sf.info(folder / f).frames == 5 * SAMPLE_RATE for f in table.file)


_HANGING_RUN = """
import multiprocessing, sys, time
import emovae.data.preprocess as stage

def hang(*args, **kwargs):  # runs in the main process while the pool's workers are alive
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(600)

if __name__ == "__main__":
    stage.build_chunk_table = hang
    stage.run_preprocess(stage.PreprocessConfig(sys.argv[1], sys.argv[2], workers=2, make_plots=False,
                                                show_progress=False))
"""


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(") ", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")  # a zombie has exited
    except (FileNotFoundError, ProcessLookupError, IndexError):  # ESRCH: reaped between the open and the read
        return True


def test_a_process_reaped_while_its_stat_is_read_counts_as_gone(monkeypatch):
    """Regression: the kernel answers ESRCH (ProcessLookupError, not FileNotFoundError) when the process goes
    between opening /proc/PID/stat and reading it; the SIGKILL test below failed on that race once in CI."""
    def reaped(self, *args, **kwargs):
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(Path, "read_text", reaped)
    assert _gone(123456)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc (Linux)")
def test_sigkilled_run_takes_its_workers_with_it_and_a_concurrent_run_is_refused(demo, tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "hanging_run.py"
    script.write_text(_HANGING_RUN)
    run = subprocess.Popen([sys.executable, str(script), str(demo), str(out)], cwd=REPO, stdout=subprocess.PIPE,
                           text=True, env=os.environ | {"PYTHONPATH": str(REPO)})
    pool: list[int] = []  # workers, fork server, resource tracker
    try:
        pool = [int(pid) for pid in run.stdout.readline().split()]
        assert len(pool) == 2, "the run did not start its two workers"
        pool += _children(run.pid)  # the fork server and the resource tracker: they must go too
        assert len(pool) == 4, pool
        with pytest.raises(RunLockedError, match=f"another preprocess run \\(pid {run.pid}"):
            run_preprocess(_config(demo, out))  # a second run while the first still writes
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not all(map(_gone, pool)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in pool if not _gone(pid)] == []  # they used to live on (~800 MB) and keep writing
    finally:
        for pid in [run.pid, *pool]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        run.wait(timeout=10)
    assert run_preprocess(_config(demo, out)).ok  # the dead run's lock is gone with it


def test_a_run_waits_while_an_earlier_runs_workers_still_write(demo, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".preprocess.workers.lock", "w") as orphan:  # what a surviving worker of a killed run holds
        fcntl.flock(orphan, fcntl.LOCK_SH)
        with pytest.raises(RunLockedError, match="worker processes of an earlier preprocess run"):
            run_preprocess(_config(demo, out))
        assert main(["--data", str(demo), "--out", str(out), "--workers", "1", "--no-plots"]) == 2
    assert run_preprocess(_config(demo, out)).ok


def test_a_missing_dynamic_file_is_warned_about_by_name_and_count(demo, tmp_path, capsys):
    arousal = next(demo.rglob("arousal.csv"))
    valence = next(demo.rglob("valence.csv"))
    rated = len(valence.read_text().splitlines()) - 1
    arousal.unlink()
    out = tmp_path / "out"
    assert main(["--data", str(demo), "--out", str(out), "--workers", "1", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert f"warning: arousal.csv not found (looked for {arousal})" in printed
    assert f"the per-second ratings of {rated} song(s) cannot be used" in printed
    meta = json.loads((formats.chunks_dir(out, 5) / "metadata.json").read_text())
    assert len(meta["warnings"]) == 1 and "arousal.csv" in meta["warnings"][0]
    assert meta["counts"]["label_sources"] == {"static": meta["counts"]["chunks"]}  # what the warning explains


def test_a_rerun_removes_temporary_files_a_killed_run_left_in_plots(demo, tmp_path):
    out = tmp_path / "out"
    stale = out / "plots" / ".va_static.png.k1ll3d.png.tmp"  # what atomic_path leaves when SIGKILLed mid-write
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a png")
    assert run_preprocess(_config(demo, out)).ok
    assert not stale.exists()


def test_label_choices_are_recorded_and_the_calibrated_fallback_moves_only_static_chunks(demo, tmp_path):
    raw = run_preprocess(_config(demo, tmp_path / "raw"))
    meta = json.loads(raw.chunk_sets[5].metadata_json.read_text())["labels"]
    assert (meta["label_shift_s"], meta["static_fallback"]) == (0.0, "raw")
    assert meta["static_offset_applied"] == {"valence": 0.0, "arousal": 0.0}
    offsets = meta["static_vs_dynamic_offset"]
    assert offsets["songs"] == N_SONGS and offsets["valence"]["mean_abs"] >= abs(offsets["valence"]["mean"])

    calibrated = run_preprocess(_config(demo, tmp_path / "calibrated", static_fallback="calibrated"))
    before, after = (pd.read_csv(r.chunk_sets[5].metadata_csv) for r in (raw, calibrated))
    static = before.label_source == "static"
    assert static.any() and (~static).any()
    pd.testing.assert_frame_equal(before[~static], after[~static])
    shift = np.clip(before.loc[static, "valence"] + offsets["valence"]["mean"], 0, 1)
    np.testing.assert_allclose(after.loc[static, "valence"], shift)
    recorded = json.loads(calibrated.chunk_sets[5].metadata_json.read_text())["labels"]
    assert recorded["static_fallback"] == "calibrated"
    assert recorded["static_offset_applied"]["valence"] == pytest.approx(offsets["valence"]["mean"])


def test_config_rejects_meaningless_settings(tmp_path):
    with pytest.raises(ValueError, match="chunk_seconds"):
        PreprocessConfig(tmp_path, chunk_seconds=())
    with pytest.raises(ValueError, match="workers"):
        PreprocessConfig(tmp_path, workers=0)
    assert PreprocessConfig(tmp_path, chunk_seconds=(10, 5, 5)).chunk_seconds == (5, 10)
    with pytest.raises(ValueError, match=r"label_shift_s=-1 .*\[0, 10\]"):
        PreprocessConfig(tmp_path, label_shift_s=-1)
    with pytest.raises(ValueError, match="static_fallback='smart'"):
        PreprocessConfig(tmp_path, static_fallback="smart")


def test_short_songs_unlabelled_windows_and_bad_csv_rows_reach_the_report(demo, tmp_path):
    static_csv = next((demo / "annotations").rglob("static_annotations_averaged_songs_1_2000.csv"))
    lines = static_csv.read_text().splitlines()
    dynamic_only = int(lines[1].split(",")[0])  # drop its static label: its first 15 s get no label
    static_csv.write_text("\n".join([lines[0], *lines[2:], "77,oops,1,5,1"]) + "\n")

    result = run_preprocess(_config(demo, tmp_path / "out", chunk_seconds=(5, 25)))
    assert result.ok
    five = pd.read_csv(result.chunk_sets[5].metadata_csv)
    assert set(five[five.song_id == dynamic_only].start_s) == {15.0}  # only its annotated window survives
    by_song = {(item.song_id, item.chunk_seconds): item.reason for item in result.skipped}
    assert "3 chunk(s) left out" in by_song[(dynamic_only, 5)]
    short = [song for song in plan_demo_songs(N_SONGS, SECONDS, seed=0) if song.seconds < 25]
    assert all("shorter than one 25 s chunk" in by_song[(song.song_id, 25)] for song in short)
    assert result.chunk_sets[25].n_songs == N_SONGS - len(short)
    meta = json.loads(result.chunk_sets[5].metadata_json.read_text())
    assert any("line" in issue and "'oops'" in issue for issue in meta["annotation_issues"])


def test_flat_folder_gives_the_same_chunks_as_the_nested_layout(demo, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for file in demo.rglob("*"):
        if file.suffix in {".csv", ".mp3"}:
            shutil.copy(file, flat / file.name)
    nested = run_preprocess(_config(demo, tmp_path / "nested_out"))
    flattened = run_preprocess(_config(flat, tmp_path / "flat_out"))
    assert flattened.songs_processed == N_SONGS
    pd.testing.assert_frame_equal(
        pd.read_csv(nested.chunk_sets[5].metadata_csv), pd.read_csv(flattened.chunk_sets[5].metadata_csv)
    )
