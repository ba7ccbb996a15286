"""The app through its HTTP API (gradio_client), started in-process on a free loopback port.

The bundle used here is built like the real demo bundle (demo dataset -> chunks -> VAE checkpoint,
score decoder, latent map, estimator) but tiny, and the VAE is untrained: these tests check the app's wiring,
validation and security, not the model's quality.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket

import mido
import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from emovae.app.settings import AppSettings  # noqa: E402
from emovae.emotion import PRESETS  # noqa: E402
from test_app_bundle import shared_tiny_bundle  # noqa: E402  (tests/ is on sys.path under pytest)

pytestmark = pytest.mark.timeout(300)
STEREO_2S = (2 * 44_100, 2)  # a 2 s clip as the page plays it: 44.1 kHz stereo frames


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(tmp_path_factory, **overrides):
    """The app on a free loopback port; (client, context, its folder)."""
    import app as app_module

    tmp = tmp_path_factory.mktemp("app")
    bundle_dir, cache_dir = shared_tiny_bundle(tmp_path_factory)
    settings = AppSettings(port=free_port(), bundle_dir=bundle_dir, checkpoints_dir=tmp / "checkpoints",
                           data_dir=tmp / "data", cache_dir=cache_dir, max_analysed_seconds=4.0, **overrides)
    (tmp / "checkpoints").mkdir()
    (tmp / "data").mkdir()
    demo, ctx = app_module.create_app(settings)
    app_module.serve(demo, ctx, settings, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{settings.port}/", verbose=False), ctx, tmp, demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory) as (client, ctx, tmp, _demo):
        yield client, ctx, tmp


def generate(client, valence, arousal, seconds=2, seed=0, renderer="synth", mode="single emotion", end=(0.5, 0.5)):
    return client.predict(mode, valence, arousal, end[0], end[1], renderer, seconds, seed, 1.0, api_name="/generate")


def test_each_preset_generates_its_own_music(app):
    client, ctx, _ = app
    clips = {}
    for name, (v, a) in PRESETS.items():
        assert tuple(client.predict(api_name=f"/preset_{name}")[:2]) == (v, a)
        audio_path, download, info, _map, midi = generate(client, v, a, seconds=2, seed=1)
        audio, sr = sf.read(audio_path)
        assert sr == 44_100 and audio.shape == STEREO_2S  # the listening output
        assert np.abs(audio).max() > 0.01, f"{name} is silent"
        assert f"({name})" in info and "synth" in info
        assert sf.read(download)[0].shape == audio.shape
        assert mido.MidiFile(midi).length == pytest.approx(2.0, abs=0.005)  # the score, offered beside the WAV
        clips[name] = audio
    names = list(clips)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not np.allclose(clips[a], clips[b]), f"{a} and {b} sound identical"


def test_same_seed_same_clip_and_trajectory_mode(app):
    client, _, _ = app
    one = sf.read(generate(client, 0.3, 0.6, seed=7)[0])[0]
    two = sf.read(generate(client, 0.3, 0.6, seed=7)[0])[0]
    assert np.array_equal(one, two)
    path, _, info, _, _ = generate(client, 0.1, 0.1, mode="trajectory A → B", end=(0.9, 0.9))
    assert "→" in info and "(sad)" in info and "(happy)" in info


def test_click_map_maps_pixels_to_emotions(app):
    from emovae.app.figures import GEOMETRY

    client, _, _ = app
    x, y = GEOMETRY.to_pixel(0.8, 0.2)
    assert client.predict(x, y, api_name="/click_map") == pytest.approx([0.8, 0.2], abs=0.01)
    with pytest.raises(AppError, match="outside"):
        client.predict(5000, 10, api_name="/click_map")


@pytest.mark.parametrize(
    "values, message",
    [((1.5, 0.5, 2, 0), r"valence=1\.5 is outside the valid range \[0, 1\]"), ((0.5, -0.1, 2, 0), "arousal=-0.1 is outside"),
     ((0.5, 0.5, 500, 0), "seconds=500"), ((0.5, 0.5, 2, -3), r"seed=-3 must be an integer in \[0, 2\*\*63\)")],
)
def test_out_of_range_values_get_clear_errors(app, values, message):
    client, _, _ = app
    v, a, seconds, seed = values
    with pytest.raises(AppError, match=message):
        generate(client, v, a, seconds=seconds, seed=seed)


def raw_call(ctx, api_name: str, data: list) -> tuple[str, object]:
    """POST to the queue API as a non-Python client would (plain JSON, no session); (event, data) back."""
    import json

    import httpx

    base = f"http://127.0.0.1:{ctx.settings.port}/gradio_api/call/{api_name}"
    posted = httpx.post(base, content=json.dumps({"data": data}), headers={"content-type": "application/json"})
    posted.raise_for_status()
    lines = httpx.get(f"{base}/{posted.json()['event_id']}", timeout=120).text.strip().splitlines()
    event = next(line.split(": ", 1)[1] for line in lines if line.startswith("event:"))
    return event, json.loads(lines[-1].split(": ", 1)[1])


GOOD = ["single emotion", 0.5, 0.5, 0.5, 0.5, "synth", 2, 0, 1.0]  # /generate after its checkpoint state (null)


@pytest.mark.parametrize(
    "position, value, message",
    [(1, "abc", r"valence='abc' \(str\) is not a number; expected a value in \[0, 1\]"),
     (1, None, r"valence=None \(NoneType\) is not a number"), (2, [1], r"arousal=\[1\] \(list\) is not a number"),
     (7, float("nan"), r"seed=nan must be an integer in \[0, 2\*\*63\)"), (7, 1.5, r"seed=1\.5 must be an integer"),
     (6, "long", r"seconds='long' \(str\) is not a number"), (8, True, r"temperature=True \(bool\) is not a number"),
     (0, "sideways", r"mode='sideways' \(str\) is not one of 'single emotion', 'trajectory A → B")],
)
def test_raw_api_values_of_the_wrong_type_name_the_field_type_and_range(app, position, value, message):
    _, ctx, _ = app
    data = [None, *GOOD]
    data[1 + position] = value
    event, payload = raw_call(ctx, "generate", data)
    assert event == "error" and payload["error"] is not None
    assert re.search(message, payload["error"]), payload["error"]


@pytest.mark.parametrize("data", [GOOD[:-1], [None, *GOOD, 0]])  # one short; one more than even the full form
def test_raw_api_calls_with_the_wrong_number_of_values_say_what_the_endpoint_takes(app, data):
    _, ctx, _ = app
    assert raw_call(ctx, "generate", GOOD)[0] == "complete"  # the visible inputs only: the state is filled in
    event, payload = raw_call(ctx, "generate", data)
    assert event == "error" and payload["error"] is not None
    assert f"/generate takes 9 values [Mode, Valence (A), Arousal (A)" in payload["error"]
    assert f"but got {len(data)}" in payload["error"]


def test_raw_training_and_dataset_calls_name_the_bad_field(app):
    _, ctx, _ = app
    event, payload = raw_call(ctx, "start_training", ["ten", 8, 1e-3, 0.5, 8])
    assert event == "error" and "epochs='ten' (str) is not a number" in payload["error"]
    event, payload = raw_call(ctx, "open_dataset", ["demo", 7])
    assert event == "error" and "seconds=7 (int) is not one of 5, 10" in payload["error"]
    event, payload = raw_call(ctx, "open_dataset", [["demo"], 5])
    assert event == "error" and "root=['demo'] (list) must be text" in payload["error"]
    assert raw_call(ctx, "generate", [None, *GOOD])[0] == "complete"  # the same route works with good values


@pytest.mark.parametrize("value", ["abc", [1], {"a": 1}, True])
def test_a_non_file_where_the_upload_belongs_is_named(app, value):
    _, ctx, _ = app
    event, payload = raw_call(ctx, "analyse_upload", [value])
    assert event == "error" and payload["error"] is not None
    assert f"/analyse_upload: Clip={value!r} ({type(value).__name__}) must be an uploaded file" in payload["error"]


def test_open_dataset_accepts_every_value_its_api_description_advertises(app):
    import httpx

    _, ctx, _ = app
    info = httpx.get(f"http://127.0.0.1:{ctx.settings.port}/gradio_api/info").json()
    seconds = next(p for p in info["named_endpoints"]["/open_dataset"]["parameters"] if p["parameter_name"] == "seconds")
    advertised = seconds["type"]["enum"]
    assert [str(value) for value in advertised] == ["5", "10"]
    for value in advertised:
        for sent in (value, str(value)):  # the description's Literal['5', '10'] and the plain numbers
            event, payload = raw_call(ctx, "open_dataset", ["demo", sent])
            assert event == "complete", payload


def test_neural_renderer_is_disabled_with_a_reason_when_the_codec_is_missing(app):
    client, ctx, _ = app
    assert not ctx.codecs.status(ctx.checkpoints.path("demo")).available
    assert ctx.generation.renderer_choices() == ["synth", "rules"]
    assert "neural is disabled" in ctx.generation.renderer_note()
    with pytest.raises(AppError, match="neural"):
        generate(client, 0.5, 0.5, renderer="neural")
    with pytest.raises(ValueError, match="neural renderer is unavailable"):
        ctx.generation.generate("demo", 0.5, 0.5, renderer="neural")


def test_upload_of_a_generated_clip_lands_on_both_maps(app):
    client, _, tmp = app
    path = generate(client, 0.9, 0.9, seconds=6)[0]
    notes, image, latent_plot, neighbours = client.predict(handle_file(path), api_name="/analyse_upload")
    assert "estimated **V=" in notes
    assert "first 4.0 s" in notes  # the analysed length is capped and the visitor is told
    assert len(neighbours["data"]) == 5
    chunk_id = neighbours["data"][0][0]
    audio_path, text = client.predict(chunk_id, api_name="/play_chunk")  # dataset key is session state: demo
    assert sf.read(audio_path)[0].size > 0 and chunk_id in text


def test_corrupt_and_empty_uploads_are_refused_cleanly(app):
    client, _, tmp = app
    corrupt = tmp / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(2000))
    with pytest.raises(AppError, match="not a readable audio file"):
        client.predict(handle_file(str(corrupt)), api_name="/analyse_upload")
    empty = tmp / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match="empty"):
        client.predict(handle_file(str(empty)), api_name="/analyse_upload")
    # the app is still healthy afterwards
    assert sf.read(generate(client, 0.2, 0.2)[0])[0].shape == STEREO_2S


def test_dataset_tab_opens_the_demo_and_refuses_paths_outside(app):
    client, ctx, tmp = app
    summary, va_plot, _hist, chunk_map = client.predict("demo", 5, api_name="/open_dataset")  # the key is session state
    view, _ = ctx.dataset.open("demo", 5)
    assert f"{view.songs.shape[0]} songs with static labels" in summary and f"**{len(view.chunks)} chunks**" in summary
    assert len(view.chunks) >= 4
    assert "songs (static)" in va_plot["plot"]
    secret = tmp / "secret"
    secret.mkdir()
    os.symlink(secret, tmp / "data" / "sneaky")
    for text, message in [("../secret", r"'\.\.'"), (str(secret), "outside the allowed folders"),
                          ("/etc", "outside the allowed folders"), ("sneaky", "symlink")]:
        with pytest.raises(AppError, match=message):
            client.predict(text, 5, api_name="/open_dataset")


def test_visitors_see_paths_relative_to_the_configured_roots_and_an_empty_root_is_the_demo(app):
    client, ctx, tmp = app
    with pytest.raises(AppError) as info:
        client.predict("no-such-dataset", 5, api_name="/open_dataset")
    message = str(info.value)
    assert "does not exist inside data" in message
    for folder in (tmp, ctx.settings.cache_dir, ctx.settings.data_dir):
        assert str(folder) not in message
    summary = client.predict("", 5, api_name="/open_dataset")[0]
    assert summary.startswith("**demo**") and "****" not in summary
    assert raw_call(ctx, "open_dataset", [None, 5])[1][1].startswith("**demo**")  # null reads as empty too
    assert str(ctx.settings.cache_dir) not in summary


def test_checkpoint_paths_are_confined(app):
    client, _, tmp = app
    outside = tmp / "elsewhere.pt"
    outside.write_bytes(b"not a checkpoint")
    os.symlink(outside, tmp / "checkpoints" / "link.pt")
    for text, message in [(str(outside), "outside"), ("../elsewhere.pt", r"'\.\.'"), ("link.pt", "symlink")]:
        with pytest.raises(AppError, match=message):
            client.predict(None, text, api_name="/use_checkpoint")
    text = client.predict("demo", "", api_name="/use_checkpoint")  # the chosen checkpoint is session state
    assert "**demo**" in text


def wait_for(client, run_id, statuses, timeout=90.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(run_id, api_name="/training_status")
        if status["status"] in statuses:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {status['status']} after {timeout} s")


def test_tiny_training_run_end_to_end_and_only_its_owner_controls_it(app):
    owner, ctx, _ = app
    url = owner.src
    stranger = Client(url, verbose=False)  # a second visitor: its own session hash
    for visitor in (owner, stranger):
        visitor.predict(api_name="/open_session")  # what loading the page does
    run_id, message, _timer = owner.predict(2, 8, 1e-3, 0.5, 8, api_name="/start_training")
    assert run_id and run_id in message
    with pytest.raises(AppError, match="belongs to this session"):
        stranger.predict(run_id, api_name="/stop_training")
    with pytest.raises(AppError, match="belongs to this session"):
        stranger.predict(run_id, api_name="/training_status")
    with pytest.raises(AppError, match="already"):  # nobody can start a second run while this one trains
        stranger.predict(2, 8, 1e-3, 0.5, 8, api_name="/start_training")
    status = wait_for(owner, run_id, {"finished", "failed", "stopped"})
    assert status["status"] == "finished", status["error"]
    assert [row["epoch"] for row in status["history"]] == [1, 2]
    assert {"train_total", "val_total", "train_mse", "val_kl"} <= set(status["history"][0])
    best = next(p for p in status["checkpoints"] if p.endswith("best.pt"))
    assert best == f"{run_id}/best.pt"  # relative to the runs folder: no server path reaches the visitor
    # the new checkpoint generates music for its owner
    assert "best.pt" in owner.predict(None, best, api_name="/use_checkpoint")
    audio_path, _, info, _, _ = generate(owner, 0.5, 0.5)
    assert "best.pt" in info and sf.read(audio_path)[0].shape == STEREO_2S

    # a long run is stopped by its owner only, after the current step
    run_id, _, _ = owner.predict(200, 8, 1e-3, 0.5, 8, api_name="/start_training")
    wait_for(owner, run_id, {"running"})
    with pytest.raises(AppError):
        stranger.predict(run_id, api_name="/stop_training")
    assert "stopping" in owner.predict(run_id, api_name="/stop_training")
    assert wait_for(owner, run_id, {"stopped", "finished", "failed"})["status"] == "stopped"


def test_a_bare_api_call_cannot_start_a_run_nobody_could_watch_or_stop(app):
    _, ctx, _ = app
    event, payload = raw_call(ctx, "start_training", [2, 8, 1e-3, 0.5, 8])  # no session: a throwaway one
    assert event == "error" and "needs a session that can watch and stop it" in payload["error"]
    assert not any(state.active for state in ctx.training.runs._runs.values())


def test_a_shared_host_can_switch_training_off_or_cap_its_size(app):
    from dataclasses import replace

    from emovae.app.training import RunAccessError
    from emovae.app.training_service import TrainingService

    _, ctx, _ = app

    def service(**changes) -> TrainingService:
        return TrainingService(replace(ctx.settings, **changes), ctx.training.runs, ctx.dataset, ctx.checkpoints)

    off = service(training_enabled=False)
    assert "switched off" in off.intro_markdown()
    with pytest.raises(RunAccessError, match="EMOVAE_TRAINING=off"):
        off.start("alice", 2, 8, 1e-3, 0.5, 8)
    capped = service(max_training_work=10)
    assert "at most 10 epochs × chunks per run" in capped.intro_markdown()
    with pytest.raises(ValueError, match=r"epochs × chunks = 200 × \d+ = .* EMOVAE_TRAINING_MAX_WORK"):
        capped.start("alice", 200, 8, 1e-3, 0.5, 8)
    assert not any(state.active for state in ctx.training.runs._runs.values())


def test_training_values_out_of_range_are_refused(app):
    client, _, _ = app
    client.predict(api_name="/open_session")
    with pytest.raises(AppError, match="learning_rate|maximum"):
        client.predict(2, 8, 5.0, 0.5, 8, api_name="/start_training")


def test_gradio_cache_files_are_deleted_once_old(tmp_path_factory):
    import time

    with running_app(tmp_path_factory, cache_max_age_s=2) as (client, ctx, _tmp, demo):
        for seed in range(4):
            clip = generate(client, 0.5, 0.5, seed=seed)[0]
        client.predict(handle_file(clip), api_name="/analyse_upload")
        created = set().union(*demo.temp_file_sets)
        assert len([f for f in created if f.endswith(".wav")]) >= 4  # each response left its WAV in the cache
        assert demo.upload_file_set  # and the upload its file
        time.sleep(2 + 1 + 1.5)  # age, one sweep period, slack
        initial_values = set().union(*(getattr(block, "keep_in_cache", set()) for block in demo.blocks.values()))
        assert [f for f in created - initial_values if os.path.exists(f)] == []  # the page's first clip stays
        assert sf.read(generate(client, 0.5, 0.5)[0])[0].shape == STEREO_2S  # still serving
