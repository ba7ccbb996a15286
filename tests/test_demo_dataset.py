"""The demo dataset: exact DEAM layout and formatting, moving labels, determinism, resume."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emovae.data import demo
from emovae.data.demo import make_demo_dataset, plan_demo_songs, write_annotations
from pipeline import make_demo as make_demo_cli

GENUINE = Path(__file__).resolve().parents[2] / "shared" / "deam-annotations"
N_SONGS, SECONDS = 4, 17.0  # 3 excerpts of 17 s (4 dynamic samples) + 1 "full song" of 22.7 s (16 samples)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    calls = []
    root = make_demo_dataset(tmp_path_factory.mktemp("demo"), n_songs=N_SONGS, seconds=SECONDS, seed=3,
                             progress=lambda *args: calls.append(args))
    assert calls[-1][:2] == (N_SONGS, N_SONGS) and [c[0] for c in calls] == sorted(c[0] for c in calls)
    return root


def _read(root: Path, relative: Path) -> pd.DataFrame:
    return pd.read_csv(root / relative)


def test_layout_holds_the_official_nested_paths(dataset):
    songs = plan_demo_songs(N_SONGS, SECONDS, seed=3)
    for relative in (demo.STATIC_EXCERPTS, demo.STATIC_FULL_SONGS, demo.DYNAMIC_DIR / "arousal.csv", demo.DYNAMIC_DIR / "valence.csv"):
        assert (dataset / relative).is_file(), relative
    assert sorted(int(p.stem) for p in (dataset / "MEMD_audio").glob("*.mp3")) == sorted(s.song_id for s in songs)
    assert str(demo.STATIC_EXCERPTS).startswith("annotations/annotations averaged per song/song_level/")
    assert str(demo.DYNAMIC_DIR) == "annotations/annotations averaged per song/dynamic (per second annotations)"


def test_static_files_match_the_genuine_headers_line_endings_and_number_format(dataset):
    for relative, header in ((demo.STATIC_EXCERPTS, demo.STATIC_EXCERPTS_HEADER), (demo.STATIC_FULL_SONGS, demo.STATIC_FULL_SONGS_HEADER)):
        raw = (dataset / relative).read_bytes()
        genuine = GENUINE / relative.name
        if genuine.is_file():  # the lead keeps the genuine DEAM static files beside the repository
            assert header.encode() + b"\r\n" == genuine.read_bytes().split(b"\n", 1)[0] + b"\n"
        lines = raw.decode().split("\r\n")
        assert lines[0] == header and lines[-1] == "" and "\n" not in raw.decode().replace("\r\n", "")
    excerpt_rows = (dataset / demo.STATIC_EXCERPTS).read_text().splitlines()[1:]
    assert all(re.fullmatch(r"\d+(,\d+(\.\d{1,2})?){4}", row) for row in excerpt_rows)  # "3", "3.1", "1.75"
    full_rows = (dataset / demo.STATIC_FULL_SONGS).read_text().splitlines()[1:]
    assert len(full_rows) == 1 and all(re.fullmatch(r"\d+(,\d+\.\d{1,2}){12}", row) for row in full_rows)  # "5.0"


def test_static_values_are_song_means_on_the_1_to_9_scale(dataset):
    excerpts, full = _read(dataset, demo.STATIC_EXCERPTS), _read(dataset, demo.STATIC_FULL_SONGS)
    assert list(full.columns)[3] == " valence_ max_mean"
    assert excerpts["song_id"].between(1, 2000).all() and full["song_id"].between(2001, 2058).all()
    for table in (excerpts, full):
        values = table.drop(columns="song_id")
        assert values.notna().all().all() and values.min().min() >= 0 and values.max().max() <= 9
        assert table[" valence_mean"].between(1, 9).all() and table[" arousal_mean"].between(1, 9).all()
    assert (full[" valence_min_mean"] <= full[" valence_mean"]).all() and (full[" valence_mean"] <= full[" valence_ max_mean"]).all()
    songs = {s.song_id: s for s in plan_demo_songs(N_SONGS, SECONDS, seed=3)}
    for row in excerpts.itertuples(index=False):
        assert row[1] == pytest.approx(1 + 8 * np.mean(songs[row[0]].valence), abs=0.006)


def test_dynamic_files_sample_every_500ms_from_15s_on_minus1_to_1_with_nan_padding(dataset):
    arousal, valence = _read(dataset, demo.DYNAMIC_DIR / "arousal.csv"), _read(dataset, demo.DYNAMIC_DIR / "valence.csv")
    assert list(arousal.columns) == list(valence.columns)
    assert list(arousal.columns[:3]) == ["song_id", "sample_15000ms", "sample_15500ms"]
    assert arousal.columns[-1] == "sample_22500ms"  # the 22.7 s full song: 15.0 .. 22.5 s
    for table in (arousal, valence):
        values = table.drop(columns="song_id").to_numpy(float)
        finite = values[np.isfinite(values)]
        assert finite.min() >= -1 and finite.max() <= 1
        counts = np.isfinite(values).sum(axis=1)
        assert sorted(counts.tolist()) == [4, 4, 4, 16]  # excerpts are NaN-padded to the longest row
        assert all(np.isfinite(row[:n]).all() and np.isnan(row[n:]).all() for row, n in zip(values, counts))


def test_labels_move_over_time_and_cover_the_emotion_square():
    songs = plan_demo_songs(40, 45.0, seed=0)
    for song in songs:
        dynamic = song.at(song.dynamic_times())[1]
        assert np.ptp(song.valence) > 0.03 and np.ptp(song.arousal) > 0.03
        assert np.max(np.abs(np.diff(dynamic))) < 0.05  # smooth: no jumps between 500 ms samples
    means = np.array([[np.mean(s.valence), np.mean(s.arousal)] for s in songs])
    quadrants = np.bincount((means[:, 0] >= 0.5) * 2 + (means[:, 1] >= 0.5), minlength=4)
    assert quadrants.min() >= 6, quadrants
    full = [s for s in songs if s.song_id > 2000]
    assert 2 <= len(full) <= 3 and all(s.seconds > 45.0 for s in full)


def test_audio_is_44k1_stereo_mp3_of_the_planned_length(dataset):
    for song in plan_demo_songs(N_SONGS, SECONDS, seed=3):
        info = sf.info(dataset / "MEMD_audio" / f"{song.song_id}.mp3")
        assert info.samplerate == 44_100 and info.channels == 2
        assert info.duration == pytest.approx(song.seconds, abs=0.1)


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    songs = plan_demo_songs(6, 30.0, seed=1)
    write_annotations(tmp_path / "a", songs)
    write_annotations(tmp_path / "b", plan_demo_songs(6, 30.0, seed=1))
    write_annotations(tmp_path / "c", plan_demo_songs(6, 30.0, seed=2))
    for relative in (demo.STATIC_EXCERPTS, demo.DYNAMIC_DIR / "valence.csv"):
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
        assert (tmp_path / "a" / relative).read_bytes() != (tmp_path / "c" / relative).read_bytes()
    short = plan_demo_songs(1, 2.0, seed=5)[0]
    np.testing.assert_array_equal(demo.render_song(short, 8000), demo.render_song(short, 8000))


def test_rerun_resumes_without_rewriting_songs(dataset):
    before = {p.name: p.stat().st_mtime_ns for p in (dataset / "MEMD_audio").glob("*.mp3")}
    calls = []
    make_demo_dataset(dataset, n_songs=N_SONGS, seconds=SECONDS, seed=3, progress=lambda *a: calls.append(a))
    assert calls == [(N_SONGS, N_SONGS, f"{N_SONGS} of {N_SONGS} songs already generated")]
    assert {p.name: p.stat().st_mtime_ns for p in (dataset / "MEMD_audio").glob("*.mp3")} == before


def test_a_changed_music_engine_regenerates_the_songs(tmp_path, monkeypatch):
    """Regression: the manifest keyed the songs on a hand-bumped version, so a rebuild after an engine
    change reused the old engine's songs and trained the bundle on them."""
    kwargs = dict(n_songs=1, seconds=3.0, seed=4)
    make_demo_dataset(tmp_path, **kwargs)
    mp3 = next((tmp_path / "MEMD_audio").glob("*.mp3"))
    first = mp3.stat().st_mtime_ns
    make_demo_dataset(tmp_path, **kwargs)
    assert mp3.stat().st_mtime_ns == first  # same engine: resumed
    monkeypatch.setattr(demo, "source_fingerprint", lambda: "another-engine")
    calls = []
    make_demo_dataset(tmp_path, progress=lambda *a: calls.append(a), **kwargs)
    assert calls[0][2] == "0 of 1 songs already generated"
    assert mp3.stat().st_mtime_ns != first


def test_a_changed_plan_regenerates_the_songs(tmp_path, monkeypatch):
    """Regression: the manifest keyed the songs on the engine and the plan's arguments only, so songs planned
    by other code (the corners-first targets) under the same ids and arguments were reused as they were."""
    kwargs = dict(n_songs=1, seconds=3.0, seed=4)
    make_demo_dataset(tmp_path, **kwargs)
    mp3 = next((tmp_path / "MEMD_audio").glob("*.mp3"))
    first = mp3.stat().st_mtime_ns
    monkeypatch.setattr(demo, "_spread_targets", lambda n, rng: np.full((n, 2), 0.5))
    calls = []
    make_demo_dataset(tmp_path, progress=lambda *a: calls.append(a), **kwargs)
    assert calls[0][2] == "0 of 1 songs already generated"
    assert mp3.stat().st_mtime_ns != first


def test_the_corners_always_have_a_song():
    """The presets sit at the corners; a random draw of cells left the 40-song bundle without a calm-happy song."""
    for seed in range(5):
        means = np.array([[np.mean(s.valence), np.mean(s.arousal)] for s in plan_demo_songs(40, 45.0, seed=seed)])
        for v, a in ((0, 0), (0, 1), (1, 0), (1, 1)):
            near = (np.abs(means[:, 0] - v) < 0.2) & (np.abs(means[:, 1] - a) < 0.2)
            assert near.any(), (seed, v, a)


def test_cli_reports_the_dataset(dataset, capsys):
    assert make_demo_cli.main(["--out", str(dataset), "--songs", str(N_SONGS), "--seconds", str(SECONDS), "--seed", "3"]) == 0
    assert f"{N_SONGS} songs" in capsys.readouterr().out
    assert make_demo_cli.main(["--out", str(dataset), "--songs", "0"]) == 2
    assert "n_songs" in capsys.readouterr().err


def test_round_trip_through_the_deam_loader(dataset):
    deam = pytest.importorskip("emovae.data.deam")
    if not hasattr(deam, "load_deam"):
        pytest.skip("emovae.data.deam has no load_deam yet")
    loaded = deam.load_deam(dataset)
    assert not loaded.issues
    songs = {s.song_id: s for s in plan_demo_songs(N_SONGS, SECONDS, seed=3)}
    static = loaded.static.set_index("song_id")
    assert sorted(static.index) == sorted(songs)
    for song_id, song in songs.items():
        assert static.loc[song_id, "valence"] == pytest.approx(np.mean(song.valence), abs=0.001)
        assert static.loc[song_id, "arousal"] == pytest.approx(np.mean(song.arousal), abs=0.001)
        rows = loaded.dynamic[loaded.dynamic["song_id"] == song_id].sort_values("time_s")
        np.testing.assert_allclose(rows["time_s"], song.dynamic_times())
        np.testing.assert_allclose(rows["arousal"], song.at(song.dynamic_times())[1], atol=1e-4)
    assert loaded.audio_song_ids() == set(songs)


@pytest.mark.parametrize("chunk_seconds", [5, 10])
def test_the_instant_chunk_table_is_the_one_preprocessing_the_audio_writes(dataset, tmp_path, chunk_seconds):
    """The Dataset tab's labels without audio equal the stage's, for excerpts and an odd-length full song."""
    from emovae.data.demo_chunks import demo_chunks
    from emovae.data.preprocess import PreprocessConfig, run_preprocess
    from emovae.formats import CHUNK_METADATA_CSV, chunks_dir

    out = tmp_path / "processed"
    run_preprocess(PreprocessConfig(data_root=dataset, out_dir=out, chunk_seconds=(chunk_seconds,), workers=1,
                                    make_plots=False, show_progress=False))
    stage = pd.read_csv(chunks_dir(out, chunk_seconds) / CHUNK_METADATA_CSV, dtype={"chunk_id": str})
    instant = demo_chunks(tmp_path / "labels-only", N_SONGS, SECONDS, 3, chunk_seconds)
    assert not (tmp_path / "labels-only" / "MEMD_audio").exists()  # no audio was generated
    pd.testing.assert_frame_equal(instant.chunks.reset_index(drop=True), stage, check_dtype=False)
    assert instant.songs["song_id"].tolist() == sorted(s.song_id for s in plan_demo_songs(N_SONGS, SECONDS, seed=3))


def test_a_chunk_rendered_on_demand_is_the_music_of_the_chunk_file(dataset, tmp_path):
    from emovae.audio import load_audio
    from emovae.data.demo_chunks import demo_chunks
    from emovae.data.preprocess import PreprocessConfig, run_preprocess
    from emovae.formats import chunks_dir

    out = tmp_path / "processed"
    run_preprocess(PreprocessConfig(data_root=dataset, out_dir=out, chunk_seconds=(5,), workers=1, make_plots=False,
                                    show_progress=False))
    instant = demo_chunks(tmp_path / "labels-only", N_SONGS, SECONDS, 3, 5)
    row = instant.chunks.iloc[1]
    rendered = instant.renderer.chunk(row["song_id"], row["start_s"], row["end_s"])
    stored = load_audio(chunks_dir(out, 5) / row["file"])
    assert rendered.shape == stored.shape == (5 * 24_000,)
    assert np.corrcoef(rendered, stored)[0, 1] > 0.9  # the same music; only MP3 and resampling differ
    other = instant.chunks.iloc[2]
    assert np.corrcoef(instant.renderer.chunk(other["song_id"], other["start_s"], other["end_s"]), stored)[0, 1] < 0.5
