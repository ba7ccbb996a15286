"""The inference-optimised model computes what untouched EnCodec computes (within float tolerance)."""

from __future__ import annotations

import pytest
import torch
from encodec import EncodecModel
from encodec.modules.conv import pad1d

from emovae.codec.encodec_codec import build_model
from emovae.codec.inference import InferenceSConv1d, _pad, optimise_for_inference
from emovae.codec.weights import WeightsSource


def _model(seed: int = 0) -> EncodecModel:
    return build_model(WeightsSource("random", None, seed), None)  # the untouched encodec model


@pytest.fixture(scope="module")
def models():
    return _model(), optimise_for_inference(_model())


@pytest.mark.parametrize("length", [24_000, 24_001, 4_000])
def test_optimised_encoder_and_decoder_match_reference(models, length):
    reference, optimised = models
    audio = 0.3 * torch.randn(2, 1, length, generator=torch.Generator().manual_seed(length))
    with torch.inference_mode():
        expected = reference.encoder(audio)
        got = optimised.encoder(audio)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(optimised.decoder(expected), reference.decoder(expected), rtol=1e-4, atol=1e-5)


def test_optimisation_really_replaced_the_convolutions(models):
    _, optimised = models
    replaced = [m for m in optimised.modules() if isinstance(m, InferenceSConv1d)]
    assert len(replaced) > 20 and any(m.kernel_size == 1 for m in replaced)
    assert not any(hasattr(m, "weight_g") for m in optimised.modules())  # weight norm folded


@pytest.mark.parametrize("left, right", [(0, 0), (6, 0), (2, 3), (0, 5), (9, 9)])
def test_fast_reflect_padding_is_bit_identical_to_encodec(left, right):
    for length in (3, 10, 50):  # 3 and 10 exercise EnCodec's short-input fallback
        x = torch.randn(2, 4, length)
        assert torch.equal(_pad(x, left, right, "reflect"), pad1d(x, (left, right), mode="reflect"))
