"""Generation: sample latents from a VAE checkpoint at an emotion, render them, measure the emotion.

    sampler     checkpoint -> latents at (V, A) or along a trajectory (seeded, temperature)
    controls    generated latent -> MusicControls (contour, density, dynamics) for the synth
    render      renderers "synth" (music engine) and "neural" (the checkpoint's EnCodec decoder)
    generator   GenerationRequest -> generate_audio(request) -> (audio, sample_rate, info)
    estimator   EmotionEstimator: librosa features -> ridge per axis, the emotion-control yardstick
    stage       the generation stage behind `python -m pipeline.generate` (wavs + preset figure)
    latent_map  the PCA map of training chunks in VAE latent space (demo bundle)
"""

from emovae.generate.estimator import EmotionEstimator, fit_estimator_from_chunks
from emovae.generate.generator import GenerationRequest, Generator, generate_audio, get_generator
from emovae.generate.render import RENDERERS, NeuralRenderer, SynthRenderer, check_codec_matches, codec_for_identity
from emovae.generate.sampler import MAX_SECONDS, EmotionPath, GenerationInputError, LatentSampler
from emovae.generate.stage import GenerationResult, GenerationStageConfig, run_generation

__all__ = [
    "MAX_SECONDS",
    "RENDERERS",
    "EmotionEstimator",
    "EmotionPath",
    "GenerationInputError",
    "GenerationRequest",
    "GenerationResult",
    "GenerationStageConfig",
    "Generator",
    "LatentSampler",
    "NeuralRenderer",
    "SynthRenderer",
    "check_codec_matches",
    "codec_for_identity",
    "fit_estimator_from_chunks",
    "generate_audio",
    "get_generator",
    "run_generation",
]
