"""How long does one training epoch over 16,000 five-second chunks take on 2 CPU cores? (target <= 30 s)

    python benchmarks/bench_train.py                       # 16,000 chunks, 3 runs, 2 threads
    python benchmarks/bench_train.py --chunks 2000 --runs 1 --batch-size 256

Runs the real training stage (:func:`emovae.train.train`, memory-mapped ``latents_5s.npy`` in the exact
encode-stage format, written once by :mod:`emovae.train.synthetic` into ``--data``) for one epoch and
stops it from a callback at the epoch's end, so the final evaluation is not timed. The figure is the
epoch's optimisation time as the loop records it (``history.csv`` column ``seconds``); the whole call
(normalisation statistics, validation, checkpoints) is printed beside it. Each figure is the best of
``--runs``, because other processes on a shared machine only ever slow a run down; the load average
(``uptime``) is printed with it so the figures can be judged.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

import torch  # noqa: E402

from emovae import formats  # noqa: E402
from emovae.train import Callback, TrainConfig, train  # noqa: E402
from emovae.train.synthetic import write_synthetic_latents  # noqa: E402

CHUNKS_PER_SONG = 10


class StopAtEpochEnd(Callback):
    """Sets the stop event after the first epoch: the loop then saves last.pt and skips the evaluation."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        self.event.set()


def ensure_data(folder: Path, n_train_chunks: int, seconds: int) -> tuple[Path, float]:
    """Synthetic latents whose song-level split leaves exactly ``n_train_chunks`` for training."""
    n_train_songs = -(-n_train_chunks // CHUNKS_PER_SONG)
    n_val_songs = max(2, n_train_songs // 16)
    n_songs = n_train_songs + n_val_songs
    val_fraction = (n_val_songs - 0.5) / n_songs  # the split takes ceil(fraction * songs) songs
    if not formats.latents_path(folder, seconds).exists():
        print(f"writing {n_songs * CHUNKS_PER_SONG} synthetic chunks to {folder} (once) ...", flush=True)
        write_synthetic_latents(folder, n_songs=n_songs, chunks_per_song=CHUNKS_PER_SONG, chunk_seconds=seconds)
    return folder, val_fraction


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=16_000, help="training chunks in the epoch")
    parser.add_argument("--seconds", type=int, default=5, choices=formats.CHUNK_SECONDS_CHOICES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="default: TrainConfig's")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder for the synthetic latents (default ~/.cache/emovae/bench_train_<chunks>x<S>s)")
    args = parser.parse_args()

    data = args.data or Path.home() / ".cache" / "emovae" / f"bench_train_{args.chunks}x{args.seconds}s"
    latents, val_fraction = ensure_data(data, args.chunks, args.seconds)
    base = TrainConfig(latents=str(latents), chunk_seconds=args.seconds, epochs=1, val_fraction=val_fraction,
                       num_threads=args.threads, device="cpu", write_audio=False)
    if args.batch_size:
        base = base.with_overrides(batch_size=args.batch_size)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"{args.threads} threads; batch {base.batch_size}; model {base.model}")

    epochs, walls = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench_train_") as out:
            stop = threading.Event()
            before = load_average()
            started = time.perf_counter()
            result = train(base.with_overrides(out=out), callbacks=[StopAtEpochEnd(stop)], stop_event=stop)
            walls.append(time.perf_counter() - started)
            row = result.history.iloc[-1]
            epochs.append(float(row["seconds"]))
            n_train = int(row["step"]) * base.batch_size
        print(f"run {run + 1}: epoch {epochs[-1]:.1f} s ({result.global_step} steps, ~{min(n_train, args.chunks)} "
              f"chunks), whole call {walls[-1]:.1f} s | before: {before}", flush=True)

    print(f"\nbest of {args.runs}: {min(epochs):.1f} s per epoch over {args.chunks} chunks of {args.seconds} s "
          f"({args.chunks / min(epochs):.0f} chunks/s; target <= 30 s), whole call {min(walls):.1f} s")
    print(f"load after: {load_average()}")


if __name__ == "__main__":
    main()
