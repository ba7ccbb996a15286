"""Time the music engine and the demo dataset generator; prints the figures for the README.

    python benchmarks/bench_music.py                 # synth timings (10 s at 24 kHz) + demo 40 x 45 s
    python benchmarks/bench_music.py --no-demo       # synth only
    taskset -c 0,1 python benchmarks/bench_music.py  # the project's 2-core budget on a bigger machine

Goal: 10 s of synth audio in <= 100 ms median on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

from emovae.data.demo import make_demo_dataset  # noqa: E402
from emovae.emotion import PRESETS  # noqa: E402
from emovae.music import create_melodic_music, create_piano_melody  # noqa: E402


def time_synth(function, seconds: float, repeats: int) -> list[float]:
    """Milliseconds per call over the four presets and a few seeds (the first call warms caches)."""
    function(0.5, 0.5, seconds, seed=0)
    times = []
    for repeat in range(repeats):
        for valence, arousal in PRESETS.values():
            start = time.perf_counter()
            function(valence, arousal, seconds, seed=repeat)
            times.append(1000 * (time.perf_counter() - start))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-demo", action="store_true", help="skip the demo dataset timing")
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--song-seconds", type=float, default=45.0)
    args = parser.parse_args()

    for function in (create_melodic_music, create_piano_melody):
        times = time_synth(function, args.seconds, args.repeats)
        print(f"{function.__name__:22s} {args.seconds:g} s @ 24 kHz: median {statistics.median(times):6.1f} ms, "
              f"min {min(times):6.1f} ms, max {max(times):6.1f} ms ({len(times)} runs; goal <= 100 ms)")
    if not args.no_demo:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            make_demo_dataset(folder, n_songs=args.songs, seconds=args.song_seconds, seed=0)
            wall = time.perf_counter() - start
        print(f"demo dataset {args.songs} x {args.song_seconds:g} s (44.1 kHz stereo MP3): {wall:.1f} s wall, "
              f"{args.songs * args.song_seconds / wall:.0f}x real time")


if __name__ == "__main__":
    main()
