"""Conditional VAE over EnCodec latents: config, building blocks, model, checkpoint I/O."""

from emovae.model.checkpoint import CheckpointError, CodecMismatchError, check_codec_compatible, load_checkpoint, save_checkpoint
from emovae.model.config import VAEConfig
from emovae.model.vae import ConditionalVAE, VAEOutput

__all__ = [
    "CheckpointError",
    "CodecMismatchError",
    "ConditionalVAE",
    "VAEConfig",
    "VAEOutput",
    "check_codec_compatible",
    "load_checkpoint",
    "save_checkpoint",
]
