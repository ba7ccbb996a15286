"""Test helper (not a test module): a small score decoder beside a fixture checkpoint.

The ``synth`` renderer plays what the score decoder reads off a latent, so a checkpoint without
``score_decoder.json`` beside it cannot use it. The training stage fits one on chunk latents and the
chunks' described audio; fixtures here do the same at toy size: latents sampled from the (untrained)
fixture VAE at a small grid of emotions, paired with the descriptors of rules-engine audio at the
same emotions. What the decoder reads is not the point of the tests using it (the plumbing is);
``tests/test_score_decoder.py`` and ``tests/test_generate_model_path.py`` test what it reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emovae.analysis.descriptors import describe
from emovae.audio import SAMPLE_RATE
from emovae.model.score import SCORE_DECODER_FILE, ScoreDecoder, window_features

GRID = (0.1, 0.5, 0.9)


def fit_fixture_score_decoder(checkpoint: str | Path, seconds: float = 3.0, alpha: float = 1.0) -> Path:
    """Fit a ScoreDecoder on the checkpoint's own samples and write it beside the checkpoint."""
    from emovae.generate.sampler import EmotionPath, LatentSampler
    from emovae.music import create_melodic_music

    sampler = LatentSampler.from_checkpoint(checkpoint, "cpu")
    frame_rate = int(sampler.codec_identity.get("frame_rate", 75))
    features, targets = [], []
    for i, (v, a) in enumerate((v, a) for v in GRID for a in GRID):
        latent = sampler.sample(EmotionPath((v, a)), seconds, seed=i)
        rows = describe(create_melodic_music(v, a, seconds=seconds, seed=i), SAMPLE_RATE)
        f = window_features(latent, frame_rate)
        n = min(len(f), len(rows))
        features.append(f[:n]), targets.append(rows[:n])
    decoder = ScoreDecoder.fit(np.concatenate(features), np.concatenate(targets), alpha, frame_rate,
                               sampler.codec_identity.get("codec_id"))
    return decoder.save(Path(checkpoint).parent / SCORE_DECODER_FILE)
