"""The VAE's architecture as one dataclass: it travels inside every checkpoint, so a model can be rebuilt
exactly from the file alone (no CLI flags needed at generation time)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from emovae.checks import check_known_keys


@dataclass(frozen=True)
class VAEConfig:
    """Shape of the conditional VAE.

    ``stage_channels[i]`` is the width after the i-th strided downsampling, which divides time by
    ``stage_strides[i]``. The defaults are sized for speed on CPU (see benchmarks/bench_train.py):
    the first layer downsamples by 4 straight away (patch-wise, kernel == stride), because every layer
    at the full 75 frames/s rate costs as much as the rest of the network.
    """

    in_channels: int = 128
    latent_dim: int = 32
    stage_channels: tuple[int, ...] = (64, 128)
    stage_strides: tuple[int, ...] = (4, 2)
    kernel_size: int = 3
    cond_dim: int = 2
    cond_hidden: int = 64
    conditional_prior: bool = True  # p(z | c) instead of N(0, I): see ConditionalVAE.prior
    decoder_variance: bool = True  # p(x | z, c) with a learned per-frame variance, sampled at generation
    unconditional: bool = True  # decoder and prior also learn a null condition: classifier-free guidance
    emotion_head: bool = True  # an emotion reader trained on real chunks that the VAE's samples must satisfy
    chunk_stats: bool = True  # p(s | c) over each chunk's channel means and spreads (emovae.model.chunk_stats)

    def __post_init__(self) -> None:
        # JSON gives lists; keep the dataclass hashable and comparable with a freshly built one.
        object.__setattr__(self, "stage_channels", tuple(int(c) for c in self.stage_channels))
        object.__setattr__(self, "stage_strides", tuple(int(s) for s in self.stage_strides))
        problems = []
        if len(self.stage_channels) != len(self.stage_strides) or not self.stage_channels:
            problems.append("stage_channels and stage_strides must be non-empty and of equal length")
        if any(s < 1 for s in self.stage_strides):
            problems.append(f"stage_strides must be >= 1, got {self.stage_strides}")
        for name in ("in_channels", "latent_dim", "cond_dim", "cond_hidden"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            problems.append(f"kernel_size must be odd, got {self.kernel_size}")
        if problems:
            raise ValueError("invalid VAEConfig: " + "; ".join(problems))

    @property
    def downsample_factor(self) -> int:
        """Input frames per latent frame; inputs are padded to a multiple of it."""
        return math.prod(self.stage_strides)

    def latent_frames(self, n_frames: int) -> int:
        """Latent length for an input of ``n_frames`` frames (ceil: the input is right-padded)."""
        return -(-int(n_frames) // self.downsample_factor)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stage_channels"] = list(self.stage_channels)
        data["stage_strides"] = list(self.stage_strides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config", saved: bool = False) -> "VAEConfig":
        """Build from a dict, refusing unknown keys (a typo would otherwise silently use a default).

        ``saved=True`` reads a config a checkpoint recorded: one written before the variance head, the
        null condition, the emotion head or the chunk level says nothing about them because its model
        has none, so they default to off. A config a person writes gets today's defaults for what it omits.
        """
        check_known_keys(data, cls, source, "model")
        if not saved:
            return cls(**data)
        return cls(**{"decoder_variance": False, "unconditional": False, "emotion_head": False,
                      "chunk_stats": False, **data})
