"""p(s | c): the prior over a chunk's per-channel statistics, the slow level of the VAE's hierarchy.

Why a level of its own. What makes two chunks of one emotion differ is mostly *slow*: each song's
per-channel means and spreads (its timbre, loudness, density). In random-codec latents those are a
sliver of the frame variance the likelihood weighs (a chunk's per-channel means ~0.2 %), so a
per-frame VAE spends nothing on them and every sample is the emotion's prototype: generated chunks
spread 0.8-1.4 on the principal components of chunk statistics where real ones spread 2.5-4.7, and
the Fréchet ratio to real songs stays at 2.4-5.7 whatever the per-frame model does (README, *Generated
vs real latents*). So the model is split in two levels:

* ``s = (mean, log std)`` of each channel over the chunk, in normalised units (``2 C`` numbers), with
  the prior defined here: a conditional Gaussian ``s = A phi(c) + b + L u``, ``u ~ N(0, I)``,
  ``phi(c) = (v, a, v a)``, where ``L L^T`` is the covariance of what the emotion leaves unexplained
  (each song's identity);
* the per-frame VAE models the chunk *standardised by its own s* (the texture), conditioned on ``c``
  and on ``s`` (a loud, busy chunk moves differently from a quiet one).

The prior is fitted in closed form on the training songs' chunks before the VAE trains: least squares
for ``A, b``, then the Ledoit-Wolf shrinkage estimate of the residuals' covariance (scikit-learn),
so it needs no gradient steps and cannot over-fit by training longer. Why Ledoit-Wolf: the demo has
~225 training chunks for 256 statistics, so the sample covariance is singular, and a low-rank model
(probabilistic PCA, tried first) spreads its left-over variance evenly over every other direction,
including the few that carry the emotion: measured on the demo bundle, PPCA of rank 8 cost the
synth path's valence rho 0.94 -> 0.83 and, on the 200-song demo, arousal 0.92 -> 0.87; refitting only
this prior on those weights, Ledoit-Wolf (which shrinks towards a scaled identity by the amount the
data supports, here 1-4 %) gave 0.94 / 0.94 and 0.95 / 0.92 at the same or better Fréchet ratios,
with no rank to choose, and the models trained with it measure 0.92 / 0.96 and 0.95 / 0.95.
Bilinear features, not quadratic: the presets sit at the corners of [0, 1]^2, outside most training
labels, and a bilinear map extrapolates there without bending away.

At generation the condition may be a trajectory: the regression part follows ``c(t)`` frame by frame,
while ``u`` (the piece's "song identity") is drawn once per piece. An unfitted prior (all buffers
zero, as a freshly built model has) gives ``s = 0``: samples are the texture itself, and the model's
untrained twin carries no emotion through this level either.
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
    sd, mean = torch.std_mean(x_norm, dim=-1, unbiased=False)  # one pass over the chunk
    return mean, torch.log(sd.clamp_min(SD_FLOOR))


def standardize(x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The chunk's texture ``(x - mean) / std`` per channel, plus the ``(mean, log std)`` it removed."""
    mean, log_sd = chunk_statistics(x_norm)
    return (x_norm - mean[..., None]) * torch.exp(-log_sd)[..., None], mean, log_sd


def compose(texture: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`standardize`: texture ``(B, C, T)`` x exp(log std) + mean, with ``stats`` the
    ``(mean, log std)`` concatenated, ``(B, 2C)`` for the whole chunk or ``(B, 2C, T)`` frame by frame."""
    mean, log_sd = (stats if stats.dim() == 3 else stats[..., None]).chunk(2, dim=1)
    return texture * torch.exp(log_sd) + mean


class ChunkStatsPrior(nn.Module):
    """Conditional Gaussian over ``(mean, log std)`` per channel; see the module docstring."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)
        dim = 2 * self.channels
        self.register_buffer("coef", torch.zeros(N_FEATURES, dim))
        self.register_buffer("intercept", torch.zeros(dim))
        self.register_buffer("scale_tril", torch.zeros(dim, dim))  # Cholesky factor L of the residual covariance

    @property
    def fitted(self) -> bool:
        return bool(self.scale_tril.abs().sum() > 0 or self.coef.abs().sum() > 0)

    @torch.no_grad()
    def fit(self, mean: np.ndarray, log_sd: np.ndarray, conditions: np.ndarray) -> dict[str, float]:
        """Fit on training chunks: ``mean``, ``log_sd`` ``(N, C)`` and their emotions ``(N, 2)``.

        Returns the share of the statistics' variance the emotion regression explains and the
        Ledoit-Wolf shrinkage that was applied (the training stage reports them in ``metrics.json``).
        """
        from sklearn.covariance import LedoitWolf  # only the training stage fits: keep it off import paths

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
        estimate = LedoitWolf().fit(residual)
        # shrinkage keeps the covariance positive definite; the jitter only guards constant statistics
        scale_tril = np.linalg.cholesky(estimate.covariance_ + 1e-9 * np.eye(dim))
        self.coef.copy_(torch.from_numpy(solution[:N_FEATURES]))
        self.intercept.copy_(torch.from_numpy(solution[N_FEATURES]))
        self.scale_tril.copy_(torch.from_numpy(scale_tril))
        total = float(np.var(s, axis=0).sum())
        return {"emotion_share": 1.0 - float(np.var(residual, axis=0).sum()) / total if total else 0.0,
                "shrinkage": float(estimate.shrinkage_)}

    def sample(self, cond: torch.Tensor, n_frames: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame ``(mean, log std)``, each ``(B, C, n_frames)`` (or ``(B, C, 1)`` for a fixed emotion)."""
        seq = as_condition_sequence(cond.to(self.coef.dtype))
        seq = match_length(seq, int(n_frames))
        s = torch.einsum("bft,fd->bdt", condition_features(seq), self.coef) + self.intercept[None, :, None]
        u = torch.randn((seq.shape[0], s.shape[1]), generator=generator, device=seq.device, dtype=seq.dtype)
        s = s + float(temperature) * (u @ self.scale_tril.T)[..., None]
        return s[:, : self.channels], s[:, self.channels :]
