"""The codec wrapper: frame counts, determinism, batching, round trip and identity (random-init EnCodec)."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.codec import CodecMismatchError, ensure_same_codec, load_codec, same_codec

SR = 24_000


@pytest.fixture(scope="module")
def codec():
    return load_codec("random", device="cpu", seed=0)


def _audio(n: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) for i in range(n)])
    return (tones + 0.05 * rng.standard_normal(tones.shape)).astype(np.float32)


@pytest.mark.parametrize("seconds", [5, 10])
def test_latents_have_128_channels_at_75_frames_per_second(codec, seconds):
    latents = codec.encode(_audio(1, seconds))
    assert latents.shape == (1, 128, 75 * seconds)
    assert latents.dtype == np.float32 and np.isfinite(latents).all()


def test_one_dimensional_input_is_one_item_and_odd_lengths_round_up(codec):
    assert codec.encode(_audio(1, 1)[0]).shape == (1, 128, 75)
    assert codec.encode(_audio(1, 1.1)[:, :24_001]).shape == (1, 128, 76)  # the last partial frame is padded


def test_encoding_is_deterministic_across_calls_and_fresh_codecs(codec):
    audio = _audio(2, 1)
    first = codec.encode(audio)
    np.testing.assert_array_equal(first, codec.encode(audio))
    np.testing.assert_array_equal(first, load_codec("random", seed=0).encode(audio))


def test_batched_encoding_equals_one_by_one(codec):
    audio = _audio(3, 1)
    batched = codec.encode(audio, batch_size=3)
    singles = np.concatenate([codec.encode(audio[i : i + 1], batch_size=1) for i in range(3)])
    np.testing.assert_allclose(batched, singles, rtol=1e-4, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])  # different inputs really give different latents


def test_decode_returns_320_samples_per_frame_and_batches_like_singles(codec):
    latents = codec.encode(_audio(2, 2))
    audio = codec.decode(latents)
    assert audio.shape == (2, 2 * SR) and audio.dtype == np.float32
    np.testing.assert_allclose(audio[1:], codec.decode(latents[1]), rtol=1e-4, atol=1e-5)


def test_identity_is_stable_per_weights_and_differs_per_seed(codec):
    identity = codec.identity
    assert identity["codec_id"] == f"random-s0-{identity['weights_hash']}"
    assert set(identity) == {"codec_id", "weights", "seed", "latent_kind", "bandwidth", "sample_rate",
                             "frame_rate", "channels", "weights_hash"}
    assert (identity["weights"], identity["latent_kind"], identity["bandwidth"]) == ("random", "continuous", None)
    other = load_codec("random", seed=1).identity
    assert other["weights_hash"] != identity["weights_hash"] and other["codec_id"].startswith("random-s1-")


def test_mismatched_identities_are_refused_with_both_ids_named(codec):
    other = load_codec("random", seed=1).identity
    ensure_same_codec(codec.identity, dict(codec.identity), context="a vs b")  # equal: no error
    with pytest.raises(CodecMismatchError) as info:
        ensure_same_codec(codec.identity, other, context="latents_5s.npy vs vae.pt")
    message = str(info.value)
    assert codec.codec_id in message and other["codec_id"] in message and "latents_5s.npy vs vae.pt" in message


def test_quantized_kind_is_a_different_latent_space_with_the_same_weights(codec):
    quantized = load_codec("random", seed=0, latent_kind="quantized", bandwidth=6.0)
    assert quantized.identity["weights_hash"] == codec.identity["weights_hash"]
    assert quantized.identity["bandwidth"] == 6.0 and not same_codec(quantized.identity, codec.identity)
    assert quantized.encode(_audio(1, 1)).shape == (1, 128, 75)
    with pytest.raises(ValueError, match="bandwidth"):
        load_codec("random", latent_kind="quantized", bandwidth=5.0)
