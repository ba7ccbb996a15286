"""Checkpoint -> generated EnCodec latents at an emotion, or along an emotion trajectory.

Sampling is the part of generation that owns randomness, so it is the part that owns determinism:
every call builds its own seeded ``torch.Generator`` on the model's device and never touches the
global RNG, so the same seed gives the same latent on the same kind of device (CPU and CUDA draw
different streams). A trajectory is a per-frame condition
``(1, 2, n_frames)`` that eases from the start emotion to the end emotion; the VAE decoder accepts
per-frame conditions, so the latent itself moves with the emotion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emovae.checks import number_in_range
from emovae.emotion import validate_emotion
from emovae.generate.threads import cpu_worker
from emovae.model.checkpoint import recorded_guidance

MAX_SECONDS = 120.0  # longer pieces cost memory linearly and gain nothing musically from one sample
MAX_TEMPERATURE = 3.0  # beyond this the prior sample leaves the region the decoder was trained on
MAX_GUIDANCE = 10.0  # classifier-free guidance scale; beyond this samples leave the data far behind


class GenerationInputError(ValueError):
    """A generation parameter (duration, temperature, seed, renderer, ...) outside its valid range."""


def validate_seconds(seconds: float) -> float:
    return number_in_range(seconds, "seconds", 0.0, MAX_SECONDS, low_open=True, error=GenerationInputError)


def validate_temperature(temperature: float) -> float:
    return number_in_range(temperature, "temperature", 0.0, MAX_TEMPERATURE, error=GenerationInputError)


def validate_guidance(guidance: float) -> float:
    return number_in_range(guidance, "guidance", 0.0, MAX_GUIDANCE, error=GenerationInputError)


def validate_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise GenerationInputError(f"seed={seed!r} must be an integer in [0, 2**63)")
    return int(seed)


@dataclass(frozen=True)
class EmotionPath:
    """Emotion over a piece: constant (``end is None``) or easing from ``start`` to ``end``."""

    start: tuple[float, float]
    end: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", validate_emotion(*self.start))
        if self.end is not None:
            object.__setattr__(self, "end", validate_emotion(*self.end))

    @property
    def is_trajectory(self) -> bool:
        return self.end is not None and tuple(self.end) != tuple(self.start)

    def curve(self, n: int) -> np.ndarray:
        """(2, n) valence/arousal at ``n`` uniformly spaced points from start to end inclusive.

        Smoothstep easing: the emotion leaves the start and arrives at the end with zero slope,
        so a trajectory's first and last seconds sit *at* their targets rather than passing them.
        """
        start = np.asarray(self.start, dtype=np.float64)[:, None]
        if not self.is_trajectory:
            return np.repeat(start, n, axis=1)
        end = np.asarray(self.end, dtype=np.float64)[:, None]
        s = np.linspace(0.0, 1.0, n)
        eased = s * s * (3.0 - 2.0 * s)
        return start + (end - start) * eased[None, :]

    def mean(self) -> tuple[float, float]:
        v, a = self.curve(257).mean(axis=1)
        return float(v), float(a)


class LatentSampler:
    """A loaded VAE plus what is needed to turn seconds into latent frames.

    On CPU, sampling runs on a :class:`~emovae.generate.threads.TorchWorker` with ``cpu_threads``
    intra-op threads (default 1: the VAE is small, see that module for the measurements);
    ``cpu_threads=None`` samples in the calling thread with its own settings.
    """

    def __init__(self, model: torch.nn.Module, info: dict, device: torch.device | str = "cpu", cpu_threads: int | None = 1):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.info = info
        codec = info.get("codec") or {}
        self.codec_identity: dict = dict(codec)
        self.frame_rate = int(codec.get("frame_rate", 75))
        self.default_guidance = recorded_guidance(model.config, info)
        self._worker = cpu_worker(self.device, cpu_threads)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: torch.device | str = "cpu", cpu_threads: int | None = 1) -> "LatentSampler":
        from emovae.model.checkpoint import load_checkpoint

        file = Path(path)
        model, info = load_checkpoint(file, map_location="cpu")  # CheckpointError names a missing/bad file
        if not info.get("codec"):
            raise ValueError(f"{file}: checkpoint has no codec identity; it cannot be decoded safely — retrain it")
        return cls(model, info, device, cpu_threads)

    def n_frames(self, seconds: float) -> int:
        """Latent frames covering ``seconds`` (rounded up; renderers trim the audio to the exact length)."""
        return max(1, int(np.ceil(validate_seconds(seconds) * self.frame_rate - 1e-9)))

    def sample(self, path: EmotionPath, seconds: float, seed: int = 0, temperature: float = 1.0,
               guidance: float | None = None) -> np.ndarray:
        """One latent sequence ``(channels, frames)`` float32 for ``path`` over ``seconds``.

        ``guidance`` None uses the checkpoint's own (:attr:`default_guidance`).
        """
        n_frames = self.n_frames(seconds)
        temperature = validate_temperature(temperature)
        seed = validate_seed(seed)
        guidance = self.default_guidance if guidance is None else validate_guidance(guidance)
        if guidance != 1.0 and not getattr(self.model.config, "unconditional", False):
            raise GenerationInputError("this checkpoint has no unconditional mode, so guidance must be 1 (or unset)")
        if self._worker is None:
            return self._sample(path, n_frames, seed, temperature, guidance)
        return self._worker.run(self._sample, path, n_frames, seed, temperature, guidance)

    @torch.inference_mode()
    def _sample(self, path: EmotionPath, n_frames: int, seed: int, temperature: float, guidance: float) -> np.ndarray:
        generator = torch.Generator(device=self.device).manual_seed(seed)
        if path.is_trajectory:
            cond = torch.as_tensor(path.curve(n_frames), dtype=torch.float32)[None]
        else:
            cond = torch.as_tensor([path.start], dtype=torch.float32)
        out = self.model.generate(cond.to(self.device), n_frames=n_frames, temperature=temperature, generator=generator,
                                  guidance=guidance)
        latent = out[0].detach().to("cpu", torch.float32).numpy()
        if latent.shape[-1] != n_frames:
            raise RuntimeError(f"VAE returned {latent.shape[-1]} frames for a request of {n_frames}")
        return latent
