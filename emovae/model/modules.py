"""Building blocks of the conditional VAE: condition embedding, FiLM and residual conv blocks.

Conditions are handled as sequences ``(B, H, L)`` throughout. A constant emotion is simply a sequence
of length 1 that broadcasts over time, so one code path serves both fixed emotions ``(B, 2)`` and
emotion trajectories ``(B, 2, T)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_condition_sequence(cond: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` -> ``(B, D, 1)``; ``(B, D, T)`` unchanged. Anything else is a caller error."""
    if cond.dim() == 2:
        return cond.unsqueeze(-1)
    if cond.dim() == 3:
        return cond
    raise ValueError(f"condition must be (B, 2) or (B, 2, T), got shape {tuple(cond.shape)}")


def match_length(sequence: torch.Tensor, length: int) -> torch.Tensor:
    """Resample a condition sequence to ``length`` frames (linear), leaving length-1 ones to broadcast."""
    if sequence.shape[-1] in (1, length):
        return sequence
    return F.interpolate(sequence, size=length, mode="linear", align_corners=False)


class ConditionEmbedding(nn.Module):
    """Per-frame MLP (1x1 convs) from (valence, arousal) to a hidden code shared by all FiLM layers.

    With ``null=True`` it also holds a learned *null* code that stands for "no condition": rows
    flagged in ``null_mask`` get it instead of their emotion's code (classifier-free guidance).
    """

    def __init__(self, cond_dim: int, hidden: int, null: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential(
            Pointwise(cond_dim, hidden), nn.SiLU(), Pointwise(hidden, hidden), nn.SiLU()
        )
        self.null_code = nn.Parameter(torch.zeros(1, hidden, 1)) if null else None

    def forward(self, cond: torch.Tensor, null_mask: torch.Tensor | None = None) -> torch.Tensor:
        # Centre [0, 1] emotions on 0 so the MLP starts from a symmetric input.
        code = self.net(as_condition_sequence(cond) * 2.0 - 1.0)
        if null_mask is None:
            return code
        if self.null_code is None:
            raise ValueError("this model has no unconditional mode (VAEConfig.unconditional=False)")
        return torch.where(null_mask.view(-1, 1, 1), self.null_code.expand_as(code), code)


class EmotionHead(nn.Module):
    """Reads (valence, arousal) in [0, 1] off a normalised latent sequence ``(B, C, T)``.

    It sees each channel's mean and log-spread over time: statistics a generated sequence can match
    without copying frames, and the ones a linear probe finds the emotion in on real latents.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * channels, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=-1), torch.log(x.std(dim=-1) + 1e-3)], dim=1)
        return torch.sigmoid(self.net(stats))


class FiLM(nn.Module):
    """Feature-wise linear modulation ``x * (1 + gamma) + beta`` from the condition code.

    Zero-initialised, so an untrained block is the identity and conditioning is learned, not imposed.
    """

    def __init__(self, cond_hidden: int, channels: int) -> None:
        super().__init__()
        self.proj = Pointwise(cond_hidden, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond_code: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(match_length(cond_code, x.shape[-1])).chunk(2, dim=1)
        return x * (1.0 + gamma) + beta


class ResBlock(nn.Module):
    """One same-length conv, FiLM, SiLU, added back: cheap temporal context with conditioning."""

    def __init__(self, channels: int, kernel_size: int, cond_hidden: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.film = FiLM(cond_hidden, channels)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, cond_code: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.film(self.conv(x), cond_code))


class PatchDown(nn.Conv1d):
    """Patch-wise strided conv (kernel == stride): divides the length exactly by ``stride``.

    Overlapping kernels (2*stride) cost twice as much on CPU for no measurable gain here; temporal
    context comes from the kernel-3 residual block that follows each resampling instead. Computed as
    one matrix product over non-overlapping patches, which on CPU is markedly cheaper than the
    general (oneDNN) convolution for this shape, and identical in value and parameters to
    ``nn.Conv1d(in, out, stride, stride=stride)`` (checkpoints are interchangeable).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(in_channels, out_channels, stride, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, length = x.shape
        k = self.kernel_size[0]
        patches = x.reshape(batch, channels, length // k, k).transpose(1, 2).reshape(batch, length // k, channels * k)
        return F.linear(patches, self.weight.reshape(self.out_channels, -1), self.bias).transpose(1, 2)


class PatchUp(nn.ConvTranspose1d):
    """Patch-wise transposed conv multiplying the length exactly by ``stride`` (mirror of :class:`PatchDown`),
    computed as one matrix product; same parameters and values as ``nn.ConvTranspose1d(in, out, stride,
    stride=stride)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(in_channels, out_channels, stride, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        batch, _, length = x.shape
        k = self.kernel_size[0]
        y = F.linear(x.transpose(1, 2), self.weight.reshape(self.in_channels, -1).t())  # (B, L, out * k)
        y = y.reshape(batch, length, self.out_channels, k).permute(0, 2, 1, 3).reshape(batch, self.out_channels, length * k)
        return y + self.bias[:, None]


class Pointwise(nn.Conv1d):
    """1x1 conv as a matrix product (same parameters as ``nn.Conv1d(in, out, 1)``): the condition path runs
    on length-1 sequences, where the general convolution's per-call overhead dominates."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.transpose(1, 2), self.weight[..., 0], self.bias).transpose(1, 2)


def down_conv(in_channels: int, out_channels: int, stride: int) -> nn.Conv1d:
    """Patch-wise strided conv dividing the length by ``stride`` (see :class:`PatchDown`)."""
    return PatchDown(in_channels, out_channels, stride)


def up_conv(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Patch-wise transposed conv multiplying the length by ``stride`` (see :class:`PatchUp`)."""
    return PatchUp(in_channels, out_channels, stride)
