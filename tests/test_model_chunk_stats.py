"""The VAE's chunk level: p(s | c) over each chunk's channel means and spreads, fitted on training songs only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emovae.model import ConditionalVAE, VAEConfig, load_checkpoint, save_checkpoint
from emovae.model.chunk_stats import ChunkStatsPrior, chunk_statistics, condition_features, standardize
from emovae.train.chunk_stats import fit_chunk_stats
from emovae.train.dataset import load_latent_dataset
from emovae.train.synthetic import write_synthetic_latents

TINY = VAEConfig(in_channels=16, latent_dim=4, stage_channels=(8, 12), stage_strides=(4, 2), cond_hidden=8)


def _planted(n: int = 4000, channels: int = 16, rank: int = 3, seed: int = 0):
    """Statistics drawn from a known conditional Gaussian: s = A phi(c) + b + W u + e (low rank plus noise)."""
    rng = np.random.default_rng(seed)
    cond = rng.uniform(0, 1, size=(n, 2))
    phi = condition_features(torch.from_numpy(cond)[..., None])[..., 0].numpy()
    coef = rng.normal(0, 1, size=(3, 2 * channels))
    intercept = rng.normal(0, 1, size=2 * channels)
    basis = rng.normal(0, 1, size=(2 * channels, rank))
    s = phi @ coef + intercept + rng.normal(size=(n, rank)) @ basis.T + 0.1 * rng.normal(size=(n, 2 * channels))
    return cond, s, coef, intercept, basis


def test_fit_recovers_a_planted_conditional_gaussian_and_samples_match_it():
    cond, s, coef, intercept, basis = _planted(n=20000)
    prior = ChunkStatsPrior(16)
    shares = prior.fit(s[:, :16], s[:, 16:], cond)
    assert np.allclose(prior.coef.numpy(), coef, atol=0.2)
    assert np.allclose(prior.intercept.numpy(), intercept, atol=0.1)
    assert 0.0 < shares["emotion_share"] < 1.0 and 0.0 <= shares["shrinkage"] < 0.05  # plenty of data: little
    # Samples at one emotion spread like the planted identity term (W W^T + 0.01 I), around A phi(c) + b.
    at = torch.tensor([[0.8, 0.2]]).repeat(3000, 1)
    mean, log_sd = prior.sample(at, 375, torch.Generator().manual_seed(1))
    drawn = torch.cat([mean, log_sd], dim=1)[..., 0].numpy()
    expected = condition_features(at[:1, :, None])[..., 0].numpy() @ coef + intercept
    assert np.allclose(drawn.mean(axis=0), expected[0], atol=0.25)
    want = basis @ basis.T + 0.01 * np.eye(32)
    got = np.cov(drawn, rowvar=False)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.15


def test_trajectory_moves_the_statistics_while_the_identity_is_one_draw_per_piece():
    cond, s, *_ = _planted()
    prior = ChunkStatsPrior(16)
    prior.fit(s[:, :16], s[:, 16:], cond)
    ramp = torch.stack([torch.linspace(0, 1, 200), torch.full((200,), 0.5)])[None]  # valence 0 -> 1
    mean, log_sd = prior.sample(ramp, 200, torch.Generator().manual_seed(0), temperature=0.0)
    assert mean.shape == log_sd.shape == (1, 16, 200)
    fixed_low, _ = prior.sample(torch.tensor([[0.0, 0.5]]), 200, temperature=0.0)
    fixed_high, _ = prior.sample(torch.tensor([[1.0, 0.5]]), 200, temperature=0.0)
    assert torch.allclose(mean[..., 0], fixed_low[..., 0], atol=1e-5)
    assert torch.allclose(mean[..., -1], fixed_high[..., 0], atol=1e-5)
    # With spread, the piece's own offset is the same at every frame (drawn once, not per frame).
    spread, _ = prior.sample(torch.tensor([[0.3, 0.5]]).expand(1, 2)[..., None].expand(1, 2, 50), 50,
                             torch.Generator().manual_seed(3))
    assert torch.allclose(spread[..., 0], spread[..., -1])


def test_unfitted_prior_is_the_identity_so_an_untrained_model_carries_no_emotion_through_it():
    prior = ChunkStatsPrior(16)
    assert not prior.fitted
    mean, log_sd = prior.sample(torch.rand(4, 2), 100, torch.Generator().manual_seed(0))
    assert torch.count_nonzero(mean) == 0 and torch.count_nonzero(log_sd) == 0
    torch.manual_seed(0)
    model = ConditionalVAE(TINY).eval()  # FiLM is the identity: samples must not depend on the condition
    low = model.generate(torch.tensor([[0.0, 0.0]]), 100, generator=torch.Generator().manual_seed(5))
    high = model.generate(torch.tensor([[1.0, 1.0]]), 100, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(low, high)


def test_the_vae_models_the_texture_and_samples_carry_the_prior_statistics():
    torch.manual_seed(0)
    model = ConditionalVAE(TINY).eval()
    x = 3.0 + 2.0 * torch.randn(5, 16, 120)
    out = model(x, torch.rand(5, 2))
    assert torch.allclose(out.target.mean(dim=-1), torch.zeros(5, 16), atol=1e-5)
    assert torch.allclose(out.target.std(dim=-1, unbiased=False), torch.ones(5, 16), atol=1e-4)
    assert torch.allclose(out.normalized, model.normalize(x))
    texture, mean, log_sd = standardize(model.normalize(x))
    assert torch.allclose(texture * torch.exp(log_sd)[..., None] + mean[..., None], model.normalize(x), atol=1e-5)
    # A prior whose channel means follow valence: with the texture silenced (last decoder layer zeroed) and no
    # spread, a sample's channel means are exactly the prior's at that emotion, whatever the emotion.
    cond, s, *_ = _planted()
    model.chunk_stats.fit(s[:, :16], s[:, 16:], cond)
    for param in model.dec_up[-1].parameters():
        torch.nn.init.zeros_(param)
    for wanted in ([0.0, 0.5], [1.0, 0.5], [0.3, 0.9]):
        sample = model.generate(torch.tensor([wanted]), 375, temperature=0.0)
        got, _ = chunk_statistics(model.normalize(sample))
        expected, _ = model.chunk_stats.sample(torch.tensor([wanted]), 1, temperature=0.0)
        assert torch.allclose(got[0], expected[0, :, 0], atol=1e-4)


def test_fitted_on_training_songs_only_and_saved_with_the_weights(tmp_path):
    folder = write_synthetic_latents(tmp_path / "lat", n_songs=8, chunks_per_song=4, channels=16, seed=2)
    dataset = load_latent_dataset(folder, 5)
    train = np.flatnonzero(dataset.labels["song_id"].to_numpy() <= 5)
    model = ConditionalVAE(TINY)
    model.set_normalization(torch.zeros(16), torch.ones(16))
    fit_chunk_stats(model, dataset, train)
    assert model.chunk_stats.fitted
    before = {k: v.clone() for k, v in model.chunk_stats.state_dict().items()}
    dataset.latents = np.array(dataset.latents)  # a writable copy of the memmap
    dataset.latents[np.setdiff1d(np.arange(len(dataset)), train)] *= -7.0  # held-out songs change...
    fit_chunk_stats(model, dataset, train)
    for key, value in model.chunk_stats.state_dict().items():  # ...and the fit does not move
        assert torch.equal(value, before[key]), key
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, {"codec": dataset.codec})
    loaded, _ = load_checkpoint(path)
    for key, value in loaded.chunk_stats.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_few_chunks_for_many_statistics_still_give_a_proper_prior():
    """The demo's case: fewer training chunks than statistics. The sample covariance is singular; the
    shrinkage estimate is not, and samples stay finite and spread in every direction."""
    cond, s, *_ = _planted(n=20)
    prior = ChunkStatsPrior(16)
    assert prior.fit(s[:, :16], s[:, 16:], cond)["shrinkage"] > 0.0
    covariance = prior.scale_tril @ prior.scale_tril.T
    assert torch.linalg.eigvalsh(covariance.double()).min() > 0
    mean, log_sd = prior.sample(torch.rand(8, 2), 10, torch.Generator().manual_seed(0))
    assert torch.isfinite(mean).all() and torch.isfinite(log_sd).all()
    with pytest.raises(ValueError, match="at least"):
        prior.fit(s[:3, :16], s[:3, 16:], cond[:3])


def test_checkpoints_from_before_the_chunk_level_load_without_it():
    config = VAEConfig.from_dict({k: v for k, v in TINY.to_dict().items() if k != "chunk_stats"}, saved=True)
    assert config.chunk_stats is False and ConditionalVAE(config).chunk_stats is None


def test_a_config_a_person_writes_keeps_todays_defaults_for_what_it_omits():
    """Regression: a training config file with a partial model section silently switched off the
    variance head, the null condition, the emotion head and the chunk level (the defaults meant for old
    checkpoints)."""
    from emovae.train.config import TrainConfig

    config = TrainConfig.from_dict({"latents": "x", "model": {"latent_dim": 16}})
    assert config.model == VAEConfig(latent_dim=16)
    assert config.model.chunk_stats and config.model.decoder_variance and config.model.emotion_head


def test_texture_is_decoded_for_the_chunk_statistics_fixed_or_per_frame():
    torch.manual_seed(0)
    model = ConditionalVAE(TINY).eval()
    z, cond = torch.randn(2, 4, 10), torch.rand(2, 2)
    one, other = torch.randn(2, 32), torch.randn(2, 32)
    # zero-initialised: an untrained model's texture ignores the statistics...
    assert torch.equal(model.decode(z, cond, stats=one), model.decode(z, cond, stats=other))
    for name, param in model.named_parameters():  # FiLM starts as the identity too: give both weights
        if "film" in name or "stats_code" in name:
            torch.nn.init.normal_(param, std=0.3)
    # ...a trained one decodes another texture for other statistics, and accepts them per frame.
    assert (model.decode(z, cond, stats=one) - model.decode(z, cond, stats=other)).abs().mean() > 1e-3
    per_frame = one[..., None].expand(2, 32, 80)
    assert torch.allclose(model.decode(z, cond, stats=per_frame), model.decode(z, cond, stats=one), atol=1e-5)


def _spread_beyond_emotion(latents: torch.Tensor, model: ConditionalVAE, cond: np.ndarray) -> np.ndarray:
    """Per channel, how much chunk means differ once the (bilinear) emotion trend is taken out."""
    mean, _ = chunk_statistics(model.normalize(latents))
    phi = condition_features(torch.from_numpy(cond)[..., None])[..., 0].numpy()
    design = np.concatenate([phi, np.ones((len(phi), 1))], axis=1)
    values = mean.double().numpy()
    residual = values - design @ np.linalg.lstsq(design, values, rcond=None)[0]
    return residual.std(axis=0)


def test_samples_of_one_emotion_differ_like_songs_do_only_with_the_chunk_level(tmp_path):
    """The claim behind the Fréchet figures: pieces drawn at the training chunks' emotions vary around the
    emotion's trend as much as the real chunks do (songs have their own offsets), where a per-frame-only
    model's pieces are all the trend (prototypes)."""
    from dataclasses import replace

    from emovae.train.dataset import channel_stats

    folder = write_synthetic_latents(tmp_path / "lat", n_songs=40, chunks_per_song=4, channels=16, seed=5)
    dataset = load_latent_dataset(folder, 5)
    rows = np.arange(len(dataset))
    real = torch.from_numpy(np.array(dataset.latents, dtype=np.float32))
    cond = dataset.conditions.astype(np.float64)
    spreads = {}
    for level in (True, False):
        torch.manual_seed(0)
        model = ConditionalVAE(replace(TINY, chunk_stats=level)).eval()
        model.set_normalization(*(torch.from_numpy(v) for v in channel_stats(dataset.latents, rows)))
        if level:
            fit_chunk_stats(model, dataset, rows)
        real_spread = _spread_beyond_emotion(real, model, cond)
        samples = model.generate(torch.from_numpy(dataset.conditions), real.shape[-1],
                                 generator=torch.Generator().manual_seed(1))
        spreads[level] = np.median(_spread_beyond_emotion(samples, model, cond) / real_spread)
    assert 0.75 < spreads[True] < 1.25
    assert spreads[False] < 0.3


def test_the_latent_map_code_keeps_what_the_texture_encoder_does_not_see():
    from emovae.train.latent_map import pooled_posterior_means

    torch.manual_seed(0)
    model = ConditionalVAE(TINY).eval()
    x = torch.randn(2, 16, 120)
    louder = x.clone()
    louder[1] = 3.0 * x[1] + 2.0  # the same texture at other channel means and spreads
    cond = np.full((2, 2), 0.5, dtype=np.float32)
    a = pooled_posterior_means(model, x.numpy(), cond)
    b = pooled_posterior_means(model, louder.numpy(), cond)
    assert a.shape == (2, TINY.latent_dim + 32)
    assert np.allclose(a[1, : TINY.latent_dim], b[1, : TINY.latent_dim], atol=1e-5)  # the encoder sees the texture
    assert not np.allclose(a[1, TINY.latent_dim :], b[1, TINY.latent_dim :], atol=0.1)  # the map sees the rest


def test_a_trajectory_with_guidance_samples_through_both_levels():
    """A (B, 2, T') trajectory at another rate than the frames, with guidance: the piece's identity is one
    draw (a ramp at temperature 1 minus the same ramp at temperature 0 is constant over time), and the
    chunk statistics follow the trajectory."""
    torch.manual_seed(0)
    model = ConditionalVAE(TINY).eval()
    cond, s, *_ = _planted()
    model.chunk_stats.fit(s[:, :16], s[:, 16:], cond)
    for param in model.dec_up[-1].parameters():  # silence the texture: the output is then the statistics alone
        torch.nn.init.zeros_(param)
    ramp = torch.stack([torch.linspace(0, 1, 7), torch.full((7,), 0.5)])[None]
    warm = model.generate(ramp, 120, temperature=1.0, generator=torch.Generator().manual_seed(3), guidance=3.0)
    cold = model.generate(ramp, 120, temperature=0.0, guidance=3.0)
    assert warm.shape == cold.shape == (1, 16, 120) and torch.isfinite(warm).all()
    drawn = torch.cat(model.chunk_stats.sample(ramp, 120, torch.Generator().manual_seed(3)), dim=1)
    trend = torch.cat(model.chunk_stats.sample(ramp, 120, temperature=0.0), dim=1)
    offset = drawn - trend
    assert torch.allclose(offset, offset[..., :1].expand_as(offset), atol=1e-4)
    start, _ = model.chunk_stats.sample(torch.tensor([[0.0, 0.5]]), 1, temperature=0.0)
    end, _ = model.chunk_stats.sample(torch.tensor([[1.0, 0.5]]), 1, temperature=0.0)
    got = model.normalize(cold)
    assert torch.allclose(got[..., 0], start[..., 0], atol=0.05) and torch.allclose(got[..., -1], end[..., 0], atol=0.05)


def test_the_emotion_head_is_fitted_on_whole_chunks_not_their_textures(monkeypatch, tmp_path):
    """With a chunk level the decoder's target is the texture (zero means, unit spreads by construction);
    the head must still learn from the whole chunk, or its verdict on samples would see nothing of s."""
    import emovae.train.loop as loop
    from emovae.train.config import TrainConfig

    seen = {}

    def spy(model, target, cond, weight, samples):
        seen["target"] = target
        return torch.zeros(())

    monkeypatch.setattr(loop, "_emotion_terms", spy)
    folder = write_synthetic_latents(tmp_path / "lat", n_songs=4, chunks_per_song=2, channels=16, seed=1)
    dataset = load_latent_dataset(folder, 5)
    model = ConditionalVAE(TINY)
    model.set_normalization(torch.zeros(16), torch.ones(16))
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    config = TrainConfig(latents=str(folder), model=TINY)
    loop._train_step(model, optimizer, dataset, np.arange(4), 0.5, config, torch.Generator().manual_seed(0),
                     torch.device("cpu"))
    x, _ = dataset.batch(np.arange(4))
    assert torch.allclose(seen["target"], model.normalize(x))
    assert seen["target"].mean(dim=-1).abs().max() > 0.1  # not the texture's zero means


def test_the_untrained_twin_has_an_unfitted_chunk_level(tmp_path):
    """The benchmark's untrained ablation must not inherit the trained model's fitted p(s | c)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_emotion_control import untrained_twin

    from emovae.model.score import SCORE_DECODER_FILE

    torch.manual_seed(0)
    model = ConditionalVAE(TINY)
    cond, s, *_ = _planted()
    model.chunk_stats.fit(s[:, :16], s[:, 16:], cond)
    folder = tmp_path / "run"
    folder.mkdir()
    save_checkpoint(folder / "best.pt", model, {"codec": {"codec_id": "synthetic-s0"}, "train_config": {"seed": 0}})
    (folder / SCORE_DECODER_FILE).write_text("{}")
    twin, _ = load_checkpoint(untrained_twin(folder / "best.pt", tmp_path / "twin"))
    assert model.chunk_stats.fitted and not twin.chunk_stats.fitted
    low = twin.generate(torch.tensor([[0.0, 0.0]]), 100, generator=torch.Generator().manual_seed(5))
    high = twin.generate(torch.tensor([[1.0, 1.0]]), 100, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(low, high)
