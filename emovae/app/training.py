"""Background training runs, each owned by the browser session that started it.

A hosted app is shared by strangers, so a run is bound to the Gradio session hash of the visitor
who started it: only that session can stop it or read its live state, and each run writes into a
fresh folder named by a random run id, so no visitor can overwrite another's checkpoints. The
run itself is a thread calling a ``launch(run_dir, callbacks, stop_event)`` function (in the app:
``emovae.train.train`` with a TrainConfig, after preparing the latents); live curves come from the training stage's callback
interface (``on_step`` / ``on_epoch_end``), never from scraping logs; the ``progress`` hook reports
the preparation before the first epoch (chunking, encoding).

Stop works in every phase: the training loop honours ``stop_event`` between steps, and the
preparation's progress hook raises :class:`RunStopped` once Stop was pressed, so an encoding run
frees the slot at its next batch instead of finishing first. On a shared host ``cooldown_s``
keeps one session from holding the slot back to back, and only the newest ``keep_runs`` finished
run folders are kept, so runs cannot fill the disk.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from emovae.progress import Progress

Launch = Callable[[Path, list, threading.Event, Progress], Any]


class RunAccessError(PermissionError):
    """A session asked for a run it does not own (or that does not exist)."""


class RunBusyError(RuntimeError):
    """No training slot is free, or this session already has a run going (or just had one)."""


class RunStopped(Exception):
    """Raised by the progress hook of a run whose owner pressed Stop during preparation."""


@dataclass
class RunState:
    """What the owner's UI polls: status, progress and the per-epoch history for the curves."""

    run_id: str
    owner: str
    run_dir: Path
    total_epochs: int
    status: str = "starting"  # starting | running | finished | stopped | failed
    epoch: int = 0
    step: int = 0
    message: str = ""
    history: list[dict] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running")

    def report(self, done: int, total: int, message: str) -> None:
        """The generic progress hook, shown while the run prepares its data; raises once Stop was pressed."""
        if self.stop_event.is_set():
            raise RunStopped
        self.message = f"{message} ({done}/{total})" if total else message

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    def checkpoints(self) -> list[Path]:
        return sorted(self.run_dir.glob("*.pt")) if self.run_dir.is_dir() else []


class _LiveCallback:
    """Adapter from the training stage's callback interface to a :class:`RunState`."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def on_step(self, step: int, metrics: dict) -> None:
        self.state.step = int(step)
        self.state.status = "running"

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        row = {"epoch": int(epoch)}
        row.update({k: float(v) for k, v in dict(metrics).items() if _is_number(v)})
        self.state.history.append(row)
        self.state.epoch = int(epoch)
        self.state.status = "running"
        self.state.message = f"epoch {epoch}/{self.state.total_epochs}"

    def on_finishing(self, done: int, total: int, message: str) -> None:
        """The end-of-run outputs (evaluation, the score decoder's ~25 s of describing chunks) get a status
        line too: before, the page said "epoch N/N" for that long as if the run had hung."""
        self.state.message = f"finishing: {message}" + (f" ({done}/{total})" if total else "")


def _is_number(value: Any) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


class TrainingRuns:
    """Registry of background runs with per-session ownership and a global concurrency cap."""

    def __init__(self, runs_dir: Path, max_parallel: int = 1, cooldown_s: float = 0.0, keep_runs: int = 20) -> None:
        self.runs_dir = Path(runs_dir)
        self.max_parallel = max_parallel
        self.cooldown_s = cooldown_s
        self.keep_runs = keep_runs
        self._runs: dict[str, RunState] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, owner: str, launch: Launch, total_epochs: int) -> RunState:
        """Start ``launch`` in a thread for ``owner``; refuse if a slot or this session is busy."""
        if not owner:
            raise RunAccessError("training needs a browser session; reload the page")
        with self._lock:
            active = [r for r in self._runs.values() if r.active]
            if any(r.owner == owner for r in active):
                raise RunBusyError("you already have a training run going; stop it or wait for it to finish")
            last_end = max((r.ended_at or 0.0 for r in self._runs.values() if r.owner == owner), default=0.0)
            wait = last_end + self.cooldown_s - time.time()
            if wait > 0:
                raise RunBusyError(f"this server allows one training run per session every {self.cooldown_s:g} s; "
                                   f"try again in {wait:.0f} s")
            if len(active) >= self.max_parallel:
                raise RunBusyError(
                    f"{len(active)} training run(s) already in progress on this server (limit {self.max_parallel}); try again later"
                )
            self._prune(keep=self.keep_runs - 1)  # room for the new one
            run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
            state = RunState(run_id=run_id, owner=owner, run_dir=self.runs_dir / run_id, total_epochs=total_epochs)
            state.run_dir.mkdir(parents=True, exist_ok=False)  # a fresh folder: nothing to overwrite
            self._runs[run_id] = state
            thread = threading.Thread(target=self._work, args=(state, launch), name=f"train-{run_id}", daemon=True)
            self._threads[run_id] = thread
        thread.start()
        return state

    def _prune(self, keep: int) -> None:
        """Delete the oldest run folders beyond ``keep`` (never an active run's; earlier processes' count too)."""
        active = {r.run_dir for r in self._runs.values() if r.active}
        folders = sorted((p for p in self.runs_dir.glob("*") if p.is_dir() and p not in active),
                         key=lambda p: p.stat().st_mtime)
        for old in folders[: max(len(folders) - max(keep, 0), 0)]:
            shutil.rmtree(old, ignore_errors=True)

    def _work(self, state: RunState, launch: Launch) -> None:
        state.status = "running"
        try:
            state.result = launch(state.run_dir, [_LiveCallback(state)], state.stop_event, state.report)
            state.status = "stopped" if state.stop_event.is_set() else "finished"
            state.message = f"{state.status} after epoch {state.epoch}"
        except RunStopped:
            state.status, state.message = "stopped", "stopped while preparing the data (finished encoding is kept)"
        except Exception as exc:  # the thread must record, not lose, the failure
            state.status = "failed"
            state.error = f"{type(exc).__name__}: {exc}"
            state.message = f"failed: {state.error}"
        finally:
            state.ended_at = time.time()

    def get(self, run_id: str, owner: str) -> RunState:
        """The run's state, only for its owner (an unknown id reads the same as a foreign one)."""
        state = self._runs.get(str(run_id or ""))
        if state is None or state.owner != owner:
            raise RunAccessError(f"no training run {run_id!r} belongs to this session")
        return state

    def stop(self, run_id: str, owner: str) -> RunState:
        """Ask the owner's run to stop after the current step; the training loop honours stop_event."""
        state = self.get(run_id, owner)
        if state.active:
            state.stop_event.set()
            state.message = "stopping after the current step…"
        return state

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Join the run's thread (tests and shutdown)."""
        thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)

    def owned_by(self, owner: str) -> list[RunState]:
        """This session's runs, oldest first."""
        return sorted((r for r in self._runs.values() if r.owner == owner), key=lambda r: r.started_at)


@dataclass
class RunView:
    """What the Training tab shows for one run (or for none)."""

    markdown: str
    percent: float
    history: pd.DataFrame
    active: bool

    @classmethod
    def of(cls, runs: TrainingRuns, run_id: str, owner: str) -> "RunView":
        if not run_id:
            return cls("No run yet.", 0.0, pd.DataFrame(), False)
        state = runs.get(run_id, owner)
        percent = 100.0 * min(state.epoch, state.total_epochs) / max(state.total_epochs, 1)
        text = f"Run **{state.run_id}** · {state.status} · epoch {state.epoch}/{state.total_epochs}"
        if state.message:
            text += f" · {state.message}"
        if state.error:
            text += f"\n\n⚠️ {state.error}"
        return cls(text, round(percent, 1), state.history_frame(), state.active)
