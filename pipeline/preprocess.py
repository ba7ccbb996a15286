"""Preprocess a DEAM root into labelled WAV chunks.

    python -m pipeline.preprocess --data <DEAM root> --out processed_data --chunk-seconds 5 10

Re-running resumes: songs already chunked are skipped. Exits non-zero only if nothing was produced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emovae import formats
from emovae.data.deam import DeamFormatError, DeamNotFoundError
from emovae.data.preprocess import (STATIC_FALLBACKS, PreprocessConfig, PreprocessConfigError, PreprocessResult,
                                     run_preprocess)
from emovae.data.run_lock import RunLockedError

MAX_LISTED = 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.preprocess", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="DEAM root: official layout or a flat folder with the same file names"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(formats.DEFAULT_PROCESSED_DIR), help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--chunk-seconds", type=int, nargs="+", default=[5], help="one or more chunk lengths in seconds (default: 5)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N songs, for quick runs")
    parser.add_argument("--no-plots", action="store_true", help="skip the VA distribution figures")
    parser.add_argument("--label-shift", type=float, default=0.0, metavar="SECONDS",
                        help="rater lag: label a chunk [s, e) with the dynamic ratings at [s+shift, e+shift) "
                             "(default 0, the labels as before; about 3 suits the real DEAM)")
    parser.add_argument("--static-fallback", choices=STATIC_FALLBACKS, default="raw",
                        help="label where no dynamic rating exists: the raw static rating (default) or the static "
                             "rating shifted by the mean (dynamic - static) offset of songs that have both")
    return parser.parse_args(argv)


def print_summary(result: PreprocessResult) -> None:
    print(
        f"{result.songs_total} songs: {result.songs_processed} processed, {result.songs_resumed} already done, "
        f"{len({item.song_id for item in result.skipped})} with problems ({result.wall_seconds:.1f} s)"
    )
    for chunk_set in result.chunk_sets.values():
        print(
            f"  {chunk_set.chunk_seconds} s: {chunk_set.n_chunks} chunks from {chunk_set.n_songs} songs "
            f"{chunk_set.label_sources} -> {chunk_set.metadata_csv}"
        )
    offsets = result.labels.get("static_vs_dynamic_offset", {})
    if offsets.get("songs"):
        print(f"  labels: dynamic windows shifted by {result.labels['label_shift_s']:g} s; static fallback "
              f"{result.labels['static_fallback']}; mean dynamic - static offset over {offsets['songs']} songs with both: "
              f"valence {offsets['valence']['mean']:+.3f} (sd {offsets['valence']['std']:.3f}), "
              f"arousal {offsets['arousal']['mean']:+.3f} (sd {offsets['arousal']['std']:.3f})")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    _print_some("problem(s)", [str(item) for item in result.skipped])
    _print_some("annotation row(s) skipped", result.load_issues)
    if result.plots:
        print(f"  plots in {result.plots[0].parent}")


def _print_some(title: str, lines: list[str], shown: int = MAX_LISTED) -> None:
    """List problems, but not thousands of them (metadata.json has the full report)."""
    if lines:
        print(f"  {len(lines)} {title}:")
    for line in lines[:shown]:
        print(f"    {line}")
    if len(lines) > shown:
        print(f"    ... and {len(lines) - shown} more: see metadata.json in the chunks folder")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = PreprocessConfig(
            args.data, args.out, tuple(args.chunk_seconds), args.workers, args.limit, make_plots=not args.no_plots,
            label_shift_s=args.label_shift, static_fallback=args.static_fallback,
        )
        result = run_preprocess(config)
    except (PreprocessConfigError, DeamNotFoundError, DeamFormatError, RunLockedError) as exc:  # bad option / no DEAM
        # root / bad CSV / another run still writes to --out
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    if not result.ok:
        print("error: no chunk could be produced; see the problems above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
