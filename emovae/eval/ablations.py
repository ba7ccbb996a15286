"""Ablations: the latents a result must *not* survive, made the same way wherever they are used.

* ``noise``    - white noise with the real latents' per-channel mean and standard deviation (the
  statistics the VAE was trained to normalise by, stored in every checkpoint), same shape as the
  VAE's sample: whatever the renderer hears in it, it did not get from the model.
* ``shuffled`` - the VAE sampled at a *random other* emotion, labelled with the requested one: if
  the music still follows the label, the label reaches the sound some other way than the model.

Both are seeded, so an ablated piece is reproducible like any other.
"""

from __future__ import annotations

import numpy as np

ABLATIONS = ("none", "noise", "shuffled")
MIN_SHUFFLE_DISTANCE = 0.35  # a "random other" emotion at least this far (in the unit square) from the request


def validate_ablation(name: str) -> str:
    key = str(name).strip().lower()
    if key not in ABLATIONS:
        raise ValueError(f"ablation={name!r} is unknown; choose one of {', '.join(ABLATIONS)}")
    return key


def noise_latent(channel_mean: np.ndarray, channel_std: np.ndarray, n_frames: int, seed: int) -> np.ndarray:
    """``(C, n_frames)`` float32 Gaussian noise with the given per-channel mean and std."""
    rng = np.random.default_rng([int(seed), 0xAB1])
    mean, std = np.asarray(channel_mean, dtype=np.float64), np.asarray(channel_std, dtype=np.float64)
    return (mean[:, None] + std[:, None] * rng.standard_normal((mean.size, int(n_frames)))).astype(np.float32)


def shuffled_emotion(requested: tuple[float, float], seed: int) -> tuple[float, float]:
    """A seeded uniform emotion in [0, 1]^2 at least :data:`MIN_SHUFFLE_DISTANCE` from ``requested``."""
    rng = np.random.default_rng([int(seed), 0xAB2])
    while True:
        v, a = rng.uniform(0.0, 1.0, size=2)
        if np.hypot(v - requested[0], a - requested[1]) >= MIN_SHUFFLE_DISTANCE:
            return float(v), float(a)
