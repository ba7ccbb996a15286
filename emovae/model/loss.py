"""The VAE objective: reconstruction MSE + beta * KL, with KL warm-up and free bits.

Units: ``mse`` is the mean over every normalised input element, and ``kl`` is the KL summed over the
latent and divided by the number of *input* elements, so both are "per input value" and ``beta = 1``
is the ELBO of a Gaussian decoder with fixed variance 1/2. Free bits (Kingma et al. 2016) stop the
optimiser from squeezing a latent channel's KL below ``free_bits`` nats per latent frame; together
with the warm-up this keeps the decoder from ignoring ``z`` (posterior collapse).

The per-chunk style latent's KL (when the model has one) is added in the same units: summed over its
channels and divided by the chunk's input values, with its own floor ``style_free_bits`` in nats per
channel and chunk.

With a decoder variance the reconstruction term is the Gaussian negative log-likelihood per input
value, ``0.5 * (log s2 + (x - m)^2 / s2)`` (constant dropped); ``mse`` is still reported, from the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from emovae.model.vae import VAEOutput


@dataclass
class LossTerms:
    total: torch.Tensor  # what is optimised: mse (or Gaussian NLL) + beta_now * kl_free_bits
    mse: torch.Tensor
    kl: torch.Tensor  # raw KL (no free bits), per input element: the reported figure
    kl_objective: torch.Tensor  # KL with free bits, per input element

    def elbo(self, beta: float) -> torch.Tensor:
        """Loss at the full ``beta`` on raw KL: comparable across epochs whatever the warm-up."""
        return self.mse + beta * self.kl


def kl_per_channel(mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor | None = None,
                   prior_logvar: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q || p) per latent channel, averaged over batch and latent frames: ``(latent_dim,)``.

    ``p`` is N(prior_mu, exp(prior_logvar)) when given (the conditional prior), else N(0, I).
    """
    if prior_mu is None or prior_logvar is None:
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    else:
        kl = 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).pow(2)) * torch.exp(-prior_logvar) - 1.0)
    return kl.mean(dim=(0, 2))


def multiscale_error(recon: torch.Tensor, target: torch.Tensor, segments: tuple[int, ...]) -> torch.Tensor:
    """Squared error of the reconstruction's ``segment``-frame means (0 = the whole sequence), each channel
    and scale divided by the target's own variance at that scale in the batch, averaged over scales.

    Why: the per-frame likelihood weighs a component by its share of the frame variance, and the slow
    ones are a sliver of it (random-codec demo latents: a chunk's per-channel means ~0.2 %, one-second
    means ~3 %), so a decoder trained on it alone reconstructs them at a quarter of their real spread
    (measured on the demo run) and samples come out as prototypes. Dividing by each scale's variance
    makes a slow component count as much as a fast one, like the multi-resolution spectral losses
    audio codecs train with.
    """
    errors = []
    for segment in segments:
        n = 1 if segment <= 0 else target.shape[-1] // int(segment)
        if n < 1:
            continue
        length = target.shape[-1] if segment <= 0 else n * int(segment)
        pooled_t = target[..., :length].reshape(*target.shape[:2], n, -1).mean(dim=-1)
        pooled_r = recon[..., :length].reshape(*recon.shape[:2], n, -1).mean(dim=-1)
        variance = pooled_t.detach().var(dim=(0, 2), correction=0).clamp_min(1e-6)[None, :, None]
        errors.append(((pooled_r - pooled_t) ** 2 / variance).mean())
    return torch.stack(errors).mean() if errors else torch.zeros((), device=target.device)


def vae_loss(output: VAEOutput, beta_now: float, free_bits: float = 0.0, prior_fit: float = 0.0,
             style_free_bits: float = 0.0, multiscale_weight: float = 0.0,
             segments: tuple[int, ...] = ()) -> LossTerms:
    """The objective for one batch (see module docstring).

    ``prior_fit > 0`` trains the conditional prior by its own maximum-likelihood term,
    ``prior_fit * KL(sg(q) || p)``, while the encoder sees ``beta * KL(q || sg(p))`` with free bits.
    Why: with free bits, a channel whose KL sits under the floor sends the prior no gradient at all,
    so the encoder can store an emotion in ``z`` "for free" and the prior never learns where chunks
    of that emotion live; sampling at ``c`` then ignores it (measured on the demo run: valence).
    """
    mse = F.mse_loss(output.recon, output.target)
    if output.recon_logvar is None:
        reconstruction = mse
    else:
        logvar = output.recon_logvar
        reconstruction = 0.5 * (logvar + (output.recon - output.target).pow(2) * torch.exp(-logvar)).mean()
    # latent values per input value: scales "nats per latent element" to "nats per input element".
    ratio = output.mu.shape[1] * output.mu.shape[2] / (output.target.shape[1] * output.target.shape[2])
    separate = prior_fit > 0 and output.prior_mu is not None and output.prior_logvar is not None
    if separate:
        per_channel = kl_per_channel(output.mu, output.logvar, output.prior_mu.detach(), output.prior_logvar.detach())
        prior_term = kl_per_channel(output.mu.detach(), output.logvar.detach(), output.prior_mu, output.prior_logvar).sum() * ratio
    else:
        per_channel = kl_per_channel(output.mu, output.logvar, output.prior_mu, output.prior_logvar)
    kl = per_channel.sum() * ratio
    kl_objective = per_channel.clamp_min(free_bits).sum() * ratio if free_bits > 0 else kl
    total = reconstruction + beta_now * kl_objective + (prior_fit * prior_term if separate else 0.0)
    if output.style_mu is not None:
        per_value = 1.0 / (output.target.shape[1] * output.target.shape[2])  # one style per chunk
        style_mu, style_logvar = output.style_mu[..., None], output.style_logvar[..., None]
        prior_mu, prior_logvar = output.style_prior_mu[..., None], output.style_prior_logvar[..., None]
        if separate:
            style_kl = kl_per_channel(style_mu, style_logvar, prior_mu.detach(), prior_logvar.detach())
            total = total + prior_fit * kl_per_channel(style_mu.detach(), style_logvar.detach(), prior_mu,
                                                       prior_logvar).sum() * per_value
        else:
            style_kl = kl_per_channel(style_mu, style_logvar, prior_mu, prior_logvar)
        kl = kl + style_kl.sum() * per_value
        style_objective = style_kl.clamp_min(style_free_bits) if style_free_bits > 0 else style_kl
        kl_objective = kl_objective + style_objective.sum() * per_value
        total = total + beta_now * style_objective.sum() * per_value
    if multiscale_weight > 0 and segments:
        total = total + multiscale_weight * multiscale_error(output.recon, output.target, segments)
    return LossTerms(total=total, mse=mse, kl=kl, kl_objective=kl_objective)


def beta_schedule(step: int, beta: float, warmup_steps: int) -> float:
    """Linear KL warm-up from 0 to ``beta`` over ``warmup_steps`` optimiser steps (a pure function of
    the step, so a resumed run follows exactly the same schedule)."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)


def sequence_statistics(x: torch.Tensor, segment: int) -> torch.Tensor:
    """``(B, C, T)`` -> ``(B, 4C)``: per channel the mean, frame std, mean |frame-to-frame change| and the
    std of ``segment``-frame means (zero when fewer than two segments fit).

    The summary statistics of a chunk's texture that the likelihood barely weighs: in random-codec
    demo latents a chunk's per-channel means hold ~0.2 % of the frame variance and one-second means
    ~3 %, so a decoder trained by likelihood alone gets them wrong at no cost, and its samples read as
    prototypes (see :func:`statistics_match`).
    """
    mean = x.mean(dim=-1)
    std = x.std(dim=-1, correction=0)
    flux = (x[..., 1:] - x[..., :-1]).abs().mean(dim=-1) if x.shape[-1] > 1 else torch.zeros_like(mean)
    n_segments = x.shape[-1] // int(segment)
    if n_segments >= 2:
        means = x[..., : n_segments * segment].reshape(*x.shape[:2], n_segments, segment).mean(dim=-1)
        spread = means.std(dim=-1, correction=0)
    else:
        spread = torch.zeros_like(mean)
    return torch.cat([mean, std, flux, spread], dim=1)


def statistics_match(samples: torch.Tensor, real: torch.Tensor, scale: torch.Tensor, segment: int) -> torch.Tensor:
    """How far the batch's VAE samples are from its real chunks in the mean and spread of each statistic.

    ``samples`` are drawn at the conditions of ``real`` (one each), so if the model were right both
    sets would come from the same distribution: their per-statistic means and standard deviations
    over the batch should agree. ``scale`` (``(4C,)``, the statistics' spread over training chunks)
    makes every statistic count alike. This is moment matching of the batch marginal, the
    feature-matching idea of Salimans et al. (2016) without a critic; it never sees held-out songs.
    """
    if len(samples) < 2:
        raise ValueError("statistics_match needs at least two samples (it compares spreads over the batch)")
    s = sequence_statistics(samples, segment) / scale
    r = sequence_statistics(real, segment) / scale
    return ((s.mean(0) - r.mean(0)) ** 2).mean() + ((s.std(0, correction=0) - r.std(0, correction=0)) ** 2).mean()
