"""p(s | c): the prior over a chunk's per-channel statistics, the slow level of the VAE's hierarchy.

Why a level of its own. What makes two chunks of one emotion differ is mostly *slow*: each song's
per-channel means and spreads (its timbre, loudness, density). In random-codec latents those are a
sliver of the frame variance the likelihood weighs (a chunk's per-channel means ~0.2 %), so a
per-frame VAE spends nothing on them and every sample is the emotion's prototype: generated chunks
spread 0.8-1.4 on the principal components of chunk statistics where real ones spread 2.5-4.7, and
the Fréchet ratio to real songs stays at 2.4-5.7 whatever the per-frame model does (README, *Generated
vs real latents*). So the model is split in two levels:

* ``s = (mean, log std)`` of each channel over the chunk, in normalised units (``2 C`` numbers), with
  the prior defined here: a *conditional probabilistic PCA* (Tipping & Bishop 1999),
  ``s = A phi(c) + b + W u + e``, ``u ~ N(0, I_rank)``, ``e ~ N(0, sigma^2 I)``, ``phi(c) = (v, a, v a)``;
* the per-frame VAE models the chunk *standardised by its own s* (the texture), conditioned on ``c``.

The prior is fitted in closed form on the training songs' chunks before the VAE trains (least squares
for ``A, b``, then the PPCA maximum-likelihood ``W, sigma`` of the residuals), so it needs no gradient
steps and cannot over-fit by training longer; with a few hundred chunks and 256 statistics the
covariance is rank-deficient, hence PPCA's low rank plus isotropic noise rather than a full Gaussian.
Bilinear features, not quadratic: the presets sit at the corners of [0, 1]^2, outside most training
labels, and a bilinear map extrapolates there without bending away.

At generation the condition may be a trajectory: the regression part follows ``c(t)`` frame by frame,
while ``u`` and ``e`` (the piece's "song identity") are drawn once per piece. An unfitted prior (all
buffers zero, as a freshly built model has) gives ``s = 0``: samples are the texture itself, and the
model's untrained twin carries no emotion through this level either.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emovae.model.modules import as_condition_sequence, match_length

N_FEATURES = 3  # phi(c) = (v, a, v * a)
SD_FLOOR = 1e-3  # normalised units: a constant channel standardises to 0 instead of dividing by 0


def condition_features(cond: torch.Tensor) -> torch.Tensor:
    """``(B, 2, T)`` emotions -> ``(B, 3, T)`` bilinear features ``(v, a, v a)``, centred like the FiLM input."""
    centred = cond * 2.0 - 1.0
    return torch.cat([centred, centred[:, :1] * centred[:, 1:2]], dim=1)


def chunk_statistics(x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, C, T)`` -> per-channel mean and log std over time, each ``(B, C)``."""
    mean = x_norm.mean(dim=-1)
    log_sd = torch.log(x_norm.std(dim=-1, unbiased=False).clamp_min(SD_FLOOR))
    return mean, log_sd


def standardize(x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The chunk's texture ``(x - mean) / std`` per channel, plus the ``(mean, log std)`` it removed."""
    mean, log_sd = chunk_statistics(x_norm)
    return (x_norm - mean[..., None]) * torch.exp(-log_sd)[..., None], mean, log_sd


class ChunkStatsPrior(nn.Module):
    """Conditional PPCA over ``(mean, log std)`` per channel; see the module docstring."""

    def __init__(self, channels: int, rank: int) -> None:
        super().__init__()
        self.channels, self.rank = int(channels), int(rank)
        dim = 2 * self.channels
        self.register_buffer("coef", torch.zeros(N_FEATURES, dim))
        self.register_buffer("intercept", torch.zeros(dim))
        self.register_buffer("basis", torch.zeros(dim, self.rank))
        self.register_buffer("noise_std", torch.zeros(()))

    @property
    def fitted(self) -> bool:
        return bool(self.basis.abs().sum() > 0 or self.coef.abs().sum() > 0)

    @torch.no_grad()
    def fit(self, mean: np.ndarray, log_sd: np.ndarray, conditions: np.ndarray) -> dict[str, float]:
        """Fit on training chunks: ``mean``, ``log_sd`` ``(N, C)`` and their emotions ``(N, 2)``.

        Returns what the fit explains (the share of the statistics' variance in the emotion regression
        and in the ``rank`` components), for the training log.
        """
        s = np.concatenate([np.asarray(mean, np.float64), np.asarray(log_sd, np.float64)], axis=1)
        n, dim = s.shape
        if dim != 2 * self.channels:
            raise ValueError(f"chunk statistics have {dim} columns, expected {2 * self.channels}")
        if n < N_FEATURES + 2:
            raise ValueError(f"the chunk-statistics prior needs at least {N_FEATURES + 2} training chunks, got {n}")
        phi = condition_features(torch.as_tensor(conditions, dtype=torch.float64)[..., None])[..., 0].numpy()
        design = np.concatenate([phi, np.ones((n, 1))], axis=1)
        solution, *_ = np.linalg.lstsq(design, s, rcond=None)
        residual = s - design @ solution
        _, singular, vt = np.linalg.svd(residual, full_matrices=False)
        eigen = singular**2 / max(n - 1, 1)
        rank = min(self.rank, len(eigen))
        sigma2 = float(eigen[rank:].sum() / max(dim - rank, 1))  # PPCA: the discarded variance, per dimension
        basis = np.zeros((dim, self.rank))
        basis[:, :rank] = vt[:rank].T * np.sqrt(np.maximum(eigen[:rank] - sigma2, 0.0))
        self.coef.copy_(torch.from_numpy(solution[:N_FEATURES]))
        self.intercept.copy_(torch.from_numpy(solution[N_FEATURES]))
        self.basis.copy_(torch.from_numpy(basis))
        self.noise_std.fill_(float(np.sqrt(sigma2)))
        total = float(((s - s.mean(axis=0)) ** 2).sum() / max(n - 1, 1))
        return {"emotion_share": 1.0 - float(eigen.sum()) / total if total else 0.0,
                "components_share": float(eigen[:rank].sum()) / total if total else 0.0}

    def sample(self, cond: torch.Tensor, n_frames: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame ``(mean, log std)``, each ``(B, C, n_frames)`` (or ``(B, C, 1)`` for a fixed emotion)."""
        seq = as_condition_sequence(cond.to(self.coef.dtype))
        seq = match_length(seq, int(n_frames)) if seq.shape[-1] > 1 else seq
        s = torch.einsum("bft,fd->bdt", condition_features(seq), self.coef) + self.intercept[None, :, None]
        u = torch.randn((seq.shape[0], self.rank), generator=generator, device=seq.device, dtype=seq.dtype)
        e = torch.randn((seq.shape[0], s.shape[1]), generator=generator, device=seq.device, dtype=seq.dtype)
        identity = u @ self.basis.T + e * self.noise_std
        s = s + float(temperature) * identity[..., None]
        return s[:, : self.channels], s[:, self.channels :]
