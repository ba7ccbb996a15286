"""One preprocess run per output folder at a time, and workers that never outlive their run.

Why: a SIGKILLed run used to leave its pool (fork server, resource tracker, two workers) alive; the
workers went on writing chunks into the folder a quick re-run was writing too. Two guards fix it:

* :func:`exclusive_run` holds an exclusive ``flock`` on ``<out>/.preprocess.lock`` (which names the
  owner's pid) for the whole run, and refuses to start while the workers of an earlier run still
  hold their shared lock on ``<out>/.preprocess.workers.lock``. ``flock`` locks vanish with the
  process that holds them, however it dies, so a crash never leaves a stale lock behind.
* :func:`init_worker` (the pool's initializer) makes each worker exit as soon as the run's main
  process is gone. The workers' parent is the fork server, not the run, so ``PR_SET_PDEATHSIG``
  would not fire; the worker watches the run's pid instead.

POSIX only (``fcntl``), like the fork-server pool it guards.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import threading
import time
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".preprocess.lock"
WORKERS_LOCK_NAME = ".preprocess.workers.lock"
_POLL_SECONDS = 0.2  # parent check where pidfd_open is missing (non-Linux)
_held_by_worker: list[int] = []  # the worker's open lock descriptor: the shared lock lives as long as it


class RunLockedError(RuntimeError):
    """Another run (or the still-running workers of a killed one) is writing to the same folder."""


@contextlib.contextmanager
def exclusive_run(out_dir: Path) -> Iterator[Path]:
    """Hold the folder's run lock for the block; yield the path the workers lock (see :func:`init_worker`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = out_dir / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        previous = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        _lock_or_refuse(fd, f"{out_dir}: another preprocess run (pid {previous}, see {lock}) is still writing here; "
                            f"wait for it to finish or stop it, then re-run")
        workers = out_dir / WORKERS_LOCK_NAME
        _ensure_no_workers(workers, out_dir, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield workers
    finally:
        os.close(fd)  # releases the lock


def init_worker(run_pid: int, workers_lock: Path) -> None:
    """Pool initializer: take the shared workers' lock, and exit when process ``run_pid`` is gone."""
    fd = os.open(workers_lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held_by_worker.append(fd)
    threading.Thread(target=_exit_when_gone, args=(run_pid,), name="exit-with-run", daemon=True).start()


def _ensure_no_workers(workers: Path, out_dir: Path, previous: str) -> None:
    fd = os.open(workers, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock_or_refuse(fd, f"{out_dir}: worker processes of an earlier preprocess run (started by pid {previous}) are "
                            f"still writing here; they stop within a second of their run's end, so wait a moment and re-run")
    finally:
        os.close(fd)


def _lock_or_refuse(fd: int, message: str) -> None:
    """Take ``fd``'s exclusive lock without waiting, or raise :class:`RunLockedError` with ``message``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RunLockedError(message) from None


def _exit_when_gone(pid: int) -> None:
    """Block until ``pid`` has exited (a zombie counts), then end this process at once.

    ``os._exit``: the worker is mid-song and nothing it holds needs flushing; every file it writes
    is atomic, and the next run deletes the temporary files such an exit can leave.
    """
    try:
        if hasattr(os, "pidfd_open"):
            select.select([os.pidfd_open(pid)], [], [])  # readable once the process has exited
        else:
            while True:
                os.kill(pid, 0)
                time.sleep(_POLL_SECONDS)
    except ProcessLookupError:
        pass
    os._exit(1)

