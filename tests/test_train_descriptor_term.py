"""The score decoder's reading of the VAE's samples as a training term (emovae/train/descriptor_term.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emovae.analysis.descriptors import DESCRIPTOR_NAMES
from emovae.model import ConditionalVAE, VAEConfig
from emovae.model.score import ScoreDecoder, window_features, window_features_torch
from emovae.train.config import TrainConfig
from emovae.train.descriptor_term import DescriptorTerm, build_descriptor_term
from emovae.train.synthetic import write_synthetic_latents
from emovae.train.dataset import load_latent_dataset

CHANNELS, FRAMES = 8, 375  # five one-second windows at 75 frames/s
TINY = VAEConfig(in_channels=16, latent_dim=4, stage_channels=(8, 12), stage_strides=(4, 2), cond_hidden=8)


class Identity:
    """The part of the VAE the term uses: its latents are already raw."""

    @staticmethod
    def denormalize(x):
        return x


def _decoder(seed: int = 0) -> tuple[ScoreDecoder, np.ndarray, list[np.ndarray]]:
    """A decoder fitted on random latents whose descriptors are a linear function of their window spreads."""
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(40, CHANNELS, FRAMES)) * rng.uniform(0.5, 2.0, size=(40, CHANNELS, 1))
    features = np.concatenate([window_features(x) for x in latents])
    mixing = rng.normal(size=(features.shape[1], len(DESCRIPTOR_NAMES)))
    targets = features @ mixing
    decoder = ScoreDecoder.fit(features, targets, alpha=1e-3)
    descriptors = [decoder.predict(x) for x in latents]
    return decoder, latents, descriptors


def test_the_torch_features_are_the_numpy_ones_and_carry_gradients():
    x = torch.randn(3, CHANNELS, FRAMES, dtype=torch.float64, requires_grad=True)
    batch = window_features_torch(x)
    assert batch.shape == (3, 5, 6 * CHANNELS)
    for i in range(3):
        assert np.allclose(batch[i].detach().numpy(), window_features(x[i].detach().numpy()), atol=1e-12)
    batch.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_the_reader_is_the_decoders_prediction_in_standardised_units():
    decoder, latents, descriptors = _decoder()
    read = decoder.standardised_reader()
    got = read(torch.as_tensor(latents[:4], dtype=torch.float32)).detach().numpy()
    want = np.stack([decoder.standardise(d) for d in descriptors[:4]])
    assert np.allclose(got, want, atol=1e-3 * np.abs(want).max())


def test_samples_that_read_as_their_chunks_score_zero_and_others_do_not():
    decoder, latents, descriptors = _decoder()
    term = build_descriptor_term(decoder, descriptors, weight=2.0)
    rows = np.array([3, 7, 11])
    same = torch.tensor(latents[rows], dtype=torch.float32, requires_grad=True)
    assert term(Identity(), same, rows).item() < 1e-6
    other = torch.tensor(latents[rows + 1], dtype=torch.float32, requires_grad=True)
    loss = term(Identity(), other, rows)
    assert loss.item() > 0.05
    loss.backward()
    assert other.grad.abs().sum() > 0  # the term reaches whatever made the samples


def test_the_weight_scales_the_term():
    decoder, latents, descriptors = _decoder()
    rows = np.array([0, 5])
    samples = torch.as_tensor(latents[rows + 1], dtype=torch.float32)
    one = build_descriptor_term(decoder, descriptors, weight=1.0)(Identity(), samples, rows)
    three = build_descriptor_term(decoder, descriptors, weight=3.0)(Identity(), samples, rows)
    assert three.item() == pytest.approx(3.0 * one.item(), rel=1e-5)


def test_a_training_step_scores_the_emotion_heads_samples_in_the_batchs_sorted_order(tmp_path, monkeypatch):
    """The samples are drawn at ``cond[:n]`` of the *sorted* batch (dataset.batch sorts its rows), so the
    targets must be looked up by the sorted rows; both terms must see the same samples."""
    import emovae.train.loop as loop

    folder = write_synthetic_latents(tmp_path / "lat", n_songs=4, chunks_per_song=2, channels=16, seed=1)
    dataset = load_latent_dataset(folder, 5)
    model = ConditionalVAE(TINY)
    model.set_normalization(torch.zeros(16), torch.ones(16))
    seen = {}

    class Spy(DescriptorTerm):
        def __call__(self, model, samples, rows):
            seen["rows"], seen["samples"] = rows, samples
            return samples.sum() * 0.0

    original = loop._emotion_terms

    def emotion_spy(model, target, cond, weight, samples):
        seen["emotion_samples"] = samples
        return original(model, target, cond, weight, samples)

    monkeypatch.setattr(loop, "_emotion_terms", emotion_spy)
    config = TrainConfig(latents=str(folder), model=TINY, emotion_samples=3)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    loop._train_step(model, optimizer, dataset, np.array([6, 1, 4, 0]), 0.5, config,
                     torch.Generator().manual_seed(0), torch.device("cpu"), Spy(None, torch.zeros(0), 1.0))
    assert list(seen["rows"]) == [0, 1, 4]
    assert seen["samples"] is seen["emotion_samples"] and seen["samples"].shape[0] == 3


def test_with_weight_zero_there_is_no_term(tmp_path):
    import emovae.train.loop as loop
    from emovae.train.dataset import split_by_song
    from emovae.train.parallel import DataParallel

    folder = write_synthetic_latents(tmp_path / "lat", n_songs=4, chunks_per_song=2, channels=16, seed=1)
    dataset = load_latent_dataset(folder, 5)
    split = split_by_song(dataset.labels, 0.25, 0)
    config = TrainConfig(latents=str(folder), chunks=str(tmp_path / "never read"), descriptor_weight=0.0)
    assert loop._descriptor_term(tmp_path, config, dataset, split, torch.device("cpu"), DataParallel.current(), None) is None


@pytest.mark.parametrize("settings, match", [
    ({"descriptor_weight": -1.0, "chunks": "processed_data"}, "descriptor_weight=-1.0 .must be >= 0"),
    ({"descriptor_weight": 1.0}, "descriptor_weight=1.0 needs chunks .*--chunks"),
])
def test_a_negative_weight_or_a_weight_without_chunks_is_refused(settings, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**settings)
