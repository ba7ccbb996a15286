"""Encode preprocessed chunks into EnCodec latents: ``python -m pipeline.encode --chunks processed_data``.

Thin CLI over :func:`emovae.codec.encode.run_encode`; re-running resumes (only missing chunks are encoded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emovae import formats
from emovae.codec import CodecMismatchError, CodecWeightsMissing
from emovae.codec.encode import EncodeConfig, run_encode


def parse_args(argv: list[str] | None = None) -> EncodeConfig:
    parser = argparse.ArgumentParser(prog="python -m pipeline.encode", description=__doc__)
    parser.add_argument("--chunks", type=Path, default=Path(formats.DEFAULT_PROCESSED_DIR),
                        help="preprocess output folder (holds chunks_<S>s/metadata.csv)")
    parser.add_argument("--out", type=Path, default=Path(formats.DEFAULT_LATENT_DIR), help="output folder")
    parser.add_argument("--chunk-seconds", type=int, default=5, choices=formats.CHUNK_SECONDS_CHOICES)
    parser.add_argument("--encodec-weights", default="auto",
                        help="PATH to the 24 kHz checkpoint, 'pretrained', 'random' (explicit random init), or "
                             "'auto' ($EMOVAE_ENCODEC_WEIGHTS, then the torch hub cache / download)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --encodec-weights random")
    parser.add_argument("--latent-kind", choices=("continuous", "quantized"), default="continuous")
    parser.add_argument("--bandwidth", type=float, default=6.0, help="kbps, for --latent-kind quantized")
    parser.add_argument("--batch-size", type=int, default=None, help="chunks per forward pass (default: measured best)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--keep-silent", action="store_true", help="encode silent chunks instead of skipping them")
    parser.add_argument("--no-plots", action="store_true", help="skip the PCA latent plots")
    args = parser.parse_args(argv)
    return EncodeConfig(chunks=args.chunks, out=args.out, chunk_seconds=args.chunk_seconds,
                        weights=args.encodec_weights, latent_kind=args.latent_kind, bandwidth=args.bandwidth,
                        seed=args.seed, batch_size=args.batch_size, device=args.device,
                        keep_silent=args.keep_silent, plots=not args.no_plots)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        result = run_encode(config)
    except (CodecWeightsMissing, CodecMismatchError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"codec {result.codec['codec_id']} ({result.codec['latent_kind']})")
    print(f"{result.n_rows} chunks in {result.latents_path} ({result.n_encoded} encoded now, {result.n_reused} reused)")
    print(f"labels: {result.labels_path}  identity: {result.codec_path}")
    if result.labels_refreshed:
        print(f"labels refreshed: {result.labels_refreshed} chunks' valence/arousal/label source changed in the chunk "
              f"table since the last run; {result.labels_path} now matches it")
    for issue in result.issues:
        print(f"  {issue.action:9s} {issue.chunk_id}: {issue.problem} ({issue.detail}) [{issue.file}]")
    if result.issues:
        print(f"{len(result.issues)} issues ({len(result.skipped)} skipped); details in {result.report_path}")
    for plot in result.plots:
        print(f"plot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
