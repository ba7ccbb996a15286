"""The conditional VAE over EnCodec latent sequences (the model only: loss, data and loop live elsewhere).

q(z | x, c) and p(x | z, c) are fully convolutional over time, so the latent ``z`` is itself a sequence
``(B, latent_dim, ceil(T / r))`` and any length can be generated. The emotion ``c = (valence, arousal)``
modulates every residual block of both encoder and decoder through FiLM, and sets the prior
p(z | c) (a per-frame Gaussian from a small network). Why a conditional prior: with N(0, I) the
posterior is free to store the emotion in ``z`` and the decoder learns to ignore ``c``, so samples
from the prior all sound alike whatever ``c`` asks for (measured on the demo dataset: Spearman rho
~0 between requested and generated emotion). With p(z | c) the KL term pulls each chunk's posterior
towards the prior of its own emotion, so sampling at ``c`` draws from where chunks of that emotion live.

Why a decoder variance (``decoder_variance``): with a fixed-variance (MSE) decoder the output is the
conditional *mean*, which is smooth at frame scale; real EnCodec latents are not, and the frame-scale
texture (spread, flux) is where much of a chunk's music lives (onsets, percussion, loudness). The
decoder therefore also predicts a per-channel, per-frame log-variance, trained by the Gaussian
likelihood, and :meth:`ConditionalVAE.generate` *samples* p(x | z, c) instead of returning its mean.
Measured on the demo data: with the mean alone the generated latents sit 50-80x further (Fréchet)
from real test-song latents than real training songs do.

Why a chunk level (``chunk_stats``): the per-frame model above makes every sample its emotion's
prototype, because what tells two songs of one emotion apart (each channel's mean and spread over the
chunk) is too small a share of the frame variance for its likelihood to care. With a chunk level the
VAE models each chunk *standardised by its own statistics* (its texture), and the statistics get a
prior of their own, p(s | c) (:mod:`emovae.model.chunk_stats`); a sample is texture x exp(log std) +
mean. Per-channel normalisation
statistics are buffers, so they are saved and restored with the weights: callers always pass and get
raw EnCodec latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from emovae.model.chunk_stats import ChunkStatsPrior, compose, standardize
from emovae.model.config import VAEConfig
from emovae.model.modules import (
    ConditionEmbedding,
    EmotionHead,
    Pointwise,
    ResBlock,
    as_condition_sequence,
    down_conv,
    match_length,
    up_conv,
)


@dataclass
class VAEOutput:
    """Everything the loss needs, in normalised units (each channel ~ zero mean, unit variance)."""

    target: torch.Tensor  # (B, C, T) what the decoder is scored on: the normalised input, or its texture with a chunk level
    recon: torch.Tensor  # (B, C, T) normalised reconstruction (the decoder's mean)
    mu: torch.Tensor  # (B, latent_dim, T / r)
    logvar: torch.Tensor
    prior_mu: torch.Tensor | None = None  # p(z | c), broadcastable to mu; None is N(0, I)
    prior_logvar: torch.Tensor | None = None
    recon_logvar: torch.Tensor | None = None  # (B, C, T) decoder log-variance; None: fixed variance (MSE)
    normalized: torch.Tensor | None = None  # (B, C, T) the whole normalised chunk; ``target`` is its texture


LOGVAR_RANGE = (-8.0, 4.0)  # normalised units: a variance between ~3e-4 and ~55 times the channel's


class ConditionalVAE(nn.Module):
    """Emotion-conditioned VAE; see the module docstring for the design."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("norm_mean", torch.zeros(c.in_channels))
        self.register_buffer("norm_std", torch.ones(c.in_channels))

        self.enc_cond = ConditionEmbedding(c.cond_dim, c.cond_hidden)
        self.dec_cond = ConditionEmbedding(c.cond_dim, c.cond_hidden, null=c.unconditional)

        widths = (c.in_channels, *c.stage_channels)
        self.enc_down = nn.ModuleList(
            down_conv(widths[i], widths[i + 1], s) for i, s in enumerate(c.stage_strides)
        )
        self.enc_blocks = nn.ModuleList(ResBlock(w, c.kernel_size, c.cond_hidden) for w in c.stage_channels)
        self.enc_head = Pointwise(c.stage_channels[-1], 2 * c.latent_dim)

        self.dec_in = nn.Conv1d(c.latent_dim, c.stage_channels[-1], c.kernel_size, padding=c.kernel_size // 2)
        self.dec_blocks = nn.ModuleList(
            ResBlock(w, c.kernel_size, c.cond_hidden) for w in reversed(c.stage_channels)
        )
        self.dec_up = nn.ModuleList(
            up_conv(widths[i + 1], widths[i], s) for i, s in reversed(list(enumerate(c.stage_strides)))
        )
        self.act = nn.SiLU()
        if c.decoder_variance:  # mirrors the last up-sampling layer, reading the same hidden state
            self.dec_logvar = up_conv(widths[1], widths[0], c.stage_strides[0])
            nn.init.zeros_(self.dec_logvar.weight)  # starts at variance 1: the normalised data's own
            nn.init.zeros_(self.dec_logvar.bias)

        self.emotion_head = EmotionHead(c.in_channels, c.cond_hidden) if c.emotion_head else None
        # fitted in closed form by the training stage before the first step (buffers: saved with the weights)
        self.chunk_stats = ChunkStatsPrior(c.in_channels) if c.chunk_stats else None
        if self.chunk_stats is not None:  # the texture depends on the chunk's statistics: they join the decoder's code
            self.stats_code = Pointwise(2 * c.in_channels, c.cond_hidden)
            nn.init.zeros_(self.stats_code.weight)
            nn.init.zeros_(self.stats_code.bias)

        if c.conditional_prior:
            self.prior_cond = ConditionEmbedding(c.cond_dim, c.cond_hidden, null=c.unconditional)
            self.prior_head = Pointwise(c.cond_hidden, 2 * c.latent_dim)
            nn.init.zeros_(self.prior_head.weight)  # starts as N(0, I): the prior is learned, not imposed
            nn.init.zeros_(self.prior_head.bias)

    # --- normalisation -------------------------------------------------------------------------------
    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Install per-channel statistics of the training split (std floored to avoid blow-ups)."""
        self.norm_mean.copy_(torch.as_tensor(mean, dtype=self.norm_mean.dtype))
        self.norm_std.copy_(torch.as_tensor(std, dtype=self.norm_std.dtype).clamp_min(1e-6))

    def normalize(self, x_raw: torch.Tensor) -> torch.Tensor:
        self._check_input(x_raw)
        return (x_raw - self.norm_mean[:, None]) / self.norm_std[:, None]

    def _split(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the per-frame VAE models (the normalised chunk standardised by its own statistics) and
        those statistics ``(B, 2C)``; without a chunk level, the chunk itself and None."""
        if self.chunk_stats is None:
            return x_norm, None
        texture, mean, log_sd = standardize(x_norm)
        return texture, torch.cat([mean, log_sd], dim=1)

    def denormalize(self, x_norm: torch.Tensor) -> torch.Tensor:
        return x_norm * self.norm_std[:, None] + self.norm_mean[:, None]

    # --- core ----------------------------------------------------------------------------------------
    def encode(self, x_norm: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``(B, C, T)`` -> posterior ``(mu, logvar)``, each ``(B, latent_dim, ceil(T/r))``."""
        self._check_input(x_norm)
        padded = self._pad_to_multiple(x_norm)
        code = self.enc_cond(self._cond_to(cond, x_norm))
        h = padded
        for down, block in zip(self.enc_down, self.enc_blocks):
            h = block(self.act(down(h)), code)
        mu, logvar = self.enc_head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor, cond: torch.Tensor, n_frames: int | None = None,
               null_mask: torch.Tensor | None = None, stats: torch.Tensor | None = None) -> torch.Tensor:
        """Latent ``(B, latent_dim, L)`` -> normalised mean ``(B, C, n_frames)`` (default ``L * r``).

        ``cond`` may be ``(B, 2)`` or a per-frame trajectory ``(B, 2, T)``; FiLM resamples it to each
        block's length, so a trajectory sampled at any rate works. Rows flagged in ``null_mask``
        are decoded without a condition (the unconditional mode). With a chunk level, ``stats`` is the
        chunk's ``(mean, log std)`` per channel, ``(B, 2C)`` or ``(B, 2C, T)``, that the texture is decoded for
        (None: a chunk at the training mean with unit spread, i.e. zeros).
        """
        return self.decode_distribution(z, cond, n_frames, null_mask, stats)[0]

    def decode_distribution(self, z: torch.Tensor, cond: torch.Tensor, n_frames: int | None = None,
                            null_mask: torch.Tensor | None = None,
                            stats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Like :meth:`decode`, plus the decoder's log-variance (None without ``decoder_variance``)."""
        full = z.shape[-1] * self.config.downsample_factor
        n_frames = full if n_frames is None else int(n_frames)
        if not full - self.config.downsample_factor < n_frames <= full:
            raise ValueError(f"n_frames={n_frames} does not match a latent of length {z.shape[-1]}")
        code = self.dec_cond(as_condition_sequence(cond).to(z.dtype), null_mask)
        if self.chunk_stats is not None and stats is not None:
            code = _add_codes(code, self.stats_code(as_condition_sequence(stats).to(z.dtype)))
        h = self.act(self.dec_in(z))
        last = len(self.dec_up) - 1
        logvar = None
        for i, (block, up) in enumerate(zip(self.dec_blocks, self.dec_up)):
            hidden = block(h, code)
            h = up(hidden)
            if i < last:
                h = self.act(h)
            elif self.config.decoder_variance:
                logvar = self.dec_logvar(hidden)[..., :n_frames].clamp(*LOGVAR_RANGE)
        return h[..., :n_frames], logvar

    def prior(self, cond: torch.Tensor, length: int, null_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | c) as ``(mu, logvar)`` of shape ``(B, latent_dim, length)`` (a trajectory is resampled);
        rows flagged in ``null_mask`` get the unconditional prior p(z)."""
        cond = as_condition_sequence(torch.as_tensor(cond, dtype=self.norm_mean.dtype, device=self.norm_mean.device))
        shape = (cond.shape[0], self.config.latent_dim, int(length))
        if not self.config.conditional_prior:
            zeros = torch.zeros(shape, dtype=cond.dtype, device=cond.device)
            return zeros, zeros
        mu, logvar = self.prior_head(match_length(self.prior_cond(cond, null_mask), int(length))).chunk(2, dim=1)
        return mu.expand(shape), logvar.clamp(-12.0, 8.0).expand(shape)

    def forward(self, x_raw: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None,
                null_mask: torch.Tensor | None = None) -> VAEOutput:
        """Reconstruct through a sampled ``z`` (reparameterisation); ``generator`` makes it reproducible.

        ``null_mask`` (B,) drops the condition of those rows from the decoder and the prior (never from
        the encoder, which only ever runs on real chunks): condition dropout for guidance.
        """
        normalized = self.normalize(x_raw)
        target, stats = self._split(normalized)
        mu, logvar = self.encode(target, cond)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * noise
        prior_mu, prior_logvar = self.prior(cond, mu.shape[-1], null_mask)
        recon, recon_logvar = self.decode_distribution(z, cond, target.shape[-1], null_mask, stats)
        return VAEOutput(target=target, recon=recon, mu=mu, logvar=logvar, prior_mu=prior_mu,
                         prior_logvar=prior_logvar, recon_logvar=recon_logvar, normalized=normalized)

    # --- public API used by later stages -------------------------------------------------------------
    def encode_latents(self, x_raw: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw EnCodec latents ``(B, 128, T)`` and emotions ``(B, 2)`` -> posterior ``(mu, logvar)`` of the
        per-frame level (with a chunk level, of the texture; see :meth:`chunk_statistics` for the rest)."""
        return self.encode(self._split(self.normalize(x_raw))[0], cond)

    def chunk_statistics(self, x_raw: torch.Tensor) -> torch.Tensor | None:
        """The chunk level's code of raw latents ``(B, 128, T)``: each channel's (mean, log std) in
        normalised units, ``(B, 2C)``; None for a model without a chunk level. :meth:`encode_latents`
        sees only the texture, so whatever needs "what this chunk is" wants both."""
        return self._split(self.normalize(x_raw))[1]

    def reconstruct(self, x_raw: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction through the posterior mean, in raw units. With a chunk level the
        chunk's own statistics are part of its code: the decoder is given them and the decoded texture
        is scaled and shifted by them (its own time mean and spread are close to, not exactly, 0 and 1)."""
        texture, stats = self._split(self.normalize(x_raw))
        mu, _ = self.encode(texture, cond)
        recon = self.decode(mu, cond, x_raw.shape[-1], stats=stats)
        if stats is not None:
            recon = compose(recon, stats)
        return self.denormalize(recon)

    @torch.no_grad()
    def generate(
        self,
        cond: torch.Tensor,
        n_frames: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        guidance: float = 1.0,
    ) -> torch.Tensor:
        """Sample raw latents ``(B, 128, n_frames)`` for emotions ``(B, 2)`` or trajectories ``(B, 2, T)``.

        ``z`` is drawn from the prior p(z | c) and, with ``decoder_variance``, the output from p(x | z, c);
        with a chunk level the piece's statistics come from p(s | c). All spreads are scaled by
        ``temperature`` (0 gives the means); the generator (on the model's
        device) makes a sample reproducible. ``guidance`` != 1 extrapolates the decoder's mean and
        log-variance from the unconditional towards the conditional ones (needs ``unconditional``).
        """
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        cond = torch.as_tensor(cond, dtype=torch.float32, device=self.norm_mean.device)
        return self.denormalize(self.sample_normalized(cond, n_frames, temperature, generator, guidance))

    def sample_normalized(self, cond: torch.Tensor, n_frames: int, temperature: float = 1.0,
                          generator: torch.Generator | None = None, guidance: float = 1.0) -> torch.Tensor:
        """:meth:`generate` in normalised units and differentiable (training uses it for the emotion head)."""
        device = self.norm_mean.device
        stats = None
        if self.chunk_stats is not None:  # the piece's statistics first: the texture is decoded for them
            stats = torch.cat(self.chunk_stats.sample(cond, n_frames, generator, temperature), dim=1)
        prior_mu, prior_logvar = self.prior(cond, self.config.latent_frames(n_frames))
        noise = torch.randn(prior_mu.shape, generator=generator, device=device)
        z = prior_mu + torch.exp(0.5 * prior_logvar) * noise * float(temperature)
        mean, logvar = self.decode_distribution(z, cond, n_frames, stats=stats)
        if float(guidance) != 1.0:
            null = torch.ones(cond.shape[0], dtype=torch.bool, device=device)
            mean_u, logvar_u = self.decode_distribution(z, cond, n_frames, null, stats)
            w = float(guidance)
            mean = mean_u + w * (mean - mean_u)
            if logvar is not None:
                logvar = (logvar_u + w * (logvar - logvar_u)).clamp(*LOGVAR_RANGE)
        if logvar is not None:
            output_noise = torch.randn(mean.shape, generator=generator, device=device)
            mean = mean + torch.exp(0.5 * logvar) * output_noise * float(temperature)
        return mean if stats is None else compose(mean, stats)

    # --- helpers -------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected latents (B, {self.config.in_channels}, T), got shape {tuple(x.shape)}"
            )

    def _pad_to_multiple(self, x: torch.Tensor) -> torch.Tensor:
        """Right-pad time (replicate) so every strided layer divides it exactly; decode crops it back."""
        extra = self.config.latent_frames(x.shape[-1]) * self.config.downsample_factor - x.shape[-1]
        return F.pad(x, (0, extra), mode="replicate") if extra else x

    @staticmethod
    def _cond_to(cond: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(cond, dtype=like.dtype, device=like.device)


def _add_codes(code: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Sum two condition codes ``(B, H, L)`` whose lengths may differ (a length-1 one broadcasts; others are resampled)."""
    if code.shape[-1] == extra.shape[-1] or 1 in (code.shape[-1], extra.shape[-1]):
        return code + extra
    return code + match_length(extra, code.shape[-1])
