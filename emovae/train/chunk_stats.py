"""Fit the VAE's chunk level, p(s | c), on the training songs before the first step (see emovae.model.chunk_stats)."""

from __future__ import annotations

import numpy as np
import torch

from emovae.model.chunk_stats import chunk_statistics
from emovae.model.vae import ConditionalVAE
from emovae.train.dataset import LatentDataset, iter_blocks


@torch.no_grad()
def fit_chunk_stats(model: ConditionalVAE, dataset: LatentDataset, train_index: np.ndarray,
                    block: int = 256) -> dict[str, float]:
    """Each training chunk's per-channel (mean, log std) under the model's normalisation, then the closed-form
    fit of the model's chunk level; returns the fit's summary (:meth:`ChunkStatsPrior.fit`).

    Call after :meth:`ConditionalVAE.set_normalization`; only training rows are read, so the validation
    and test songs stay unseen by every fitted part of the model.
    """
    if model.chunk_stats is None:
        raise ValueError("this model has no chunk level (VAEConfig.chunk_stats=False)")
    means, log_sds = [], []
    rows_all = np.sort(np.asarray(train_index))
    for rows in iter_blocks(rows_all, block):
        x = torch.from_numpy(np.asarray(dataset.latents[rows], dtype=np.float32)).to(model.norm_mean.device)
        mean, log_sd = chunk_statistics(model.normalize(x))
        means.append(mean.cpu().numpy())
        log_sds.append(log_sd.cpu().numpy())
    return model.chunk_stats.fit(np.concatenate(means), np.concatenate(log_sds), dataset.conditions[rows_all])
