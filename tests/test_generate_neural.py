"""Neural renderer: the checkpoint's own (random-init) EnCodec decodes its latents; other codecs are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emovae.audio import SAMPLE_RATE
from emovae.generate.generator import GenerationRequest, generate_audio
from emovae.generate.render import NeuralRenderer, codec_for_identity
from emovae.generate.sampler import EmotionPath
from emovae.codec import CodecMismatchError, load_codec
from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint
from tests.score_helpers import fit_fixture_score_decoder

@pytest.fixture(scope="module")
def codec():
    return load_codec("random", seed=0)


def _checkpoint(path, identity):
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(latent_dim=8, stage_channels=(16, 32), stage_strides=(4, 2), cond_hidden=16))
    save_checkpoint(path, model, {"codec": identity, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, codec):
    return _checkpoint(tmp_path_factory.mktemp("vae") / "best.pt", codec.identity)


def test_neural_renderer_decodes_with_the_checkpoints_random_codec(checkpoint, codec):
    request = GenerationRequest(checkpoint, emotion="calm", renderer="neural", seconds=1.3, seed=2, device="cpu")
    audio, sr, info = generate_audio(request)
    assert sr == SAMPLE_RATE and audio.shape == (int(round(1.3 * SAMPLE_RATE)),)  # the codec's 24 kHz mono
    assert info["sample_rate"] == SAMPLE_RATE and info["channels"] == 1 and info["timbre"] is None
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0 and audio.std() > 0
    assert info["codec_id"] == codec.identity["codec_id"] and info["renderer"] == "neural"
    again, _, _ = generate_audio(request)
    np.testing.assert_array_equal(audio, again)


def test_a_codec_with_other_weights_is_refused_with_both_names(codec):
    other = load_codec("random", seed=1)
    with pytest.raises(CodecMismatchError) as caught:
        NeuralRenderer(codec=other, expected_identity=codec.identity)
    message = str(caught.value)
    assert codec.identity["codec_id"] in message and other.identity["codec_id"] in message and "weights_hash" in message


def test_checkpoint_from_another_codec_is_refused_before_rendering(tmp_path, codec):
    foreign = {**codec.identity, "codec_id": "random-s0-deadbeef", "weights_hash": "deadbeef"}
    ckpt = _checkpoint(tmp_path / "foreign.pt", foreign)
    fit_fixture_score_decoder(ckpt)  # the synth plays the latent through the score decoder beside the checkpoint
    with pytest.raises(CodecMismatchError, match="random-s0-deadbeef"):
        generate_audio(GenerationRequest(ckpt, renderer="neural", seconds=1.0, device="cpu"))
    audio, sr, _ = generate_audio(GenerationRequest(ckpt, renderer="synth", seconds=1.0, device="cpu"))  # synth still works
    assert audio.shape == (2, sr)


def test_rebuilding_the_identity_gives_the_same_codec(codec):
    rebuilt = codec_for_identity(codec.identity)
    assert rebuilt.identity["weights_hash"] == codec.identity["weights_hash"]
    latent = np.random.default_rng(0).standard_normal((128, 30)).astype(np.float32)
    rendered = NeuralRenderer(rebuilt, codec.identity).render(latent, EmotionPath((0.5, 0.5)), 0.4, 0)
    assert rendered.audio.shape == (int(0.4 * SAMPLE_RATE),)
    assert rendered.score is None and rendered.programs is None  # decoded audio: no score, so no MIDI


def test_pretrained_checkpoint_with_other_weights_file_is_refused(tmp_path, codec):
    from emovae.codec.encodec_codec import build_model
    from emovae.codec.weights import WeightsSource

    weights = tmp_path / "someone_elses_encodec.th"
    torch.save(build_model(WeightsSource("random", None, 3), None).state_dict(), weights)
    expected = {**codec.identity, "codec_id": "pretrained-6f1ac3b2", "weights": "pretrained", "seed": None, "weights_hash": "6f1ac3b2"}
    with pytest.raises(CodecMismatchError, match="pretrained-6f1ac3b2"):
        codec_for_identity(expected, weights=str(weights))


def test_missing_weights_file_says_where_to_put_it(codec):
    from emovae.codec import CodecWeightsMissing

    with pytest.raises(CodecWeightsMissing, match="not found"):
        codec_for_identity({**codec.identity, "weights": "pretrained"}, weights="/nonexistent/encodec_24khz.th")
