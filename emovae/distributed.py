"""torch.distributed as the stages use it: which process am I, the process group, and a barrier that names who is missing.

The launcher is PyTorch's own ``torchrun``: it starts the processes, sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``, and tears every worker down
(on every node) when one of them dies. This module only reads that environment, so a stage started
without torchrun sees a world of one and runs exactly as it always did.

Why a timeout on everything: a rank that dies is caught by torchrun's agent, but one that hangs (a stuck
file system, a lost node) is not; every collective here therefore runs under ``timeout_s`` and the gloo
barrier reports *which* ranks did not arrive.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 1800.0
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


class DistributedError(RuntimeError):
    """A multi-process run cannot go on (bad launcher environment, or a rank that never arrived)."""


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the run; the default is a world of one (no torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "DistEnv":
        """Read torchrun's variables; a missing ``WORLD_SIZE`` means a plain single process."""
        environ = os.environ if environ is None else environ
        if "WORLD_SIZE" not in environ:
            return cls()
        values = {}
        for key in ENV_KEYS:
            raw = environ.get(key, "1" if key == "LOCAL_WORLD_SIZE" else "0")
            try:
                values[key] = int(raw)
            except ValueError:
                raise DistributedError(f"environment variable {key}={raw!r} is not an integer; "
                                       "start the stage with torchrun, which sets it") from None
        env = cls(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
        if not (env.world_size >= 1 and 0 <= env.rank < env.world_size and 0 <= env.local_rank < env.local_world_size):
            raise DistributedError(f"inconsistent torchrun environment {env}: need 0 <= RANK < WORLD_SIZE and "
                                   "0 <= LOCAL_RANK < LOCAL_WORLD_SIZE")
        return env


def cores_per_process(env: DistEnv | None = None) -> int:
    """The cores this process may use, shared evenly with the other ranks on its machine."""
    env = env or DistEnv.from_environ()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, env.local_world_size))


@contextlib.contextmanager
def process_group(env: DistEnv, backend: str = "gloo", timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[DistEnv]:
    """Join the run's process group for the block (nothing to do for a world of one), then leave it together.

    After a block that ended normally every rank waits at a barrier before the group is destroyed: rank 0
    alone writes the final files, and a rank that tore its gloo transport down and exited meanwhile was
    seen to abort at interpreter exit (SIGABRT, "terminate called without an active exception"), which
    torchrun reports as a failed run. After an exception the group is destroyed at once (waiting for
    ranks that may never arrive would only turn the error into a timeout).
    """
    if not env.active or dist.is_initialized():
        yield env
        return
    dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size,
                            timeout=datetime.timedelta(seconds=float(timeout_s)))
    try:
        yield env
        barrier("the run (rank 0 writes the final files)", timeout_s)
    finally:
        dist.destroy_process_group()


def rank_device(device: torch.device, env: DistEnv | None = None) -> torch.device:
    """One GPU per process (its local rank) under torchrun; CPU processes share the machine's cores."""
    env = env or DistEnv.from_environ()
    return torch.device("cuda", env.local_rank) if env.active and device.type == "cuda" else device


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes (the field's defaults)."""
    return "nccl" if device.type == "cuda" else "gloo"


def barrier(what: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Wait until every rank got here; on gloo, a rank that does not arrive in time is named.

    ``what`` says what the ranks were doing, so the error tells the user which step to look at.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    timeout = datetime.timedelta(seconds=float(timeout_s))
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timeout, wait_all_ranks=True)
        else:
            dist.barrier()
    except RuntimeError as exc:
        raise DistributedError(f"rank {dist.get_rank()}: not every rank finished {what} within {timeout_s:g} s "
                               f"({exc}); see the failing rank's own log above") from None


__all__ = ["DEFAULT_TIMEOUT_S", "DistEnv", "DistributedError", "backend_for", "barrier", "cores_per_process",
           "process_group", "rank_device"]
