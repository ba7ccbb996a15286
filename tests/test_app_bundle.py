"""A tiny demo bundle for the app tests, built with the same library calls as the real one.

``build_tiny_bundle`` mirrors ``pipeline.run_all --demo`` at toy size: demo dataset -> 5 s chunks ->
latents -> VAE checkpoint, score decoder, latent map and estimator -> ``manifest.json``. Two shortcuts keep it
fast, and both are visible here: the latents are seeded noise instead of EnCodec output, and the VAE is
not trained (the app tests check wiring and safety, not model quality). The codec identity is the
training stage's synthetic one, which no codec on any machine matches, so the neural renderer is
disabled: exactly the "codec not available" case the app must handle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emovae.app.bundle import LatentMap, ensure_demo_dataset, load_bundle
from emovae.app.dataset import prepare_dataset
from emovae.io import write_json

DATASET = {"n_songs": 4, "seconds": 15.0, "seed": 0}
_BUILT: dict[Path, tuple[Path, Path]] = {}


def shared_tiny_bundle(tmp_path_factory) -> tuple[Path, Path]:
    """One tiny bundle per pytest session, shared by the app, browser and bundle tests (it takes ~15 s)."""
    base = tmp_path_factory.getbasetemp()
    if base not in _BUILT:
        _BUILT[base] = build_tiny_bundle(base / "app-bundle")
    return _BUILT[base]


def build_tiny_bundle(tmp: Path) -> tuple[Path, Path]:
    """Return (bundle_dir, app cache_dir); the cache already holds the regenerated dataset and chunks."""
    from emovae.eval.estimator import fit_estimator_from_chunks
    from emovae.train.latent_map import build_latent_map
    from emovae.model.checkpoint import save_checkpoint
    from emovae.model.config import VAEConfig
    from emovae.model.vae import ConditionalVAE
    from emovae.train.synthetic import synthetic_codec_identity
    from tests.score_helpers import fit_fixture_score_decoder

    bundle, cache = tmp / "bundle", tmp / "cache"
    bundle.mkdir(parents=True, exist_ok=True)
    root = ensure_demo_dataset(cache / "demo", DATASET)
    view = prepare_dataset(root, cache, 5)
    labels = view.chunks.reset_index(drop=True)
    latents = np.random.default_rng(0).normal(size=(len(labels), 128, 5 * 75)).astype(np.float32)
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(latent_dim=8, stage_channels=(16, 16))).eval()
    _let_the_condition_in(model)
    identity = synthetic_codec_identity()
    save_checkpoint(bundle / "vae.pt", model, {"codec": identity, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    build_latent_map(model, latents, labels, bundle / "latent_map.npz")
    fit_fixture_score_decoder(bundle / "vae.pt")  # score_decoder.json beside vae.pt: the synth renderer needs it
    fit_estimator_from_chunks(view.chunks_dir).save(bundle / "estimator.json")
    write_json(bundle / "manifest.json", {"dataset": DATASET, "chunk_seconds": 5, "codec": identity, "vae": "vae.pt",
                                          "estimator": "estimator.json", "latent_map": "latent_map.npz",
                                          "score_decoder": "score_decoder.json"})
    return bundle, cache


def _let_the_condition_in(model) -> None:
    """Stand in for training's effect on the conditioning: FiLM starts at zero, so an untrained VAE's
    sample ignores the emotion, and the synth (which plays the latent, not the label) would then give
    every emotion the same music. Seeded random FiLM weights make the emotion reach the latent."""
    from emovae.model.modules import FiLM

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FiLM):
                module.proj.weight.copy_(0.5 * torch.randn(module.proj.weight.shape, generator=generator))


def test_tiny_bundle_loads_like_the_real_one(tmp_path_factory):
    bundle_dir, cache = shared_tiny_bundle(tmp_path_factory)
    bundle = load_bundle(bundle_dir)
    latent_map = bundle.latent_map
    assert isinstance(latent_map, LatentMap) and latent_map.coords.shape == (len(latent_map.chunk_ids), 2)
    # the projection reproduces the stored coordinates of the training chunks
    first = latent_map.coords[0]
    assert latent_map.nearest(first, 1)[0] == 0
    assert bundle.dataset_params == DATASET and bundle.chunk_seconds == 5
    assert bundle.estimator.is_fitted


def test_upload_with_an_available_codec_is_placed_by_the_latent_projection(tmp_path_factory):
    """The codec path of the Upload tab: EnCodec -> posterior mean -> the bundle's own PCA."""
    from emovae.app.analysis import analyse_clip
    from emovae.app.uploads import UploadedClip
    from emovae.codec.encodec_codec import load_codec
    from emovae.model.checkpoint import load_checkpoint
    from emovae.music import create_melodic_music
    from emovae.train.latent_map import pooled_posterior_means

    bundle = load_bundle(shared_tiny_bundle(tmp_path_factory)[0])
    model, _ = load_checkpoint(bundle.vae_path)
    codec = load_codec("random", seed=0)
    audio = create_melodic_music(0.9, 0.9, seconds=2.0, seed=3)
    clip = UploadedClip("happy.wav", np.asarray(audio, dtype=np.float32), 24_000, 2.0)
    result = analyse_clip(clip, bundle.estimator, bundle.latent_map, model, codec)
    assert result.position is not None and result.position.shape == (2,)
    latents = codec.encode(clip.audio[None, :])
    expected = bundle.latent_map.project(pooled_posterior_means(model, latents, np.asarray([result.estimate]))[0])
    assert np.allclose(result.position, expected)
    order = bundle.latent_map.nearest(result.position, 5)
    assert list(result.neighbours["chunk_id"]) == list(bundle.latent_map.chunk_ids[order])
    assert np.all(np.diff(result.neighbours["distance"].to_numpy()) >= 0)
    assert "nearest on the latent map" in result.markdown
