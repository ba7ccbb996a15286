"""Evidence that the VAE learned something: reconstruction against a trivial baseline, and emotion control.

* Reconstruction: validation MSE (through the posterior mean, in normalised units) against predicting
  each channel's training mean, i.e. the MSE of a model that ignores the input. With the VAE's chunk
  level a chunk's own channel means and spreads are part of its code (256 numbers the decoder is given,
  outside the per-frame bottleneck), so this baseline, which has neither, is the weaker for it.
* Conditioning: the latent probe of :mod:`emovae.eval.probe`, fitted on the training songs, scored on
  the test songs (its ceiling), then applied to chunks the VAE generates on a 5x5 grid of targets.
* Distribution: Fréchet distance of generated vs test-song latents per emotion quadrant, as a ratio
  to the real training-vs-test distance (:mod:`emovae.eval.frechet`). The generated set is drawn at
  the training chunks' own conditions, one sample each (a seeded subset of at most
  ``frechet_limit``), and compared with the same training chunks as the yardstick, so both sides
  have the same size and the same emotions: a model that sampled exactly like the training songs
  would score ~1. (Drawn on the 5x5 grid instead, as before, a quadrant held ~25 generated
  chunks at other emotions than its real ones, and the estimate's small-sample bias alone put
  real training chunks resampled at the grid's size at 1.1-2.1.) The ratio is the mean over
  ``frechet_draws`` draws.

Runs without a test split (older runs) fall back to the validation songs and say so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from emovae.eval.frechet import frechet_at_conditions
from emovae.eval.probe import (
    ConditioningResult,
    conditioning_metrics,
    emotion_grid,
    fit_probe,
    pooled_features,
    spearman_per_axis,
)
from emovae.model.vae import ConditionalVAE
from emovae.train.dataset import LatentDataset, iter_blocks


def dataset_features(dataset: LatentDataset, index: np.ndarray, block: int = 512) -> np.ndarray:
    return np.concatenate([pooled_features(dataset.latents[np.sort(rows)]) for rows in iter_blocks(index, block)])


@torch.no_grad()
def reconstruction_metrics(model: ConditionalVAE, dataset: LatentDataset, index: np.ndarray,
                           batch_size: int, device: torch.device) -> dict[str, float]:
    """Validation MSE through the posterior mean vs the per-channel-mean baseline (normalised units)."""
    model.eval()
    recon_sum = baseline_sum = 0.0
    count = 0
    for rows in iter_blocks(index, batch_size):
        x, cond = dataset.batch(rows)
        x, cond = x.to(device), cond.to(device)
        target = model.normalize(x)
        recon_sum += torch.sum((model.normalize(model.reconstruct(x, cond)) - target) ** 2).item()
        baseline_sum += torch.sum(target**2).item()  # the training mean is 0 after normalisation
        count += target.numel()
    recon, baseline = recon_sum / count, baseline_sum / count
    return {"val_mse": recon, "baseline_mse": baseline, "mse_ratio": recon / baseline if baseline else float("nan")}


def evaluate(model: ConditionalVAE, dataset: LatentDataset, train_index: np.ndarray, val_index: np.ndarray,
             batch_size: int, device: torch.device, grid_size: int = 5, samples_per_target: int = 4,
             seed: int = 0, test_index: np.ndarray | None = None, guidance: float = 1.0,
             frechet_draws: int = 3, frechet_limit: int = 2000) -> tuple[dict[str, Any], ConditioningResult]:
    """All learning evidence as one JSON-ready dict (plus the raw conditioning points for plotting)."""
    metrics: dict[str, Any] = dict(reconstruction_metrics(model, dataset, val_index, batch_size, device))
    conditions = dataset.conditions
    held_out = "test" if test_index is not None and len(test_index) else "val"
    train_rows = np.sort(train_index)
    held_rows = np.sort(test_index if held_out == "test" else val_index)
    train_features, held_features = dataset_features(dataset, train_rows), dataset_features(dataset, held_rows)
    probe = fit_probe(train_features, conditions[train_rows])
    ceiling = spearman_per_axis(conditions[held_rows], probe.predict(held_features))
    valence_levels, arousal_levels = emotion_grid(conditions[train_rows], grid_size)
    result = conditioning_metrics(model, probe, dataset.latents.shape[2], valence_levels, arousal_levels,
                                  samples_per_target, seed, device, guidance)
    metrics["conditioning"] = {
        **result.metrics,
        "grid_valence": valence_levels.tolist(),
        "grid_arousal": arousal_levels.tolist(),
        "samples_per_target": samples_per_target,
        "guidance": guidance,
        "probe_held_out": held_out,
        "probe_real_held_out": ceiling,  # how well the probe reads real held-out latents: its ceiling
    }
    val_rows = np.sort(val_index)
    sides = {held_out: (held_rows, held_features)}
    if held_out == "test":  # validation too: that is the side a change of model may be chosen on
        sides["val"] = (val_rows, dataset_features(dataset, val_rows))
    distances = frechet_at_training_conditions(model, dataset, train_rows, train_features, sides, seed, device,
                                               guidance, frechet_draws, frechet_limit)
    metrics["frechet"] = {
        "held_out": held_out,
        "generated_at": "training chunks' conditions",
        "draws": int(frechet_draws),
        "quadrants": distances[held_out],
        **({"validation_quadrants": distances["val"]} if "val" in distances else {}),
    }
    return metrics, result


def frechet_at_training_conditions(model: ConditionalVAE, dataset: LatentDataset, train_rows: np.ndarray,
                                   train_features: np.ndarray, held: dict[str, tuple[np.ndarray, np.ndarray]],
                                   seed: int, device: torch.device, guidance: float = 1.0, draws: int = 3,
                                   limit: int = 2000, columns: np.ndarray | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Per held-out side (``name -> (rows, features)``) and quadrant, the Fréchet ratios of VAE samples drawn
    at (a seeded subset of at most ``limit``) training chunks' own conditions (see the module docstring);
    ``columns`` judges only those feature columns."""
    pick = np.sort(np.random.default_rng(int(seed)).permutation(len(train_rows))[:limit])
    reference = (train_features[pick], dataset.conditions[train_rows[pick]])
    sides = {side: (features, dataset.conditions[rows]) for side, (rows, features) in held.items()}
    return frechet_at_conditions(model, dataset.latents.shape[2], reference, sides, seed, device, guidance, draws,
                                 columns)
