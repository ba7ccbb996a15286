"""Write the demo dataset: procedurally composed songs in the exact DEAM layout.

    python -m pipeline.make_demo --out assets/demo_deam --songs 40 --seconds 45 --seed 0

Deterministic from the seed; re-running with the same settings skips songs already written.
Point the preprocessing stage at the result exactly as at a real DEAM root.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from emovae.data.demo import make_demo_dataset, plan_demo_songs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.make_demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("assets/demo_deam"), help="dataset root to write (default: %(default)s)")
    parser.add_argument("--songs", type=int, default=40, help="number of songs (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=45.0, help="length of each excerpt in seconds (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same dataset (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes (default: up to 2)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        songs = plan_demo_songs(args.songs, args.seconds, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    root = make_demo_dataset(args.out, n_songs=args.songs, seconds=args.seconds, seed=args.seed, workers=args.workers)
    audio_seconds = sum(song.seconds for song in songs)
    print(f"demo dataset: {len(songs)} songs ({audio_seconds:.0f} s of audio) in {root} ({time.perf_counter() - start:.1f} s)")
    print(f"  ids {songs[0].song_id}..{songs[-1].song_id}; next: python -m pipeline.preprocess --data {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
