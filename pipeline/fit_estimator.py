"""Fit the emotion estimator (librosa features -> ridge per axis) on labelled chunks.

    python -m pipeline.fit_estimator --chunks processed_data --chunk-seconds 5 --split vae_model/split.json \
        --out vae_model/estimator.json

--split (a training run's split.json) fits on its training songs only and reports R^2 on its test
songs: an estimator that judges generated music must not have seen the songs it is compared with.

--chunks is the preprocess output folder (its chunks_<S>s/ is used) or a chunks_<S>s folder itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from emovae import formats
from emovae.eval.estimator import fit_estimator_from_chunks
from emovae.io import read_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.fit_estimator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=Path, default=Path(formats.DEFAULT_PROCESSED_DIR), help="preprocess output or a chunks_<S>s folder (default: %(default)s)")
    parser.add_argument("--chunk-seconds", type=int, default=5, choices=formats.CHUNK_SECONDS_CHOICES, help="which chunk set (default: 5)")
    parser.add_argument("--alpha", type=float, default=1.0, help="ridge regularisation strength (default: 1.0)")
    parser.add_argument("--max-clips", type=int, default=None, help="fit on a random subset of at most N chunks")
    parser.add_argument("--split", type=Path, default=None, help="a training run's split.json: fit on its training songs, score its test songs")
    parser.add_argument("--out", type=Path, default=Path("estimator.json"), help="output JSON (default: %(default)s)")
    return parser.parse_args(argv)


def resolve_chunks_dir(path: Path, chunk_seconds: int) -> Path:
    """Accept either the preprocess folder or the chunk folder inside it."""
    nested = formats.chunks_dir(path, chunk_seconds)
    return nested if (nested / formats.CHUNK_METADATA_CSV).is_file() else path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = resolve_chunks_dir(args.chunks, args.chunk_seconds)
    bar = tqdm(desc="features", unit="chunk")

    def progress(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.update(done - bar.n)  # update() honours tqdm's redraw interval; refresh() would redraw every chunk

    try:
        split = read_json(args.split) if args.split is not None else {}
        estimator = fit_estimator_from_chunks(folder, alpha=args.alpha, max_clips=args.max_clips, progress=progress,
                                              train_songs=split.get("train_songs"), test_songs=split.get("test_songs"))
    except (FileNotFoundError, ValueError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    estimator.save(args.out)
    t = estimator.training
    print(f"fitted on {t['n_clips']} chunks from {folder}: R^2 valence {t['valence_r2']:.3f}, arousal {t['arousal_r2']:.3f} -> {args.out}")
    if "test_valence_r2" in t:
        print(f"  on {t['n_test_clips']} test-song chunks: R^2 valence {t['test_valence_r2']:.3f}, arousal {t['test_arousal_r2']:.3f}")
    for problem in t.get("skipped", []):
        print(f"  skipped {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
