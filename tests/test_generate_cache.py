"""Loaded generators are cached, and the cache notices every file a generator is built from."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from emovae.generate.generator import get_generator
from emovae.generate.sampler import GenerationInputError
from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint
from emovae.model.score import SCORE_DECODER_FILE, ScoreDecoder
from emovae.workflow import WorkflowConfig

CODEC = {"codec_id": "random-s0-test", "weights": "random", "seed": 0, "latent_kind": "continuous", "bandwidth": None,
         "sample_rate": 24000, "frame_rate": 75, "channels": 8, "weights_hash": "test"}


def test_a_score_decoder_written_beside_an_unchanged_checkpoint_is_picked_up(tmp_path):
    torch.manual_seed(0)
    config = VAEConfig(in_channels=8, latent_dim=4, stage_channels=(8, 8), stage_strides=(4, 2), cond_hidden=8)
    path = tmp_path / "best.pt"
    save_checkpoint(path, ConditionalVAE(config), {"codec": CODEC, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    before = get_generator(path, "cpu")
    with pytest.raises(GenerationInputError, match="no score decoder"):
        before.renderer("synth")
    rng = np.random.default_rng(0)
    ScoreDecoder.fit(rng.standard_normal((40, 32)), rng.standard_normal((40, 9)), alpha=1.0).save(tmp_path / SCORE_DECODER_FILE)
    stat = os.stat(tmp_path / SCORE_DECODER_FILE)  # a distinct mtime even on coarse clocks
    os.utime(tmp_path / SCORE_DECODER_FILE, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = get_generator(path, "cpu")
    assert after is not before and after.score is not None
    assert after.renderer("synth").name == "synth"
    assert get_generator(path, "cpu") is after  # and it is cached again


def test_a_demo_too_small_for_a_training_split_is_refused_by_name():
    with pytest.raises(ValueError, match="--demo-songs"):
        WorkflowConfig(demo=True, demo_songs=5, demo_seconds=12.0)
    WorkflowConfig(demo=True, demo_songs=5, demo_seconds=17.0)  # the tiny workflow test's size still fits
