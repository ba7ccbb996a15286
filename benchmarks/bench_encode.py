"""The encode CLI end to end on a preprocessed folder, in every way a run can be spread, side by side.

    python -m pipeline.make_demo --out /tmp/demo --songs 40 --seconds 45     # 40 x 45 s = 30 min of audio
    python -m pipeline.preprocess --data /tmp/demo --out /tmp/processed --chunk-seconds 5
    nice python benchmarks/bench_encode.py --chunks /tmp/processed --work /tmp/bench_encode

Modes (each into a fresh output folder, the whole CLI timed: start-up, codec build, audio reading,
encoding, consolidation; ``--no-plots``):

* ``single``      one process, every core (what ``python -m pipeline.encode`` does);
* ``single-t1``   one process, one thread: the reference the multi-process runs must equal byte for byte,
                  since oneDNN's one-thread path rounds differently from its multi-thread one;
* ``torchrun``    ``torchrun --standalone --nproc_per_node N -m pipeline.encode`` (one thread a rank here);
* ``shards``      N ``--shard K/N`` processes started side by side, then ``--consolidate`` (a SLURM array);
* ``bf16``        one process, every core, ``--precision bf16`` (not run by default: on a CPU without native
                  bf16, such as the AVX2-only one this was measured on, it is emulated and ~30x slower;
                  ``benchmarks/bench_codec.py --precisions fp32 bf16`` measures it on a few chunks).

Prints wall time, x real time (audio-seconds per wall-second) overall and per process, the load
average before and after (the machine may be shared), whether each multi-process result equals
``single-t1`` byte for byte, and the largest latent difference and relative L2 error against ``single``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emovae import formats  # noqa: E402

MODES = ("single", "single-t1", "torchrun", "shards", "bf16")


def _cli(chunks: Path, out: Path, seconds: int, *extra: str) -> list[str]:
    return ["-m", "pipeline.encode", "--chunks", str(chunks), "--out", str(out), "--chunk-seconds", str(seconds),
            "--encodec-weights", "random", "--no-plots", *extra]


def _run(commands: list[list[str]], env: dict[str, str]) -> float:
    """Start ``commands`` together, wait for all; the wall time (a failure shows the command's stderr)."""
    started = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for command in commands]
    for proc, command in zip(procs, commands):
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-3000:]}")
    return time.perf_counter() - started


def run_mode(mode: str, chunks: Path, out: Path, seconds: int, nproc: int) -> tuple[float, int]:
    """Run one mode into ``out``; return (wall seconds, processes)."""
    shutil.rmtree(out, ignore_errors=True)
    py = [sys.executable]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if mode == "single":
        return _run([py + _cli(chunks, out, seconds)], env), 1
    if mode == "bf16":
        return _run([py + _cli(chunks, out, seconds, "--precision", "bf16")], env), 1
    if mode == "single-t1":
        return _run([py + _cli(chunks, out, seconds, "--threads", "1")], env), 1
    if mode == "torchrun":
        launcher = py + ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        return _run([launcher + _cli(chunks, out, seconds)], {**env, "OMP_NUM_THREADS": "1"}), nproc
    threads = str(max(1, len(os.sched_getaffinity(0)) // nproc))
    wall = _run([py + _cli(chunks, out, seconds, "--shard", f"{k}/{nproc}", "--threads", threads) for k in range(nproc)],
                env)
    return wall + _run([py + _cli(chunks, out, seconds, "--consolidate")], env), nproc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=Path, required=True, help="preprocess output folder")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (one sub-folder per mode)")
    parser.add_argument("--chunk-seconds", type=int, default=5)
    parser.add_argument("--nproc", type=int, default=2, help="processes of the torchrun and shards modes")
    parser.add_argument("--modes", nargs="+", default=[m for m in MODES if m != "bf16"], choices=MODES)
    args = parser.parse_args()

    table = pd.read_csv(formats.chunks_dir(args.chunks, args.chunk_seconds) / formats.CHUNK_METADATA_CSV)
    audio_s = len(table) * args.chunk_seconds
    print(f"{len(table)} chunks = {audio_s / 60:.1f} min of audio; {os.cpu_count()} cpus "
          f"({len(os.sched_getaffinity(0))} usable); load average before: {os.getloadavg()}")
    print(f"{'mode':>10s} {'procs':>5s} {'wall s':>7s} {'x real time':>11s} {'per process':>11s}  load after")
    walls = {}
    for mode in args.modes:
        wall, procs = run_mode(mode, args.chunks, args.work / mode, args.chunk_seconds, args.nproc)
        walls[mode] = wall
        print(f"{mode:>10s} {procs:5d} {wall:7.1f} {audio_s / wall:10.1f}x {audio_s / wall / procs:10.1f}x  "
              f"{os.getloadavg()[0]:.2f}", flush=True)

    def files(mode: str) -> list[bytes]:
        folder = args.work / mode
        return [path(folder, args.chunk_seconds).read_bytes()
                for path in (formats.latents_path, formats.labels_path, formats.codec_identity_path)]

    for mode in ("torchrun", "shards"):
        if mode in walls and "single-t1" in walls:
            print(f"{mode} == single-t1 byte for byte (latents, labels, codec): {files(mode) == files('single-t1')}")
    if "single" in walls:
        reference = np.load(formats.latents_path(args.work / "single", args.chunk_seconds))
        for mode in walls:
            if mode != "single":
                latents = np.load(formats.latents_path(args.work / mode, args.chunk_seconds))
                rel = np.linalg.norm(latents - reference) / np.linalg.norm(reference)
                print(f"{mode} vs single: max |diff| {np.abs(latents - reference).max():.2e}, relative L2 {rel:.2e}")


if __name__ == "__main__":
    main()
