"""Where the generated texture's distance to real songs comes from: which part of the VAE is replaced by the real thing.

    python benchmarks/bench_texture.py --latents .cache/demo200/latent_representations .cache/demo200/vae_model

For a chunk-level VAE (``chunk_stats``), builds one chunk per training chunk, at its own emotion, from
each combination below and reports the Fréchet ratio per quadrant against the test songs (as
``bench_frechet.py`` does), by default on the feature groups the chunk level does not draw (flux and
one-second spread):

* texture from the prior (generation), statistics s from p(s | c)         -- what the app plays
* texture from the prior, the chunk's own s                               -- is p(s | c) to blame?
* texture from the posterior (the VAE's reconstruction, decoder noise drawn), the chunk's own s
                                                                          -- can the per-frame level hold it at all?
* the real chunk's texture, s from p(s | c)                               -- does the chunk level alone keep it?

Measured on the 200-song demo (README, *Generated vs real latents*): 5.4 / 6.0 / 3.5 / 3.1, 5.2 / 5.8 / 3.5
/ 3.3, 5.6 / 6.9 / 4.0 / 3.6 and 1.0 / 0.9 / 1.2 / 0.9: the per-frame level cannot reconstruct the slow
motion of the texture it is given, so no prior over z can sample it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from emovae.eval.frechet import quadrant_distances  # noqa: E402
from emovae.eval.probe import FEATURE_GROUPS, feature_columns, pooled_features  # noqa: E402
from emovae.model.checkpoint import load_checkpoint, recorded_guidance  # noqa: E402
from emovae.model.chunk_stats import compose, standardize  # noqa: E402
from emovae.train.dataset import iter_blocks, load_latent_dataset, load_split  # noqa: E402

SOURCES = {  # name -> (texture from, statistics from)
    "prior texture, p(s | c)": ("prior", "sampled"),
    "prior texture, own s": ("prior", "own"),
    "posterior texture, own s": ("posterior", "own"),
    "real texture, p(s | c)": ("real", "sampled"),
}


@torch.no_grad()
def build(model, x_raw: torch.Tensor, cond: torch.Tensor, texture_from: str, stats_from: str,
          generator: torch.Generator, guidance: float) -> np.ndarray:
    """Raw latents ``(B, C, T)`` assembled from the named texture and statistics (see the module docstring)."""
    n_frames = x_raw.shape[-1]
    if (texture_from, stats_from) == ("prior", "sampled"):  # the app's own path, guidance included
        return model.generate(cond, n_frames, generator=generator, guidance=guidance).numpy()
    texture, mean, log_sd = standardize(model.normalize(x_raw))
    own = torch.cat([mean, log_sd], dim=1)
    stats = own if stats_from == "own" else torch.cat(model.chunk_stats.sample(cond, n_frames, generator), dim=1)
    if texture_from != "real":
        if texture_from == "posterior":
            z_mean, z_logvar = model.encode(texture, cond)
        else:
            z_mean, z_logvar = model.prior(cond, model.config.latent_frames(n_frames))
        z = z_mean + torch.exp(0.5 * z_logvar) * torch.randn(z_mean.shape, generator=generator)
        decoded, logvar = model.decode_distribution(z, cond, n_frames, stats=stats)
        texture = decoded if logvar is None else decoded + torch.exp(0.5 * logvar) * torch.randn(decoded.shape, generator=generator)
    return model.denormalize(compose(texture, stats)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a training run folder (best.pt, split.json) of a chunk-level VAE")
    parser.add_argument("--latents", type=Path, required=True, help="the latents folder the run was trained on")
    parser.add_argument("--chunk-seconds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--groups", nargs="+", choices=FEATURE_GROUPS, default=["flux", "spread"])
    args = parser.parse_args()

    dataset = load_latent_dataset(args.latents, args.chunk_seconds)
    model, info = load_checkpoint(args.run / "best.pt", map_location="cpu")
    if model.chunk_stats is None:
        parser.error(f"{args.run / 'best.pt'} has no chunk level (model.chunk_stats); this diagnostic needs one")
    split = load_split(args.run / "split.json", dataset.labels)
    guidance = recorded_guidance(model.config, info)
    columns = feature_columns(args.groups, dataset.latents.shape[1])
    train_rows, test_rows = np.sort(split.train_index), np.sort(split.test_index)
    x_test, c_test = dataset.batch(test_rows)
    x_train, c_train = dataset.batch(train_rows)
    test = (pooled_features(x_test.numpy())[:, columns], c_test.numpy())
    reference = (pooled_features(x_train.numpy())[:, columns], c_train.numpy())
    print(f"{args.run}: groups {' '.join(args.groups)}, {len(train_rows)} training / {len(test_rows)} test chunks")
    for name, (texture_from, stats_from) in SOURCES.items():
        ratios = []
        for draw in range(args.draws):
            generator = torch.Generator().manual_seed(draw + 1)
            built = np.concatenate([build(model, *dataset.batch(rows), texture_from, stats_from, generator, guidance)
                                    for rows in iter_blocks(train_rows, 256)])
            report = quadrant_distances(reference, test, (pooled_features(built)[:, columns], c_train.numpy()))
            ratios.append({quadrant: row["ratio"] for quadrant, row in report.items()})
        cells = [f"{q} {np.mean([r[q] for r in ratios]):.2f}" if ratios[0][q] is not None else f"{q} -" for q in ratios[0]]
        print(f"  {name:26s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
