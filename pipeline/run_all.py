"""Run the whole pipeline: dataset -> chunks -> EnCodec latents -> VAE -> estimator/map -> music.

    python -m pipeline.run_all --data /path/to/DEAM --work runs/deam
    python -m pipeline.run_all --demo --encodec-weights random --batch-size 16 --epochs 40 \
        --work .cache/demo-run --bundle checkpoints/demo      # rebuild the app's embedded default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emovae.workflow import WorkflowConfig, run_workflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="DEAM root (official nested layout or a flat folder)")
    source.add_argument("--demo", action="store_true", help="generate the demo dataset instead of reading DEAM")
    parser.add_argument("--work", type=Path, default=Path("."), help="folder for processed_data/, latent_representations/, ...")
    parser.add_argument("--demo-songs", type=int, default=40)
    parser.add_argument("--demo-seconds", type=float, default=45.0)
    parser.add_argument("--chunk-seconds", type=int, default=5, choices=(5, 10))
    parser.add_argument("--encodec-weights", default="auto", help="auto | pretrained | random | PATH (see pipeline.encode)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size (default: pipeline.train's)")
    parser.add_argument("--descriptor-weight", type=float, default=None,
                        help="weight of the descriptor term in training (default: pipeline.train's; see README)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bundle", type=Path, default=None, help="also write the app's embedded default here")
    args = parser.parse_args(argv)
    try:
        config = WorkflowConfig(work_dir=args.work, data_root=args.data, demo=args.demo, demo_songs=args.demo_songs,
                                demo_seconds=args.demo_seconds, seed=args.seed, chunk_seconds=args.chunk_seconds,
                                encodec_weights=args.encodec_weights, epochs=args.epochs, batch_size=args.batch_size,
                                descriptor_weight=args.descriptor_weight, device=args.device,
                                bundle_dir=args.bundle)
        result = run_workflow(config, progress=lambda done, total, name: print(f"[{done + 1}/{total}] {name}", flush=True))
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"run_all: {exc}", file=sys.stderr)
        return 2
    print(f"checkpoint: {result.checkpoint}\nestimator:  {result.estimator}\nlatent map: {result.latent_map}")
    if result.bundle_dir:
        print(f"bundle:     {result.bundle_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
