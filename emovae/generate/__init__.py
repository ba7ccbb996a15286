"""Generation: sample latents from a VAE checkpoint at an emotion, render them, measure the emotion.

    sampler     checkpoint -> latents at (V, A) or along a trajectory (seeded, temperature)
    controls    generated latent -> MusicControls (contour, density, dynamics) for the synth
    render      renderers "synth" (the engine played by the score decoder's reading of the latent),
                "rules" (no-model baseline) and "neural" (the checkpoint's EnCodec decoder); each
                returns a Rendered (audio, details, and the composed Score for synth and rules)
    listening   ListeningSettings: how synth and rules play for a listener (44.1 kHz stereo, SoundFont)
    generator   GenerationRequest -> generate_audio(request) -> (audio, sample_rate, info); ablations;
                Generator.generate_piece -> GeneratedPiece (+ score, .write_midi for synth/rules)
    stage       the generation stage behind `python -m pipeline.generate` (wavs [+ .mid] + preset figure)
"""

from emovae.generate.generator import GeneratedPiece, GenerationRequest, Generator, generate_audio, get_generator
from emovae.generate.listening import ListeningSettings
from emovae.generate.render import (
    MIDI_RENDERERS,
    RENDERER_HELP,
    RENDERERS,
    NeuralRenderer,
    Rendered,
    RulesRenderer,
    SynthRenderer,
    check_codec_matches,
    codec_for_identity,
)
from emovae.generate.sampler import MAX_SECONDS, EmotionPath, GenerationInputError, LatentSampler
from emovae.generate.stage import GenerationResult, GenerationStageConfig, run_generation

__all__ = [
    "MAX_SECONDS",
    "MIDI_RENDERERS",
    "RENDERERS",
    "RENDERER_HELP",
    "EmotionPath",
    "GeneratedPiece",
    "GenerationInputError",
    "GenerationRequest",
    "GenerationResult",
    "GenerationStageConfig",
    "Generator",
    "LatentSampler",
    "ListeningSettings",
    "NeuralRenderer",
    "Rendered",
    "RulesRenderer",
    "SynthRenderer",
    "check_codec_matches",
    "codec_for_identity",
    "generate_audio",
    "get_generator",
    "run_generation",
]
