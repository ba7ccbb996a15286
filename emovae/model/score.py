"""The score decoder: an EnCodec latent sequence -> musical descriptors, one row per second.

This is what lets the model make the music: the ``synth`` renderer plays what the score decoder
reads off the VAE's sample (through the engine calibration, :mod:`emovae.music.calibration`), so
the requested emotion reaches the sound only through the latent the VAE generated for it.

It is a standardised ridge regression from per-second latent statistics to the descriptors of
:mod:`emovae.analysis.descriptors`. Linear on purpose: it must be fitted in seconds on a few
hundred chunks (the demo) as well as on the real DEAM, it cannot memorise 369 chunks, and it is
saved as plain JSON. Features of window ``w`` (``F = frame_rate`` frames): each channel's mean and
standard deviation inside the window, the mean and spread of those window means over a
``CONTEXT``-window neighbourhood (tempo and mode need a few seconds of context), and the log of each
channel's standard deviation with its mean over the same neighbourhood.

Why the log: a channel's spread inside a window grows with the level of the audio (proportionally,
for the random-init codec, whose latent is a small signal around its biases), so on the linear
standard deviation the register or the brightness of a quiet passage reads compressed toward the
mean: a linear readout cannot divide out the level. On the log the level is one additive term that
the ridge can cancel across channels. Measured on the demo's held-out songs: register r 0.78 -> 0.86,
brightness 0.76 -> 0.87, and the slope of the register read off quiet (arousal < 0.35) windows
against the true one 0.50 -> 0.84; on 200 demo songs register 0.90 -> 0.94, brightness 0.88 -> 0.94.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from emovae.analysis.descriptors import DESCRIPTOR_NAMES
from emovae.codec.identity import FRAME_RATE
from emovae.io import read_json, write_json

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 2  # 2: log standard deviations added to the features
CONTEXT = 5  # windows (seconds) around each window that describe its neighbourhood
SCORE_DECODER_FILE = "score_decoder.json"
FEATURES_PER_CHANNEL = 6  # the window_features of a C-channel latent are 6C numbers
LOG_FLOOR = 1e-6  # added before the log: a silent window (a constant latent) reads a finite value


def window_features(latent: np.ndarray, frame_rate: int = FRAME_RATE) -> np.ndarray:
    """``(C, T)`` latent -> ``(n_windows, 6C)`` features (see module docstring); one window per second.

    A latent shorter than a second is one window; trailing frames that do not fill a window are
    dropped (they would make a noisier last row).
    """
    import torch

    x = np.asarray(latent, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"latent must be (channels, frames) with at least 2 frames; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("latent contains NaN or infinite values")
    return window_features_torch(torch.from_numpy(x)[None], frame_rate)[0].numpy()


def window_features_torch(latent: "torch.Tensor", frame_rate: int = FRAME_RATE) -> "torch.Tensor":
    """:func:`window_features` of a batch ``(B, C, T)`` -> ``(B, n_windows, 6C)``, differentiable.

    The one implementation of the features (the NumPy entry point calls it): training reads the VAE's
    own samples through it (:mod:`emovae.train.descriptor_term`), and what it trains against must be
    what generation reads.
    """
    import torch

    frames = latent.shape[-1]
    n = max(1, frames // frame_rate)
    size = frames // n if frames < frame_rate else frame_rate
    windows = latent[..., : n * size].reshape(*latent.shape[:-1], n, size)  # (B, C, n, size)
    mean, std = windows.mean(dim=-1), windows.std(dim=-1, unbiased=False)  # (B, C, n)
    log_std = torch.log(std + LOG_FLOOR)
    half = CONTEXT // 2
    around = [slice(max(0, w - half), w + half + 1) for w in range(n)]
    context_mean = torch.stack([mean[..., a].mean(dim=-1) for a in around], dim=-1)
    context_spread = torch.stack([mean[..., a].std(dim=-1, unbiased=False) for a in around], dim=-1)
    context_log_std = torch.stack([log_std[..., a].mean(dim=-1) for a in around], dim=-1)
    features = torch.cat([mean, std, context_mean, context_spread, log_std, context_log_std], dim=-2)  # (B, 6C, n)
    return features.transpose(-1, -2)


@dataclass
class ScoreDecoder:
    """``predict(latent) -> (n_windows, len(DESCRIPTOR_NAMES))`` descriptors in their measured units."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    coef: np.ndarray  # (n_features, n_descriptors), standardised units
    frame_rate: int = FRAME_RATE
    codec_id: str | None = None
    training: dict = field(default_factory=dict)

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(features) - self.x_mean) / self.x_scale
        return (z @ self.coef) * self.y_scale + self.y_mean

    def predict(self, latent: np.ndarray) -> np.ndarray:
        return self.predict_features(window_features(latent, self.frame_rate))

    def standardised_reader(self, device: "torch.device | str" = "cpu") -> "Callable[[torch.Tensor], torch.Tensor]":
        """``(B, C, T)`` raw latents -> ``(B, n_windows, D)`` descriptors in standardised units, differentiable.

        Standardised so that every descriptor weighs the same in a loss (tempo in bpm would otherwise
        outweigh the mode by four orders of magnitude); :meth:`standardise` puts targets in the same units.
        """
        import torch

        as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
        x_mean, x_scale, coef = as_tensor(self.x_mean), as_tensor(self.x_scale), as_tensor(self.coef)
        frame_rate = self.frame_rate

        def read(latent: torch.Tensor) -> torch.Tensor:
            return ((window_features_torch(latent, frame_rate) - x_mean) / x_scale) @ coef

        return read

    def standardise(self, descriptors: np.ndarray) -> np.ndarray:
        """Descriptors in their measured units -> the units :meth:`standardised_reader` returns."""
        return (np.asarray(descriptors, dtype=np.float64) - self.y_mean) / self.y_scale

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, alpha: float, frame_rate: int = FRAME_RATE,
            codec_id: str | None = None) -> "ScoreDecoder":
        """Closed-form ridge on standardised features and targets (one solve for all descriptors)."""
        x, y = np.asarray(features, dtype=np.float64), np.asarray(targets, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or y.shape[1] != len(DESCRIPTOR_NAMES):
            raise ValueError(f"features (N, F) and targets (N, {len(DESCRIPTOR_NAMES)}) expected; got {x.shape}, {y.shape}")
        x_mean, x_scale = x.mean(axis=0), _scale(x)
        y_mean, y_scale = y.mean(axis=0), _scale(y)
        zx, zy = (x - x_mean) / x_scale, (y - y_mean) / y_scale
        gram = zx.T @ zx + float(alpha) * len(zx) * np.eye(zx.shape[1]) / zx.shape[1]
        coef = np.linalg.solve(gram, zx.T @ zy)
        return cls(x_mean, x_scale, y_mean, y_scale, coef, int(frame_rate), codec_id)

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        write_json(path, {
            "format_version": FORMAT_VERSION, "descriptors": list(DESCRIPTOR_NAMES), "context": CONTEXT,
            "frame_rate": self.frame_rate, "codec_id": self.codec_id, "x_mean": self.x_mean.tolist(),
            "x_scale": self.x_scale.tolist(), "y_mean": self.y_mean.tolist(), "y_scale": self.y_scale.tolist(),
            "coef": self.coef.tolist(), "training": self.training,
        })
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScoreDecoder":
        data = read_json(path)
        if (data.get("format_version") != FORMAT_VERSION or tuple(data.get("descriptors", ())) != DESCRIPTOR_NAMES
                or data.get("context") != CONTEXT):
            raise ValueError(f"{path}: score decoder made for other descriptors or features; retrain "
                             "(`python -m pipeline.train ... --chunks processed_data`)")
        return cls(*(np.asarray(data[k]) for k in ("x_mean", "x_scale", "y_mean", "y_scale", "coef")),
                   frame_rate=int(data["frame_rate"]), codec_id=data.get("codec_id"), training=dict(data.get("training", {})))


def _scale(values: np.ndarray) -> np.ndarray:
    std = values.std(axis=0)
    return np.where(std > 1e-12, std, 1.0)
