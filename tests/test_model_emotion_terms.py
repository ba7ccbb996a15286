"""What makes the VAE carry the emotion: decoder variance, the null condition and guidance, the prior's
own likelihood term and the emotion head. Each test checks the property the design relies on."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from emovae.model import ConditionalVAE, VAEConfig
from emovae.model.loss import vae_loss
from emovae.train.loop import _emotion_terms

TINY = VAEConfig(in_channels=16, latent_dim=4, stage_channels=(8, 12), stage_strides=(4, 2), cond_hidden=8)


def _model(config: VAEConfig = TINY, seed: int = 0) -> ConditionalVAE:
    torch.manual_seed(seed)
    model = ConditionalVAE(config)
    for name, param in model.named_parameters():  # zero-initialised heads would hide every effect below
        if "film" in name or "prior_head" in name or "dec_logvar" in name:
            torch.nn.init.normal_(param, std=0.3)
    return model.eval()


def test_configs_saved_before_these_features_load_without_them():
    old = {k: v for k, v in TINY.to_dict().items() if k not in ("decoder_variance", "unconditional", "emotion_head")}
    config = VAEConfig.from_dict(old, saved=True)
    assert not config.decoder_variance and not config.unconditional and not config.emotion_head
    model = ConditionalVAE(config)
    assert model.emotion_head is None and not hasattr(model, "dec_logvar")


def test_generation_samples_the_decoder_variance_and_temperature_zero_is_its_mean():
    model = _model()
    cond = torch.tensor([[0.2, 0.8]])
    a = model.generate(cond, 40, generator=torch.Generator().manual_seed(0))
    b = model.generate(cond, 40, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a, b)
    flat = dataclasses.replace(TINY, decoder_variance=False)
    fixed = _model(flat)
    z_only = fixed.generate(cond, 40, temperature=0.0, generator=torch.Generator().manual_seed(0))
    again = fixed.generate(cond, 40, temperature=0.0, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(z_only, again)  # T = 0: prior mean, decoder mean, no noise anywhere
    assert torch.allclose(model.generate(cond, 40, temperature=0.0), model.generate(cond, 40, temperature=0.0))


def test_null_condition_replaces_only_the_flagged_rows():
    model = _model()
    with torch.no_grad():
        model.dec_cond.null_code.normal_()
    cond = torch.tensor([[0.1, 0.9], [0.7, 0.3]])
    plain = model.dec_cond(cond)
    masked = model.dec_cond(cond, torch.tensor([True, False]))
    assert torch.allclose(masked[1], plain[1])
    assert torch.allclose(masked[0], model.dec_cond.null_code[0].expand_as(masked[0]))
    without = ConditionalVAE(dataclasses.replace(TINY, unconditional=False))
    with pytest.raises(ValueError, match="unconditional"):
        without.dec_cond(cond, torch.tensor([True, False]))


def test_guidance_one_is_plain_sampling_and_other_scales_move_the_sample():
    model = _model()
    with torch.no_grad():
        model.dec_cond.null_code.normal_()
    cond = torch.tensor([[0.9, 0.9]])

    def sample(w: float) -> torch.Tensor:
        return model.generate(cond, 40, temperature=0.0, generator=torch.Generator().manual_seed(0), guidance=w)

    assert torch.allclose(sample(1.0), model.generate(cond, 40, temperature=0.0))
    base, strong = sample(1.0), sample(3.0)
    assert not torch.allclose(base, strong)
    # guidance extrapolates linearly in the decoder mean: w = 2 lies half-way between w = 1 and w = 3
    assert torch.allclose(sample(2.0), 0.5 * (base + strong), atol=1e-5)


def test_prior_fit_trains_the_prior_and_leaves_the_encoder_to_beta():
    model = _model().train()
    x, cond = torch.randn(4, 16, 40), torch.rand(4, 2)

    def grads(prior_fit: float, beta: float) -> tuple[float, float]:
        model.zero_grad()
        out = model(x, cond, generator=torch.Generator().manual_seed(0))
        terms = vae_loss(out, beta, free_bits=0.0, prior_fit=prior_fit)
        (terms.total - (0.5 * (out.recon_logvar + (out.recon - out.target) ** 2 * torch.exp(-out.recon_logvar))).mean()).backward()
        prior = sum(p.grad.abs().sum().item() for p in model.prior_head.parameters() if p.grad is not None)
        encoder = model.enc_head.weight.grad.abs().sum().item()
        return prior, encoder

    prior_only, encoder_none = grads(prior_fit=1.0, beta=0.0)  # KL reaches the prior only through prior_fit
    assert prior_only > 0 and encoder_none == pytest.approx(0.0, abs=1e-9)
    prior_none, encoder_some = grads(prior_fit=1.0e-12, beta=1.0)  # beta's KL moves the encoder, not the prior
    assert encoder_some > 0 and prior_none < 1e-6 * encoder_some


def test_emotion_head_is_fitted_on_real_chunks_and_frozen_for_the_vaes_samples():
    model = _model().train()
    target, cond = torch.randn(4, 16, 40), torch.rand(4, 2)
    samples = model.sample_normalized(cond, target.shape[-1], generator=torch.Generator().manual_seed(0))
    loss = _emotion_terms(model, target, cond, weight=1.0, samples=samples)
    head = list(model.emotion_head.parameters())
    fit_only = torch.nn.functional.mse_loss(model.emotion_head(target), cond)
    head_grads = torch.autograd.grad(loss, head, retain_graph=True)
    fit_grads = torch.autograd.grad(fit_only, head)
    for got, want in zip(head_grads, fit_grads):  # the consistency term adds nothing to the head's gradient
        assert torch.allclose(got, want, atol=1e-6)
    decoder_grad = torch.autograd.grad(loss, model.dec_in.weight)[0]
    assert decoder_grad.abs().sum() > 0  # ... but it does reach the decoder through its samples
