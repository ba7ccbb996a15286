"""Encode preprocessed chunks into EnCodec latents: ``python -m pipeline.encode --chunks processed_data``.

Thin CLI over :func:`emovae.codec.encode.run_encode`; re-running resumes (only missing chunks are encoded).
Several processes share a run (see :mod:`emovae.codec.sharding` and the README's "Scaling out"):

    torchrun --nproc_per_node 4 -m pipeline.encode --chunks processed_data --out latents   # ranks split the songs
    python -m pipeline.encode --shard 2/4 ...   # part 2 of 4, from any scheduler; then:
    python -m pipeline.encode --consolidate ... # merge the finished parts
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emovae import formats
from emovae.codec import CodecMismatchError, CodecWeightsMissing
from emovae.codec.encode import EncodeConfig, EncodeResult, run_encode
from emovae.codec.sharding import ShardResult, ShardSpec, consolidate_shards, encode_shard, encode_with_torchrun
from emovae.distributed import DEFAULT_TIMEOUT_S, DistEnv, DistributedError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: this machine's cores shared among its torchrun ranks)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: encoder under bfloat16 autocast (fast only where the CPU/GPU has native bf16)")
    parser.add_argument("--no-prefetch", action="store_true", help="read audio in the encoding thread (no overlap)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shard", type=_shard_spec, default=None, metavar="K/N",
                       help="encode only part K (0-based) of N of the songs into its own shard folder; "
                            "merge with --consolidate once all N parts are done")
    group.add_argument("--consolidate", action="store_true",
                       help="merge the finished --shard parts into the outputs (no encoding, no codec needed)")
    parser.add_argument("--rank-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="under torchrun: seconds rank 0 waits for the slowest rank before it reports it")
    return parser.parse_args(argv)


def _shard_spec(text: str) -> ShardSpec:
    try:
        return ShardSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_config(args: argparse.Namespace) -> EncodeConfig:
    return EncodeConfig(chunks=args.chunks, out=args.out, chunk_seconds=args.chunk_seconds,
                        weights=args.encodec_weights, latent_kind=args.latent_kind, bandwidth=args.bandwidth,
                        seed=args.seed, batch_size=args.batch_size, device=args.device,
                        keep_silent=args.keep_silent, plots=not args.no_plots, threads=args.threads,
                        precision=args.precision, prefetch=not args.no_prefetch)


def run(args: argparse.Namespace) -> EncodeResult | ShardResult:
    """Pick the mode: torchrun rank, one --shard part, --consolidate, or the whole run in this process."""
    config, env = build_config(args), DistEnv.from_environ()
    if env.active:
        if args.shard is not None or args.consolidate:
            raise ValueError("--shard / --consolidate are for separately started processes; under torchrun each "
                             "rank takes part RANK/WORLD_SIZE and rank 0 consolidates by itself")
        return encode_with_torchrun(config, env, args.rank_timeout)
    if args.shard is not None:
        return encode_shard(config, args.shard)
    if args.consolidate:
        return consolidate_shards(config)
    return run_encode(config)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except (CodecWeightsMissing, CodecMismatchError, FileNotFoundError, ValueError, DistributedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, ShardResult):
        print(f"shard {result.spec}: {result.n_chunks} chunks in {result.folder} ({result.n_encoded} encoded now); "
              f"{len(result.issues)} issues")
        return 0
    print(f"codec {result.codec['codec_id']} ({result.codec['latent_kind']})")
    print(f"{result.n_rows} chunks in {result.latents_path} ({result.n_encoded} encoded now, {result.n_reused} reused)")
    print(f"labels: {result.labels_path}  identity: {result.codec_path}")
    if result.n_audio_changed or result.n_unstamped:
        print(f"re-encoded: {result.n_audio_changed} chunks whose wav changed since they were encoded, "
              f"{result.n_unstamped} whose earlier latent predates audio stamps (could not be checked)")
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
