"""``--precision bf16``: the encoder under bfloat16 autocast stays close to fp32, and a bad value is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emovae.codec import load_codec


def test_bf16_latents_are_close_to_fp32_but_not_equal():
    audio = (0.1 * np.random.default_rng(0).standard_normal(6_000)).astype(np.float32)  # 0.25 s: bf16 is emulated here
    codec = load_codec("random", seed=0)
    fp32 = codec.encode(audio)
    bf16 = dataclasses.replace(codec, precision="bf16").encode(audio)
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    relative = np.linalg.norm(bf16 - fp32) / np.linalg.norm(fp32)
    assert 0 < relative < 0.02  # measured 5e-3 on 5 s chunks
    assert np.array_equal(codec.encode(audio), fp32)  # autocast is scoped to the bf16 call


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision 'fp16' is not one of"):
        load_codec("random", seed=0, precision="fp16")
