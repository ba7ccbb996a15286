"""Background runs belong to the session that started them; they report through the callbacks."""

from __future__ import annotations

import threading
import time

import pytest

from emovae.app.training import RunAccessError, RunBusyError, RunView, TrainingRuns


def fake_training(epochs: int, gate: threading.Event | None = None):
    """A launch function behaving like emovae.train.train: callbacks per epoch, honours stop_event."""

    def launch(run_dir, callbacks, stop_event, progress):
        progress(1, 1, "data ready")
        for epoch in range(1, epochs + 1):
            if gate is not None:
                gate.wait(5)
            if stop_event.is_set():
                break
            for cb in callbacks:
                cb.on_step(epoch * 10, {"loss": 1.0 / epoch})
                cb.on_epoch_end(epoch, {"epoch": epoch, "train_total": 1.0 / epoch, "val_total": 1.2 / epoch, "note": "x"})
            (run_dir / "last.pt").write_bytes(b"ckpt")
        return {"epochs": epochs}

    return launch


def test_run_reports_history_and_finishes(tmp_path):
    runs = TrainingRuns(tmp_path)
    state = runs.start("alice", fake_training(3), total_epochs=3)
    runs.wait(state.run_id, 5)
    assert state.status == "finished"
    assert [row["epoch"] for row in state.history] == [1, 2, 3]
    assert state.history[-1]["val_total"] == pytest.approx(0.4)
    assert "note" not in state.history[0]  # non-numeric metrics are not plotted
    assert state.checkpoints() == [tmp_path / state.run_id / "last.pt"]
    view = RunView.of(runs, state.run_id, "alice")
    assert view.percent == 100.0 and not view.active and "finished" in view.markdown


def test_another_session_can_neither_stop_nor_read_a_run(tmp_path):
    runs = TrainingRuns(tmp_path)
    gate = threading.Event()
    state = runs.start("alice", fake_training(50, gate), total_epochs=50)
    try:
        with pytest.raises(RunAccessError):
            runs.stop(state.run_id, "mallory")
        with pytest.raises(RunAccessError):
            runs.get(state.run_id, "mallory")
        assert not state.stop_event.is_set() and state.active
        assert runs.owned_by("mallory") == []
    finally:
        runs.stop(state.run_id, "alice")
        gate.set()
        runs.wait(state.run_id, 5)
    assert state.status == "stopped"


def test_each_run_gets_a_fresh_folder_and_sessions_cannot_pile_up_runs(tmp_path):
    runs = TrainingRuns(tmp_path, max_parallel=1)
    gate = threading.Event()
    first = runs.start("alice", fake_training(5, gate), total_epochs=5)
    with pytest.raises(RunBusyError, match="already have"):
        runs.start("alice", fake_training(1), total_epochs=1)
    with pytest.raises(RunBusyError, match="limit 1"):
        runs.start("bob", fake_training(1), total_epochs=1)
    gate.set()
    runs.wait(first.run_id, 5)
    second = runs.start("bob", fake_training(1), total_epochs=1)
    runs.wait(second.run_id, 5)
    assert first.run_dir != second.run_dir and first.run_dir.is_dir() and second.run_dir.is_dir()
    assert (first.run_dir / "last.pt").read_bytes() == b"ckpt"


def test_a_failing_run_is_recorded_not_lost(tmp_path):
    def broken(run_dir, callbacks, stop_event, progress):
        raise ValueError("latents missing")

    runs = TrainingRuns(tmp_path)
    state = runs.start("alice", broken, total_epochs=2)
    runs.wait(state.run_id, 5)
    assert state.status == "failed" and "latents missing" in state.error
    with pytest.raises(RunAccessError):
        runs.start("", broken, total_epochs=1)


def endless_encoding(run_dir, callbacks, stop_event, progress):
    """A launch stuck in preparation (like encoding a big dataset): it only ever reports progress."""
    for batch in range(100_000):
        progress(batch, 100_000, "encoding")
        time.sleep(0.01)


def test_stop_works_while_the_run_is_still_preparing_its_data(tmp_path):
    runs = TrainingRuns(tmp_path, max_parallel=1)
    state = runs.start("alice", endless_encoding, total_epochs=5)
    deadline = time.monotonic() + 5
    while "encoding" not in state.message and time.monotonic() < deadline:
        time.sleep(0.01)
    runs.stop(state.run_id, "alice")
    runs.wait(state.run_id, 2)  # one progress report later, not after the whole preparation
    assert state.status == "stopped" and "preparing" in state.message
    runs.wait(runs.start("bob", fake_training(1), total_epochs=1).run_id, 5)  # the slot is free again


def test_a_session_waits_out_the_cooldown_between_its_runs(tmp_path):
    runs = TrainingRuns(tmp_path, max_parallel=2, cooldown_s=60)
    first = runs.start("alice", fake_training(1), total_epochs=1)
    runs.wait(first.run_id, 5)
    assert first.status == "finished" and first.ended_at is not None
    with pytest.raises(RunBusyError, match=r"every 60 s; try again in (59|60) s"):
        runs.start("alice", fake_training(1), total_epochs=1)
    runs.wait(runs.start("bob", fake_training(1), total_epochs=1).run_id, 5)  # other sessions are not held back


def test_training_switch_and_limits_come_from_the_environment(monkeypatch):
    from emovae.app.settings import AppSettings

    assert AppSettings.from_env().training_enabled and AppSettings.from_env().max_training_work is None
    monkeypatch.setenv("EMOVAE_TRAINING", "off")
    monkeypatch.setenv("EMOVAE_TRAINING_COOLDOWN_S", "30")
    monkeypatch.setenv("EMOVAE_TRAINING_MAX_WORK", "5000")
    settings = AppSettings.from_env()
    assert (settings.training_enabled, settings.training_cooldown_s, settings.max_training_work) == (False, 30.0, 5000)
    monkeypatch.setenv("EMOVAE_TRAINING", "sometimes")
    with pytest.raises(ValueError, match="EMOVAE_TRAINING='sometimes': use on or off"):
        AppSettings.from_env()


def test_only_the_newest_run_folders_are_kept(tmp_path):
    (tmp_path / "20000101-000000-0ld0ld00").mkdir()  # a run left by an earlier app process
    runs = TrainingRuns(tmp_path, max_parallel=1, keep_runs=2)
    states = []
    for _ in range(4):
        states.append(runs.start("alice", fake_training(1), total_epochs=1))
        runs.wait(states[-1].run_id, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(s.run_id for s in states[-2:])


def test_the_generated_clips_folder_stays_small(tmp_path):
    from emovae.app.generation import KEEP_CLIPS, prune
    from emovae.app.settings import AppSettings

    for index in range(KEEP_CLIPS + 10):
        (tmp_path / f"emovae-calm-{index:04d}.wav").write_bytes(b"x")
    prune(tmp_path)
    assert len(list(tmp_path.glob("emovae-*.wav"))) == KEEP_CLIPS
    longest_clip_bytes = AppSettings().max_generate_seconds * 24_000 * 2 + 44  # 16-bit mono WAV
    assert KEEP_CLIPS * longest_clip_bytes < 64 * 2**20  # the folder's worst case


def test_the_status_line_says_the_run_is_finishing_after_its_last_epoch(tmp_path):
    """Regression: after the last epoch the status kept saying "epoch N/N" for the ~25 s the score decoder
    spends describing every chunk, as if the run had hung."""
    from emovae.app.training import RunState, _LiveCallback

    state = RunState(run_id="r", owner="o", run_dir=tmp_path, total_epochs=2)
    live = _LiveCallback(state)
    live.on_epoch_end(2, {"val_total": 1.0})
    assert state.message == "epoch 2/2"
    live.on_finishing(0, 0, "evaluating best.pt")
    assert state.message == "finishing: evaluating best.pt"
    live.on_finishing(120, 369, "describing chunks")
    assert state.message == "finishing: describing chunks (120/369)"
