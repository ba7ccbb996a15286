"""The whole pipeline in one call (``pipeline.run_all``): a tiny demo run produces a bundle the app
loads, a second run redoes nothing, and bad input stops with a clear message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emovae import formats
from emovae.app.bundle import load_bundle
from emovae.io import read_json
from emovae.workflow import WorkflowConfig, run_workflow
from pipeline.run_all import main as run_all_main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    seen: list[str] = []
    # 5 songs x 3 chunks: the split keeps 3 songs (9 chunks) for training, enough for the estimator (>= 8 clips),
    # which is fitted on training songs only; 1 song validates, 1 is the test side
    config = WorkflowConfig(work_dir=work, demo=True, demo_songs=5, demo_seconds=17.0, seed=1, encodec_weights="random",
                            epochs=6, batch_size=4, device="cpu", bundle_dir=work / "bundle")
    result = run_workflow(config, progress=lambda done, total, name: seen.append(name))
    return config, result, seen


def test_every_stage_runs_and_the_bundle_is_what_the_app_loads(tiny_run):
    config, result, seen = tiny_run
    assert [name for name in seen if " — " not in name] == ["dataset", "preprocess", "encode", "train", "estimator",
                                                             "generate"]
    # within a stage, its own progress arrives on the same hook (the app's header shows it)
    for prefix in ("dataset — ", "preprocess — ", "encode — ", "train — epoch 6"):
        assert any(name.startswith(prefix) for name in seen), (prefix, seen)
    bundle = load_bundle(result.bundle_dir)
    latent_labels = pd.read_csv(formats.labels_path(config.path(formats.DEFAULT_LATENT_DIR), 5), dtype={"chunk_id": str})
    # the bundle names the codec the latents were made with, and the dataset it can regenerate
    assert bundle.codec_identity["codec_id"] == latent_labels["codec_id"].iloc[0]
    assert bundle.dataset_params == {"n_songs": 5, "seconds": 17.0, "seed": 1}
    # the latent map holds exactly the training side of the saved split, on the bundle's projection
    split = read_json(config.path(formats.DEFAULT_MODEL_DIR) / "split.json")
    latent_map = bundle.latent_map
    assert sorted(latent_map.chunk_ids) == sorted(split["train_chunks"])
    assert set(latent_map.chunk_ids) <= set(latent_labels["chunk_id"])
    assert np.isfinite(latent_map.coords).all() and latent_map.coords.shape == (len(split["train_chunks"]), 2)
    # the estimator and the manifest's metrics come from this run
    assert bundle.estimator.predict(np.zeros(24_000, np.float32) + 0.01, 24_000) is not None
    assert read_json(result.bundle_dir / "manifest.json")["metrics"]["val_mse"] == pytest.approx(result.metrics["val_mse"])
    assert [p.name for p in result.generated] == [f"{name}_synth_seed1.wav" for name in ("happy", "angry", "sad", "calm")]
    # the synth plays through the score decoder fitted by the training stage, which travels with the checkpoint
    from emovae.model.score import SCORE_DECODER_FILE, ScoreDecoder

    assert read_json(result.bundle_dir / "manifest.json")["score_decoder"] == SCORE_DECODER_FILE
    decoder = ScoreDecoder.load(result.bundle_dir / SCORE_DECODER_FILE)
    assert decoder.codec_id == bundle.codec_identity["codec_id"] and "test_r" in decoder.training
    # the test songs of the split are songs neither training nor validation saw
    assert split["test_songs"] and not set(split["test_songs"]) & (set(split["train_songs"]) | set(split["val_songs"]))


def test_the_vae_learns_on_real_demo_latents(tiny_run):
    config, result, _ = tiny_run
    history = pd.read_csv(config.path(formats.DEFAULT_MODEL_DIR) / "history.csv")
    assert history["train_mse"].iloc[-1] < 0.9 * history["train_mse"].iloc[0]
    assert result.metrics["val_mse"] < result.metrics["baseline_mse"]


def test_the_descriptor_term_trains_on_the_runs_own_chunks(tiny_run, tmp_path):
    """``--descriptor-weight`` end to end: the chunks are described, the decoder is fitted before the first
    step, and every step scores the VAE's samples with it."""
    from emovae.train import TrainConfig, train

    config, _, _ = tiny_run
    steps: list[dict] = []

    class Steps:
        def on_step(self, step, metrics):
            steps.append(metrics)

    result = train(TrainConfig(latents=str(config.path(formats.DEFAULT_LATENT_DIR)), out=str(tmp_path / "run"),
                               chunks=str(config.path(formats.DEFAULT_PROCESSED_DIR)), descriptor_weight=1.0, epochs=2,
                               batch_size=4, seed=1, device="cpu", write_audio=False), callbacks=[Steps()])
    assert not result.stopped and steps
    assert all(np.isfinite(m["descriptor"]) and m["descriptor"] > 0 for m in steps)
    assert (tmp_path / "run" / "score_decoder.json").is_file()


def test_a_second_run_redoes_nothing(tiny_run):
    config, first, _ = tiny_run
    stamps = {p: p.stat().st_mtime_ns for p in (*first.generated, formats.latents_path(config.path(formats.DEFAULT_LATENT_DIR), 5))}
    again = run_workflow(config)
    assert again.checkpoint == first.checkpoint
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_rerun_on_changed_audio_re_encodes_and_retrains_instead_of_resuming(tiny_run):
    """Regression: after the music engine changed, the re-chunked demo songs kept their chunk ids, so encode
    reused every latent and train "resumed" the finished run: the old model shipped as a model of the new
    data. (Runs after test_a_second_run_redoes_nothing: it changes the module's work dir.)"""
    import soundfile as sf

    from emovae.io import file_identity
    from emovae.model.checkpoint import read_checkpoint

    config, first, _ = tiny_run
    latents_dir, model_dir = config.path(formats.DEFAULT_LATENT_DIR), config.path(formats.DEFAULT_MODEL_DIR)
    wav = sorted(formats.chunks_dir(config.path(formats.DEFAULT_PROCESSED_DIR), 5).glob("*.wav"))[0]
    audio, rate = sf.read(wav, dtype="float32")
    sf.write(wav, audio[::-1].copy(), rate, subtype=sf.info(str(wav)).subtype)  # new music under the same chunk id
    old_run = (model_dir / "last.pt").read_bytes()
    generated_at = {p: p.stat().st_mtime_ns for p in first.generated}
    seen: list[str] = []
    again = run_workflow(config, progress=lambda done, total, name: seen.append(name))

    report = read_json(latents_dir / "encode_report_5s.json")
    assert report["encoded_this_run"] == 1 and report["reencoded_audio_changed"] == 1
    assert any("trained on other data" in m and "training afresh" in m for m in seen), seen
    assert (model_dir.with_name(model_dir.name + ".stale") / "last.pt").read_bytes() == old_run  # moved aside
    trained_on = read_checkpoint(model_dir / "last.pt")["dataset"]["latents"]["sha256"]
    assert trained_on == file_identity(formats.latents_path(latents_dir, 5))["sha256"]
    assert read_checkpoint(again.checkpoint)["dataset"]["latents"]["sha256"] == trained_on
    assert all(p.stat().st_mtime_ns != generated_at[p] for p in again.generated)  # the new model's pieces


def test_cli_reports_a_missing_dataset_and_exits_2(tmp_path, capsys):
    assert run_all_main(["--data", str(tmp_path / "no-deam"), "--work", str(tmp_path / "w"), "--encodec-weights", "random"]) == 2
    assert "no-deam" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--data and --demo"):
        WorkflowConfig(data_root=tmp_path, demo=True)
