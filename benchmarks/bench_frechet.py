"""Generated vs real latents per emotion quadrant (Fréchet ratio), for one or more training runs side by side.

For each run folder (``best.pt`` and ``split.json``, as the training stage writes them) and the latents
it was trained on, draws one VAE sample per training chunk at that chunk's own emotion and reports,
per quadrant, FD(generated, held-out songs) / FD(training songs, held-out songs) against both the
validation songs (the side a change of model may be chosen on) and the test songs (the side it is
reported on). It is exactly the training stage's evaluation
(:func:`emovae.train.evaluate.frechet_at_training_conditions`), so a run's ``metrics.json`` and this
agree; use it to compare runs, or to re-measure a run trained before the evaluation changed.

Goal (issue 11): ratio <= 2 in every quadrant that has held-out chunks. ``--groups`` judges only some of
the feature groups, e.g. ``flux spread``: the ones the VAE's chunk level does not model directly (it draws
each channel's mean and spread), so what the per-frame level makes of a chunk is judged on its own.

    python benchmarks/bench_frechet.py --latents .cache/demo-run/latent_representations .cache/demo-run/vae_model
    python benchmarks/bench_frechet.py --latents .cache/demo-run/latent_representations .cache/demo-run/vae_model --groups flux spread
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from emovae.model.checkpoint import load_checkpoint, recorded_guidance  # noqa: E402
from emovae.train.dataset import load_latent_dataset, load_split  # noqa: E402
from emovae.eval.probe import FEATURE_GROUPS, feature_columns  # noqa: E402
from emovae.train.evaluate import dataset_features, frechet_at_training_conditions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders (best.pt, split.json)")
    parser.add_argument("--latents", type=Path, required=True, help="the latents folder the runs were trained on")
    parser.add_argument("--chunk-seconds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--groups", nargs="+", choices=FEATURE_GROUPS, default=list(FEATURE_GROUPS),
                        help="feature groups to judge (default: all four, as the training stage does)")
    args = parser.parse_args()

    dataset = load_latent_dataset(args.latents, args.chunk_seconds)
    columns = None if list(args.groups) == list(FEATURE_GROUPS) else feature_columns(args.groups, dataset.latents.shape[1])
    for run in args.runs:
        model, info = load_checkpoint(run / "best.pt", map_location="cpu")
        split = load_split(run / "split.json", dataset.labels)
        train_rows = np.sort(split.train_index)
        sides = {side: (np.sort(rows), dataset_features(dataset, np.sort(rows)))
                 for side, rows in (("val", split.val_index), ("test", split.test_index)) if len(rows)}
        guidance = recorded_guidance(model.config, info)
        report = frechet_at_training_conditions(model, dataset, train_rows, dataset_features(dataset, train_rows), sides,
                                                args.seed, torch.device("cpu"), guidance, args.draws,
                                                columns=columns)
        print(f"{run} (best epoch {info.get('epoch')}):")
        for side, quadrants in report.items():
            cells = [f"{name} {row['ratio']:.2f} (n {row['n_test']})" if row["ratio"] is not None
                     else f"{name} - (n {row['n_test']})" for name, row in quadrants.items()]
            print(f"  {side:4s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
