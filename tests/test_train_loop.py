"""The training stage end to end on tiny synthetic latents: it learns, stops, resumes exactly, refuses
unsafe reuse of a run folder, and reports through callbacks."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from emovae import formats
from emovae.codec import CodecMismatchError
from emovae.io import read_json, write_csv, write_json
from emovae.model import VAEConfig, load_checkpoint
from emovae.model.checkpoint import read_checkpoint
from emovae.train import Callback, HistoryCallback, ResumeError, TrainConfig, train
from emovae.train.synthetic import write_synthetic_latents
from pipeline.train import main as cli_main

TINY_MODEL = VAEConfig(latent_dim=8, stage_channels=(16, 24), stage_strides=(4, 2), cond_hidden=16)


@pytest.fixture(scope="module")
def small_latents(tmp_path_factory):
    return write_synthetic_latents(tmp_path_factory.mktemp("lat"), n_songs=8, chunks_per_song=4, channels=32, seed=3)


def _config(latents, out, **overrides) -> TrainConfig:
    base = TrainConfig(latents=str(latents), out=str(out), model=TINY_MODEL, batch_size=8, lr=3e-3, epochs=3,
                       kl_warmup=1.0, val_fraction=0.25, seed=5, device="cpu", write_audio=False,
                       eval_samples_per_target=2, n_reconstructions=2)
    return base.with_overrides(**overrides)


class StopAfter(Callback):
    """Sets the stop event after ``n`` optimiser steps, like the app's Stop button."""

    def __init__(self, n: int, event: threading.Event) -> None:
        self.n, self.event = n, event

    def on_step(self, step, metrics):
        if step == self.n:
            self.event.set()


def test_learns_and_writes_evidence(tmp_path):
    # 24 songs: 6 validation, 5 test, 13 training (with 8 training songs the valence readout was a coin toss)
    latents = write_synthetic_latents(tmp_path / "lat", n_songs=24, chunks_per_song=4, channels=32, seed=0)
    history_cb = HistoryCallback()
    finishing: list[tuple[int, str]] = []  # (epochs seen by then, message)

    class Finishing:
        def on_finishing(self, done, total, message):
            finishing.append((len(history_cb.epochs), message))

    result = train(_config(latents, tmp_path / "run", epochs=8, lr=1e-2), callbacks=[history_cb, Finishing()])
    # the end-of-run outputs report what they do, after the last epoch (the app's status line reads them)
    assert [m for _, m in finishing][:2] == ["evaluating best.pt", "writing samples and the latent map"]
    assert all(epochs == 8 for epochs, _ in finishing)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(history["epoch"]) == list(range(1, 9))
    assert history["train_mse"].iloc[-1] < 0.8 * history["train_mse"].iloc[0]
    m = result.metrics
    assert m["val_mse"] < 0.8 * m["baseline_mse"]  # well below "predict each channel's mean"
    assert m["conditioning"]["rho_valence"] > 0.5  # generated chunks follow the requested valence
    assert m["conditioning"]["probe_real_held_out"]["rho_valence"] > 0.5  # the probe itself works
    assert read_json(tmp_path / "run" / "metrics.json")["val_mse"] == pytest.approx(m["val_mse"])
    # the chunk level's fit: the synthetic valence moves channel means, so the emotion explains a share of them
    assert 0.05 < m["chunk_level"]["emotion_share"] < 1.0 and 0.0 <= m["chunk_level"]["shrinkage"] <= 1.0
    # callbacks saw every step and epoch, with the same numbers as the history table
    # 13 training songs x 4 chunks = 52 chunks / batch 8 = 7 steps an epoch
    assert len(history_cb.steps) == result.global_step == 8 * 7
    assert [row["val_mse"] for row in history_cb.epochs] == pytest.approx(list(history["val_mse"]))
    # the latent map covers exactly the training chunks of the saved split
    split = read_json(tmp_path / "run" / "split.json")
    latent_map = np.load(tmp_path / "run" / "latent_map.npz")
    assert sorted(latent_map["chunk_ids"]) == sorted(split["train_chunks"])
    assert latent_map["coords"].shape == (len(split["train_chunks"]), 2)
    assert not set(split["train_songs"]) & set(split["val_songs"])
    for name in ("training_curves.png", "reconstructions.png", "latent_space.png", "conditioning.png"):
        assert (tmp_path / "run" / name).read_bytes()[:4] == b"\x89PNG"
    _, info = load_checkpoint(tmp_path / "run" / "best.pt")
    assert info["epoch"] == result.best_epoch and info["codec"]["codec_id"] == "synthetic-s0"
    assert info["metrics"]["val_total"] == pytest.approx(history["val_total"].min())


def test_resume_after_stop_equals_uninterrupted_run(tmp_path, small_latents):
    full = train(_config(small_latents, tmp_path / "full"))
    event = threading.Event()
    stopped = train(_config(small_latents, tmp_path / "part"), callbacks=[StopAfter(3, event)], stop_event=event)
    assert stopped.stopped and stopped.global_step == 3 and stopped.metrics == {}
    state = read_checkpoint(tmp_path / "part" / "last.pt")["train_state"]
    # mid-epoch: 2 batches per epoch (4 training songs x 4 chunks / batch 8; 2 songs validate, 2 are held out for test)
    assert full.global_step == 3 * 2
    assert (state["epoch"], state["batch"]) == (1, 1)
    resumed = train(_config(small_latents, tmp_path / "part", resume=True))
    assert not resumed.stopped and resumed.global_step == full.global_step
    assert resumed.metrics["chunk_level"] == full.metrics["chunk_level"]  # the fit's summary travels in last.pt
    for name, key in (("last.pt", "model_state"), ("last.pt", "ema_state"), ("best.pt", "model_state")):
        a = read_checkpoint(tmp_path / "full" / name)[key]
        b = read_checkpoint(tmp_path / "part" / name)[key]
        assert all(torch.equal(a[k], b[k]) for k in a), (name, key)  # the moving average resumes too
    columns = [c for c in full.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(full.history[columns], resumed.history[columns])


def test_a_run_saved_before_a_model_option_existed_still_resumes(tmp_path, small_latents):
    """Regression: ``--resume`` compared the saved model config verbatim, so a last.pt written before a
    VAEConfig key was added (here the chunk level) was refused as 'changed settings' with two identical-looking sides."""
    from dataclasses import replace

    from emovae.train import resume_config

    out = tmp_path / "old"
    event = threading.Event()
    old_model = replace(TINY_MODEL, chunk_stats=False)
    train(_config(small_latents, out, model=old_model), callbacks=[StopAfter(1, event)], stop_event=event)
    payload = torch.load(out / "last.pt", weights_only=False)
    del payload["train_config"]["model"]["chunk_stats"]  # as that code wrote it
    torch.save(payload, out / "last.pt")
    config = resume_config(out)
    assert config.model.chunk_stats is False
    resumed = train(config)
    assert not resumed.stopped and resumed.epochs_completed == config.epochs


@pytest.mark.parametrize("setting", ["descriptor_weight", "ema_decay"])
def test_a_run_saved_before_a_training_setting_existed_resumes_without_it(tmp_path, small_latents, setting):
    """A last.pt written before ``descriptor_weight`` (the descriptor term) or ``ema_decay`` (the moving
    average of the weights) existed trained without it: --resume must continue it that way (exactly), not
    refuse it or switch it on halfway."""
    from emovae.train import resume_config

    out = tmp_path / "old"
    event = threading.Event()
    train(_config(small_latents, out, **{setting: 0.0}), callbacks=[StopAfter(1, event)], stop_event=event)
    payload = torch.load(out / "last.pt", weights_only=False)
    del payload["train_config"][setting]  # as that code wrote it
    torch.save(payload, out / "last.pt")
    config = resume_config(out)
    assert getattr(config, setting) == 0.0
    resumed = train(config)
    assert not resumed.stopped and resumed.epochs_completed == config.epochs


def test_best_pt_ships_the_moving_average_of_the_weights(tmp_path, small_latents):
    """best.pt holds the averaged weights (last.pt keeps the trained ones beside them, for --resume);
    with ``ema_decay`` 0 it holds the trained weights and last.pt has no average."""
    train(_config(small_latents, tmp_path / "ema", epochs=1))  # one epoch: best.pt is its end
    best = read_checkpoint(tmp_path / "ema" / "best.pt")["model_state"]
    last = read_checkpoint(tmp_path / "ema" / "last.pt")
    averaged = {k.removeprefix("module."): v for k, v in last["ema_state"].items() if k.startswith("module.")}
    assert all(torch.equal(best[k], averaged[k]) for k in best)
    assert not all(torch.equal(best[k], last["model_state"][k]) for k in best)
    assert all(torch.equal(best[k], last["model_state"][k]) for k in ("norm_mean", "norm_std"))  # buffers copied, not averaged

    train(_config(small_latents, tmp_path / "raw", epochs=1, ema_decay=0.0))
    best = read_checkpoint(tmp_path / "raw" / "best.pt")["model_state"]
    last = read_checkpoint(tmp_path / "raw" / "last.pt")
    assert "ema_state" not in last and all(torch.equal(best[k], last["model_state"][k]) for k in best)


def test_the_average_warms_up_then_decays_at_its_rate():
    from emovae.train.ema import averaged_model

    model = torch.nn.Linear(1, 1, bias=False)
    ema = averaged_model(model, 0.9)
    expected = None
    for n, value in enumerate([1.0, 3.0, -2.0, 5.0] + [0.5] * 40):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update_parameters(model)
        if expected is None:
            expected = value  # the first update copies
        else:
            weight = min(0.9, (1.0 + n) / (10.0 + n))  # n updates averaged so far
            expected = expected * weight + value * (1.0 - weight)
        assert float(ema.module.weight.detach()) == pytest.approx(expected, rel=1e-6)
    assert averaged_model(model, 0.0) is None
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


def test_run_folder_is_never_silently_reused(tmp_path, small_latents):
    out = tmp_path / "run"
    event = threading.Event()
    train(_config(small_latents, out), callbacks=[StopAfter(1, event)], stop_event=event)
    before = (out / "last.pt").read_bytes()
    with pytest.raises(ResumeError, match="already holds a training run.*--resume"):
        train(_config(small_latents, out))
    with pytest.raises(ResumeError, match=r"lr: 0\.003 -> 0\.01"):
        train(_config(small_latents, out, resume=True, lr=1e-2))
    with pytest.raises(ResumeError, match="nothing to resume"):
        train(_config(small_latents, tmp_path / "fresh", resume=True))
    assert (out / "last.pt").read_bytes() == before  # nothing written so far was lost


def test_resume_with_latents_of_another_codec_is_refused(tmp_path, small_latents):
    out = tmp_path / "run"
    event = threading.Event()
    train(_config(small_latents, out), callbacks=[StopAfter(1, event)], stop_event=event)
    other = tmp_path / "other"
    other.mkdir()
    for path_of in (formats.latents_path, formats.labels_path):
        path_of(other, 5).write_bytes(path_of(small_latents, 5).read_bytes())
    labels = pd.read_csv(formats.labels_path(other, 5), dtype={"chunk_id": str}).assign(codec_id="random-s9-x")
    write_csv(formats.labels_path(other, 5), labels)
    identity = read_json(formats.codec_identity_path(small_latents, 5))
    write_json(formats.codec_identity_path(other, 5), {**identity, "codec_id": "random-s9-x"})
    with pytest.raises(CodecMismatchError, match="last.pt"):
        train(_config(other, out, resume=True))


def test_cli_with_config_file_and_clear_error(tmp_path, small_latents, capsys):
    config_file = tmp_path / "train.json"
    config = _config(small_latents, tmp_path / "ignored", epochs=1).to_dict()
    config_file.write_text(json.dumps(config))
    code = cli_main(["--config", str(config_file), "--out", str(tmp_path / "cli"), "--epochs", "2", "--latent-dim", "4"])
    assert code == 0
    assert "val MSE" in capsys.readouterr().out
    _, info = load_checkpoint(tmp_path / "cli" / "last.pt")
    assert info["epoch"] == 2 and info["config"].latent_dim == 4  # flags override the file
    assert cli_main(["--latents", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "latents_5s.npy: not found" in capsys.readouterr().err
    config_file.write_text(json.dumps({"epoch": 3}))
    assert cli_main(["--config", str(config_file)]) == 2
    assert "unknown training setting(s) ['epoch']" in capsys.readouterr().err


def _copy_latents(source, target):
    target.mkdir()
    for path_of in (formats.latents_path, formats.labels_path, formats.codec_identity_path):
        path_of(target, 5).write_bytes(path_of(source, 5).read_bytes())
    return target


def _stopped_run(latents, out):
    event = threading.Event()
    train(_config(latents, out), callbacks=[StopAfter(1, event)], stop_event=event)
    return (out / "last.pt").read_bytes()


def test_resume_on_changed_latents_or_labels_is_refused(tmp_path, small_latents):
    """Regression: re-encoded latents under the same chunk ids (the demo's songs were regenerated) passed
    every resume check, so a finished run was "resumed" and its model of the old data shipped as new."""
    from emovae.train import DatasetChangedError

    data = _copy_latents(small_latents, tmp_path / "data")
    out = tmp_path / "run"
    before = _stopped_run(data, out)
    latents = np.load(formats.latents_path(data, 5))
    latents[0] += 0.5  # one chunk re-encoded from new audio: same ids, same shape
    np.save(formats.latents_path(data, 5), latents)
    with pytest.raises(DatasetChangedError, match=r"last\.pt: this run was trained on other data: .*latents_5s\.npy"
                                                  r".*start a new run") as info:
        train(_config(data, out, resume=True))
    assert isinstance(info.value, ResumeError) and "labels_5s.csv" not in str(info.value)
    assert (out / "last.pt").read_bytes() == before  # nothing written

    np.save(formats.latents_path(data, 5), np.load(formats.latents_path(small_latents, 5)))  # the original back
    labels = pd.read_csv(formats.labels_path(data, 5), dtype={"chunk_id": str})
    labels.loc[0, "valence"] = 1.0 - labels.loc[0, "valence"]  # an annotation fixed: the targets changed
    write_csv(formats.labels_path(data, 5), labels)
    with pytest.raises(DatasetChangedError, match=r"labels_5s\.csv"):
        train(_config(data, out, resume=True))


def test_resume_on_a_copy_of_the_same_data_continues_exactly(tmp_path, small_latents):
    """Only content counts: the same latents copied elsewhere (new mtimes) resume like the originals."""
    full = train(_config(small_latents, tmp_path / "full"))
    _stopped_run(small_latents, tmp_path / "part")
    copy = _copy_latents(small_latents, tmp_path / "copy")
    resumed = train(_config(copy, tmp_path / "part", resume=True))
    assert not resumed.stopped and resumed.global_step == full.global_step
    columns = [c for c in full.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(full.history[columns], resumed.history[columns])
    assert read_checkpoint(tmp_path / "part" / "last.pt")["dataset"]["latents"]["sha256"] == \
        read_checkpoint(tmp_path / "full" / "last.pt")["dataset"]["latents"]["sha256"]


def test_a_run_saved_before_the_dataset_record_resumes_only_on_files_older_than_it(tmp_path, small_latents):
    import os

    from emovae.train import DatasetChangedError
    from emovae.train.loop import resume_dataset_change

    data = _copy_latents(small_latents, tmp_path / "data")
    past = (1_600_000_000 * 10**9,) * 2
    for path_of in (formats.latents_path, formats.labels_path):
        os.utime(path_of(data, 5), ns=past)  # encoded long before the run started
    out = tmp_path / "run"
    _stopped_run(data, out)
    payload = torch.load(out / "last.pt", weights_only=False)
    del payload["dataset"]  # as the code before the record wrote it
    torch.save(payload, out / "last.pt")
    assert resume_dataset_change(out, data, 5) is None
    assert not train(_config(data, out, resume=True, epochs=1)).stopped

    _stopped_run(data, tmp_path / "run2")
    payload = torch.load(tmp_path / "run2" / "last.pt", weights_only=False)
    del payload["dataset"]
    torch.save(payload, tmp_path / "run2" / "last.pt")
    np.save(formats.latents_path(data, 5), np.load(formats.latents_path(data, 5)))  # rewritten after the run began
    assert "written after the run started" in resume_dataset_change(tmp_path / "run2", data, 5)
    with pytest.raises(DatasetChangedError, match="latents_5s.npy was written after the run started"):
        train(_config(data, tmp_path / "run2", resume=True))
