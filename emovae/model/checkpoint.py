"""Checkpoint files (``.pt``): a model plus everything needed to trust and reuse it.

A checkpoint holds the weights (normalisation buffers included), the :class:`VAEConfig` as a plain dict
(so loading needs no flags), and caller-supplied ``extra`` entries; the training stage stores the codec
identity, epoch, metrics, chunk length, optimiser and RNG states there. Writes are atomic, so a crash
while saving never destroys the previous ``last.pt``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from emovae.codec.identity import CodecMismatchError, ensure_same_codec
from emovae.io import atomic_path
from emovae.model.config import VAEConfig
from emovae.model.vae import ConditionalVAE

FORMAT = "emovae-vae"
FORMAT_VERSION = 1
RESERVED_KEYS = {"format", "format_version", "model_state", "config"}


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or is not an emovae VAE checkpoint."""


def save_checkpoint(path: str | os.PathLike, model: ConditionalVAE, extra: dict[str, Any] | None = None) -> Path:
    """Atomically write ``model`` and ``extra`` (e.g. codec, epoch, metrics, chunk_seconds) to ``path``."""
    extra = dict(extra or {})
    clash = RESERVED_KEYS & set(extra)
    if clash:
        raise ValueError(f"extra checkpoint keys {sorted(clash)} are reserved")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_path(path, suffix=".pt.tmp") as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[ConditionalVAE, dict[str, Any]]:
    """Rebuild the model from ``path``; ``info`` has config, codec, epoch, metrics, chunk_seconds and
    any other saved extras. The model is returned in eval mode."""
    payload = read_checkpoint(path, map_location)
    config = VAEConfig.from_dict(payload["config"], source=str(path), saved=True)
    model = ConditionalVAE(config)
    try:
        model.load_state_dict(payload["model_state"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the saved config ({exc})") from None
    model.to(map_location).eval()
    info = {k: v for k, v in payload.items() if k != "model_state"}
    info["config"] = config
    for key in ("codec", "epoch", "metrics", "chunk_seconds"):
        info.setdefault(key, None)
    return model, info


def recorded_guidance(config: VAEConfig, info: dict[str, Any]) -> float:
    """The classifier-free guidance scale the training run recorded (and was evaluated with), from a
    checkpoint's extras; 1 (none) when it recorded none or the model has no null condition to guide from."""
    trained = (info.get("train_config") or {}).get("guidance", 1.0)
    return float(trained) if getattr(config, "unconditional", False) else 1.0


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict, with errors that name the file and say what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; train one with `python -m pipeline.train`")
    try:
        # weights_only: a checkpoint never needs pickled code, and the app loads files by typed path
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an emovae VAE checkpoint (missing format marker {FORMAT!r})")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format v{payload['format_version']} is newer than this code (v{FORMAT_VERSION})"
        )
    return payload


def check_codec_compatible(checkpoint_codec: dict[str, Any] | None, latents_codec: dict[str, Any], where: str) -> None:
    """Refuse to mix latents of one codec with a VAE trained on another.

    Delegates to the codec stage's :func:`ensure_same_codec` (codec id, weights hash, latent kind and
    bandwidth), so every stage raises the one :class:`CodecMismatchError` type. ``where`` names the
    checkpoint file; a checkpoint without a codec identity never matches.
    """
    ensure_same_codec(dict(checkpoint_codec or {}), latents_codec, f"{where} (checkpoint) vs the latents")
