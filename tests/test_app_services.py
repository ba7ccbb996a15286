"""The tab services without Gradio: the Dataset tab on an empty cache, training that writes the demo
dataset's files in its own thread, and an upload analysed with the visitor's own checkpoint."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emovae.app.root import AppServices
from emovae.app.settings import SOUNDFONT_ENV, AppSettings
from emovae.audio import write_wav
from emovae.formats import CHUNK_METADATA_CSV
from test_app_bundle import DATASET, shared_tiny_bundle  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Services on the tiny bundle with an empty app cache (as on a Space after a restart)."""
    bundle_dir, shared_cache = shared_tiny_bundle(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("services")
    (tmp / "checkpoints").mkdir()
    settings = AppSettings(bundle_dir=bundle_dir, checkpoints_dir=tmp / "checkpoints", data_dir=tmp / "data",
                           cache_dir=tmp / "cache")
    return AppServices.create(settings), shared_cache


def test_the_demo_dataset_opens_from_its_labels_and_plays_a_chunk_without_generating_audio(fresh):
    services, shared_cache = fresh
    key, summary, scatter, hist, chunk_map = services.dataset.open_outputs("demo", 5)
    view = services.dataset.view(key)
    assert not view.on_disk and not list(services.settings.cache_dir.rglob("*.mp3"))  # nothing was generated
    # the same table the preprocess stage wrote from the audio (the shared bundle's cache has it)
    written = next(shared_cache.rglob(f"chunks_5s/{CHUNK_METADATA_CSV}"))
    assert view.chunks["chunk_id"].tolist() == pd.read_csv(written, dtype={"chunk_id": str})["chunk_id"].tolist()
    assert f"{DATASET['n_songs']} songs with static labels" in summary and "rendered when you play" in summary
    assert chunk_map.shape[2] == 3 and len(scatter.data) >= 2
    (rate, pcm), text = services.dataset.play_chunk(key, view.chunks["chunk_id"].iloc[0])
    assert rate == 24_000 and pcm.shape == (5 * 24_000,) and np.abs(pcm).max() > 300
    assert "rendered now by the demo composer" in text
    (_, nearest), _ = services.dataset.play_nearest(key, 0.9, 0.9)
    assert nearest.shape == (5 * 24_000,)


def test_a_run_on_an_empty_cache_writes_the_demo_dataset_itself_and_uploads_use_its_checkpoint(fresh, tmp_path):
    services, _ = fresh
    started = time.monotonic()
    state = services.training.start("alice", 1, 8, 1e-3, 0.5, 8)
    assert time.monotonic() - started < 5, "Start must answer before the dataset is generated"
    services.training.runs.wait(state.run_id, timeout=240)
    assert state.status == "finished", state.message
    assert len(list(services.settings.demo_data_dir.rglob("*.mp3"))) == DATASET["n_songs"]  # generated once, by the run
    view = services.dataset.view(services.dataset.open("demo", 5)[1])
    assert view.on_disk  # later plays read the files the run wrote
    assert "rendered now" not in services.dataset.play_chunk("", view.chunks["chunk_id"].iloc[0])[1]

    # Upload with the run's checkpoint: its own latent map and (random-init, buildable) codec
    label = services.checkpoints.select(None, f"{state.run_id}/best.pt")
    clip = services.generation.generate(label, 0.8, 0.8, seconds=3)
    path = tmp_path / "clip.wav"
    write_wav(path, clip.audio, clip.sample_rate)  # stereo at 44.1 kHz: the upload path reads it as 24 kHz mono
    result = services.upload.analyse(str(path), label)
    run_map = services.checkpoints.latent_map(label)
    assert run_map is not services.checkpoints.latent_map("demo")
    assert result.position is not None and "nearest on the latent map" in result.markdown
    assert f"analysed with checkpoint `app-cache/runs/{state.run_id}/best.pt`" in result.markdown  # which one, publicly
    assert f"{len(run_map.chunk_ids)} training chunks" in result.markdown
    assert set(result.neighbours["chunk_id"]) <= set(run_map.chunk_ids)
    assert services.upload.play_neighbour(result.neighbours["chunk_id"].iloc[0])[1].size > 0


def test_an_upload_names_a_checkpoint_without_a_latent_map(fresh, tmp_path):
    import shutil

    services, _ = fresh
    lone = services.settings.checkpoints_dir / "lone.pt"
    shutil.copy(services.bundle.vae_path, lone)
    with pytest.raises(FileNotFoundError, match=r"lone\.pt|latent_map\.npz: the checkpoint has no latent map"):
        services.upload.analyse(str(tmp_path / "x.wav"), str(lone))


def test_the_first_clip_is_kept_across_restarts_and_redone_when_the_checkpoint_changes(tmp_path_factory, tmp_path,
                                                                                       monkeypatch):
    import shutil

    monkeypatch.delenv(SOUNDFONT_ENV, raising=False)  # the engine's own choice of SoundFont, whatever the host set
    bundle_src, _ = shared_tiny_bundle(tmp_path_factory)
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(bundle_src, bundle_dir)
    settings = AppSettings(bundle_dir=bundle_dir, checkpoints_dir=tmp_path, data_dir=tmp_path, cache_dir=tmp_path / "cache")
    first = AppServices.create(settings)
    assert first.generation.cached_first_screen() is None  # a host's first start renders it (after serving)
    made = first.first_screen()
    assert made is not None and made.path.is_file() and "renderer **synth**" in made.markdown
    info = sf.info(made.path)
    assert (info.samplerate, info.channels) == (44_100, 2)  # the cached clip is the listening output

    restart = AppServices.create(settings)
    kept = restart.generation.cached_first_screen()  # no rendering, no torch needed
    assert kept is not None and kept.path == made.path and kept.markdown == made.markdown
    assert kept.figure_json == made.figure_json  # as stored: the page ships it without rebuilding a Figure
    assert [trace.type for trace in kept.figure.data] == [trace.type for trace in made.figure.data]
    assert kept.figure.layout.height == made.figure.layout.height
    assert made.midi is not None and kept.midi == made.midi and made.midi.parent == made.path.parent  # its score too

    monkeypatch.setenv(SOUNDFONT_ENV, str(tmp_path / "another.sf2"))  # the engine would play another SoundFont
    assert AppServices.create(settings).generation.cached_first_screen() is None
    monkeypatch.delenv(SOUNDFONT_ENV)
    assert AppServices.create(settings).generation.cached_first_screen() is not None

    (bundle_dir / "vae.pt").touch()  # a rebuilt checkpoint: its first clip is rendered anew
    assert AppServices.create(settings).generation.cached_first_screen() is None


def test_the_app_keys_its_first_clip_on_the_variable_the_engine_reads():
    from emovae.music import soundfont

    assert SOUNDFONT_ENV == soundfont.SOUNDFONT_ENV
