"""The conditional VAE: shapes for any length, conditioning paths, generation, loss and checkpoints."""

from __future__ import annotations

import pytest
import torch

from emovae.model import CheckpointError, CodecMismatchError, ConditionalVAE, VAEConfig, check_codec_compatible
from emovae.model import load_checkpoint, save_checkpoint
from emovae.model.loss import beta_schedule, kl_per_channel, vae_loss
from emovae.model.vae import VAEOutput

TINY = VAEConfig(in_channels=16, latent_dim=4, stage_channels=(8, 12), stage_strides=(4, 2), cond_hidden=8)


def _model(seed: int = 0, config: VAEConfig = TINY, film: bool = True) -> ConditionalVAE:
    torch.manual_seed(seed)
    model = ConditionalVAE(config)
    if film:  # FiLM starts at identity by design; give it weights so the condition acts
        for name, param in model.named_parameters():
            if "film" in name:
                torch.nn.init.normal_(param, std=0.3)
    return model.eval()


@pytest.mark.parametrize("frames", [375, 750, 101, 7, 1])
def test_shapes_for_5s_10s_and_odd_lengths(frames):
    model = _model()
    x = torch.randn(3, 16, frames)
    cond = torch.rand(3, 2)
    mu, logvar = model.encode_latents(x, cond)
    assert mu.shape == logvar.shape == (3, 4, TINY.latent_frames(frames))
    assert TINY.latent_frames(frames) == -(-frames // 8)
    assert model(x, cond).recon.shape == (3, 16, frames)
    assert model.reconstruct(x, cond).shape == (3, 16, frames)
    assert model.generate(cond, frames).shape == (3, 16, frames)


def test_default_config_matches_encodec_shape():
    model = ConditionalVAE(VAEConfig()).eval()
    mu, _ = model.encode_latents(torch.randn(2, 128, 375), torch.rand(2, 2))
    assert mu.shape == (2, 32, 47)


def test_condition_changes_decoder_output_and_trajectory_is_accepted():
    model = _model()
    z = torch.randn(2, 4, 10)
    low = model.decode(z, torch.tensor([[0.1, 0.1], [0.1, 0.1]]))
    high = model.decode(z, torch.tensor([[0.9, 0.9], [0.9, 0.9]]))
    assert (low - high).abs().mean() > 1e-3
    # A constant trajectory is the same as the fixed condition...
    const = torch.tensor([[0.1, 0.1]]).repeat(2, 1)[:, :, None].expand(2, 2, 80)
    assert torch.allclose(model.decode(z, const), low, atol=1e-5)
    # ...and a trajectory moving from low to high ends near "high" and starts near "low".
    ramp = torch.linspace(0.1, 0.9, 80).expand(2, 2, 80)
    moving = model.decode(z, ramp)
    assert (moving[..., :8] - low[..., :8]).abs().mean() < (moving[..., :8] - high[..., :8]).abs().mean()
    assert (moving[..., -8:] - high[..., -8:]).abs().mean() < (moving[..., -8:] - low[..., -8:]).abs().mean()


def test_untrained_film_is_identity():
    model = _model(film=False)
    z = torch.randn(1, 4, 5)
    assert torch.equal(model.decode(z, torch.tensor([[0.0, 0.0]])), model.decode(z, torch.tensor([[1.0, 1.0]])))


def test_generate_is_reproducible_with_generator_and_denormalised():
    model = _model()
    model.set_normalization(torch.full((16,), 5.0), torch.full((16,), 0.01))
    cond = torch.rand(2, 2)
    a = model.generate(cond, 50, generator=torch.Generator().manual_seed(1))
    b = model.generate(cond, 50, generator=torch.Generator().manual_seed(1))
    c = model.generate(cond, 50, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert abs(a.mean().item() - 5.0) < 0.5  # raw units, not normalised ones
    cold = model.generate(cond, 50, temperature=0.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(cold, model.generate(cond, 50, temperature=0.0))


def test_normalisation_round_trip():
    model = _model()
    model.set_normalization(torch.arange(16.0), torch.linspace(0.5, 2.0, 16))
    x = torch.randn(2, 16, 9) * 3 + 1
    assert torch.allclose(model.denormalize(model.normalize(x)), x, atol=1e-5)


def test_bad_inputs_are_refused_with_shape_in_message():
    model = _model()
    with pytest.raises(ValueError, match="expected latents"):
        model.encode_latents(torch.randn(2, 15, 20), torch.rand(2, 2))
    with pytest.raises(ValueError, match="condition must be"):
        model.decode(torch.randn(2, 4, 3), torch.rand(2))
    with pytest.raises(ValueError, match="invalid VAEConfig"):
        VAEConfig(stage_channels=(8,), stage_strides=(2, 2))


def test_loss_terms_free_bits_and_warmup():
    model = _model()
    out = model(torch.randn(4, 16, 40), torch.rand(4, 2), generator=torch.Generator().manual_seed(0))
    plain = vae_loss(out, beta_now=0.5)
    # the variance head starts at log-variance 0, where the Gaussian NLL is half the squared error
    assert torch.isclose(plain.total, 0.5 * plain.mse + 0.5 * plain.kl)
    fixed = VAEOutput(**{**vars(out), "recon_logvar": None})  # a fixed-variance decoder: plain MSE
    assert torch.isclose(vae_loss(fixed, beta_now=0.5).total, plain.mse + 0.5 * plain.kl)
    floored = vae_loss(out, beta_now=0.5, free_bits=10.0)  # every channel under the floor
    ratio = out.mu.shape[1] * out.mu.shape[2] / (16 * 40)
    assert torch.isclose(floored.kl_objective, torch.tensor(10.0 * 4 * ratio))
    assert torch.isclose(floored.kl, plain.kl)  # the reported KL is never the floored one
    zero = kl_per_channel(torch.zeros(2, 3, 5), torch.zeros(2, 3, 5))
    assert torch.equal(zero, torch.zeros(3))
    assert beta_schedule(0, 2.0, 10) == 0.0 and beta_schedule(5, 2.0, 10) == 1.0 and beta_schedule(50, 2.0, 10) == 2.0
    assert beta_schedule(0, 2.0, 0) == 2.0


def test_checkpoint_round_trip(tmp_path):
    model = _model(seed=3)
    model.set_normalization(torch.randn(16), torch.rand(16) + 0.5)
    codec = {"codec_id": "random-s0-abc", "channels": 16}
    path = save_checkpoint(tmp_path / "m.pt", model, {"codec": codec, "epoch": 7, "metrics": {"val_mse": 0.3},
                                                      "chunk_seconds": 5})
    loaded, info = load_checkpoint(path)
    assert info["config"] == TINY and info["codec"] == codec and info["epoch"] == 7 and info["chunk_seconds"] == 5
    assert not loaded.training
    x, cond = torch.randn(2, 16, 33), torch.rand(2, 2)
    assert torch.equal(loaded.reconstruct(x, cond), model.reconstruct(x, cond))
    assert torch.equal(loaded.norm_mean, model.norm_mean)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    with pytest.raises(CheckpointError, match="not an emovae VAE checkpoint"):
        load_checkpoint(foreign)
    pickled = tmp_path / "pickled.pt"  # arbitrary pickled objects are code; a checkpoint never needs them
    torch.save({"format": "emovae-vae", "hook": _PickledThing()}, pickled)
    with pytest.raises(CheckpointError, match="pickled.pt: not a readable checkpoint"):
        load_checkpoint(pickled)


class _PickledThing:
    pass


def test_codec_mismatch_is_refused():
    check_codec_compatible({"codec_id": "a"}, {"codec_id": "a"}, "x.pt")
    with pytest.raises(CodecMismatchError, match=r"x\.pt.*\ba\b.*\bb\b"):
        check_codec_compatible({"codec_id": "a"}, {"codec_id": "b"}, "x.pt")
    with pytest.raises(CodecMismatchError):  # a checkpoint without an identity never matches
        check_codec_compatible(None, {"codec_id": "b"}, "x.pt")
