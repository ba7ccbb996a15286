"""Benchmark the preprocessing stage: seconds of audio processed per wall-clock second.

    python benchmarks/bench_preprocess.py                      # demo dataset, 40 songs x 45 s, 2 workers
    python benchmarks/bench_preprocess.py --data /path/to/DEAM --limit 100
    python benchmarks/bench_preprocess.py --breakdown          # where one worker's time goes, per phase

The goal is >= 200x real time on 2 cores for the whole run (start-up, decoding, resampling, WAV
writing, metadata and plots), measured on a fresh output folder so nothing is resumed. Dataset
generation is not timed: it stands in for data that already exists on disk.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emovae.audio import load_audio, write_wav  # noqa: E402
from emovae.data.deam import load_deam  # noqa: E402
from emovae.data.preprocess import PreprocessConfig, run_preprocess  # noqa: E402

GOAL_REALTIME_FACTOR = 200.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an existing DEAM root (default: generate the demo dataset)")
    parser.add_argument("--songs", type=int, default=40, help="demo songs to generate (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=45.0, help="demo song length (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N songs of --data")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-seconds", type=int, nargs="+", default=[5])
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time decode+resample vs WAV writing on a few songs"
    )
    return parser.parse_args()


def worker_cpu_seconds() -> float | None:
    """CPU used by the pool workers (Linux): they are children of the fork server, which reaps them."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def make_demo_in_subprocess(root: Path, songs: int, seconds: float) -> Path:
    """Generate the demo dataset in its own process, so this one starts the stage as cold as the CLI
    does (the generator's process pool would otherwise leave its own fork server behind)."""
    code = (
        "import sys; from emovae.data.demo import make_demo_dataset as make;"
        " make(sys.argv[1], n_songs=int(sys.argv[2]), seconds=float(sys.argv[3]), seed=0)"
    )
    subprocess.run([sys.executable, "-c", code, str(root), str(songs), str(seconds)], check=True, cwd=REPO)
    return root


def phase_breakdown(data_root: Path, chunk_seconds: int, songs: int = 5) -> None:
    """Serial per-phase timing of a few songs (after a warm-up), to see what to optimise."""
    dataset = load_deam(data_root)
    files = [dataset.audio_path(s) for s in dataset.song_ids() if dataset.audio_path(s).is_file()][: songs + 1]
    load_audio(files[0])  # warm-up: lazy imports
    decode = write = audio_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for file in files[1:]:
            t0 = time.perf_counter()
            audio = load_audio(file)
            t1 = time.perf_counter()
            length = chunk_seconds * 24_000
            for index in range(len(audio) // length):
                write_wav(Path(tmp) / f"{index}.wav", audio[index * length : (index + 1) * length])
            t2 = time.perf_counter()
            decode, write, audio_s = decode + t1 - t0, write + t2 - t1, audio_s + len(audio) / 24_000
    print(f"per-phase, one core, {len(files) - 1} songs ({audio_s:.0f} s audio):")
    print(f"  decode + mono + resample: {decode:.3f} s ({audio_s / decode:.0f}x real time)")
    print(f"  write {chunk_seconds} s WAV chunks:     {write:.3f} s ({audio_s / write:.0f}x real time)")


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as tmp:
        data_root = args.data
        if data_root is None:
            t0 = time.perf_counter()
            data_root = make_demo_in_subprocess(Path(tmp) / "demo", args.songs, args.seconds)
            took = time.perf_counter() - t0
            print(f"demo dataset: {args.songs} songs x {args.seconds:g} s generated in {took:.1f} s (not timed)")
        config = PreprocessConfig(
            data_root,
            Path(tmp) / "processed",
            tuple(args.chunk_seconds),
            workers=args.workers,
            limit=args.limit,
            make_plots=not args.no_plots,
            show_progress=False,
        )
        load = os.getloadavg()[0]
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = run_preprocess(config)
        wall, main_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        workers_cpu = worker_cpu_seconds() if args.workers > 1 else 0.0
        factor = result.audio_seconds / wall
        print(
            f"preprocess: {result.songs_processed} songs, {result.audio_seconds:.0f} s of audio -> {result.n_chunks}"
            f" chunks (chunk lengths {list(config.chunk_seconds)}) with {args.workers} workers in {wall:.2f} s"
            f" (1-min load average before the run: {load:.1f} on {os.cpu_count()} cores)"
        )
        verdict = "OK" if factor >= GOAL_REALTIME_FACTOR else "BELOW GOAL"
        print(f"throughput: {factor:.0f}x real time (goal >= {GOAL_REALTIME_FACTOR:.0f}x) -> {verdict}")
        if workers_cpu is not None:  # on a shared machine wall time includes waiting for other people's jobs
            total_cpu = main_cpu + workers_cpu
            print(
                f"cpu: {total_cpu:.2f} s in all (main {main_cpu:.2f} s, workers incl. start-up {workers_cpu:.2f} s)"
                f" = {result.audio_seconds / total_cpu:.0f}x real time per busy core"
            )
        if args.breakdown:
            phase_breakdown(data_root, config.chunk_seconds[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
