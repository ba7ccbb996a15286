"""Background runs belong to the session that started them; they report through the callbacks."""

from __future__ import annotations

import threading

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
