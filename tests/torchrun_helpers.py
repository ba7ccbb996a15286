"""Start ``torchrun`` (as ``python -m torch.distributed.run``) for the multi-process tests, and always clean up.

Every process a test starts dies with it: torchrun gets ``PR_SET_PDEATHSIG`` (it dies if pytest does)
and its own session, and ``stop`` kills that session plus every worker pid the run announced.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PID_LINE = re.compile(r"\(rank (\d+), pid (\d+)\)")


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def torchrun(module_args: list[str], nproc: int = 2) -> subprocess.Popen:
    """``torchrun --standalone --nproc_per_node nproc -m <module_args>``, one torch thread per worker."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "--monitor-interval=0.2", "-m", *module_args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_die_with_parent)


def stop(proc: subprocess.Popen, pids: list[int] = ()) -> None:
    """Kill torchrun's session and any announced worker still alive (no-op for what already exited)."""
    for pid in [proc.pid, *pids]:
        try:
            os.killpg(pid, signal.SIGKILL) if pid == proc.pid else os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait(timeout=30)
