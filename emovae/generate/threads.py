"""Run small torch inference on a dedicated thread with its own intra-op thread count.

Why: generation's torch work (a tiny VAE; the EnCodec decoder on one clip) gains little from
splitting each op over cores, and when more runnable threads than cores exist the intra-op
threads wait on each other. Measured on 2 cores (benchmarks/bench_generate.py --compare-threads):

=====================  ================  ===================
10 s of audio          1 thread          2 threads
=====================  ================  ===================
VAE sampling, load ~4  ~2 ms             100-250 ms
VAE sampling, load ~2  2.6 ms            3.8 ms
EnCodec decode, ~4     8.4x real time    0.7x real time
EnCodec decode, ~2     7.7x real time    12.2x real time
=====================  ================  ===================

One thread loses at most ~1.6x on a quiet machine and avoids a >10x collapse on a busy one (the
app serves concurrent requests on 2 cores), so it is the default. Torch's thread count is per
thread (OpenMP), so a worker set to one thread leaves the caller's setting (the app's training
runs, for instance) alone. One worker also serialises requests that share a model.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import torch

T = TypeVar("T")


class TorchWorker:
    """``run(fn, *args)`` executes ``fn`` on a private thread using ``threads`` intra-op threads."""

    def __init__(self, threads: int = 1, name: str = "emovae-torch"):
        if int(threads) < 1:
            raise ValueError(f"threads={threads!r} must be >= 1")
        self.threads = int(threads)
        self._pool = ThreadPoolExecutor(1, name, initializer=torch.set_num_threads, initargs=(self.threads,))

    def run(self, fn: Callable[..., T], *args) -> T:
        return self._pool.submit(fn, *args).result()


def cpu_worker(device: torch.device, threads: int | None) -> TorchWorker | None:
    """A worker for CPU inference, or None (run in the caller's thread) on GPU or when ``threads`` is None."""
    return TorchWorker(threads) if device.type == "cpu" and threads is not None else None
