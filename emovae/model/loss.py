"""The VAE objective: reconstruction MSE + beta * KL, with KL warm-up and free bits.

Units: ``mse`` is the mean over every normalised input element, and ``kl`` is the KL summed over the
latent and divided by the number of *input* elements, so both are "per input value" and ``beta = 1``
is the ELBO of a Gaussian decoder with fixed variance 1/2. Free bits (Kingma et al. 2016) stop the
optimiser from squeezing a latent channel's KL below ``free_bits`` nats per latent frame; together
with the warm-up this keeps the decoder from ignoring ``z`` (posterior collapse).

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


def vae_loss(output: VAEOutput, beta_now: float, free_bits: float = 0.0, prior_fit: float = 0.0) -> LossTerms:
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
    return LossTerms(total=total, mse=mse, kl=kl, kl_objective=kl_objective)


def beta_schedule(step: int, beta: float, warmup_steps: int) -> float:
    """Linear KL warm-up from 0 to ``beta`` over ``warmup_steps`` optimiser steps (a pure function of
    the step, so a resumed run follows exactly the same schedule)."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)
