"""A codec's identity and the rule that artefacts of different codecs never mix.

Kept apart from :mod:`emovae.codec.encodec_codec` on purpose: checking identities is plain data
work, and later stages (the VAE checkpoint, the app) must be able to do it without importing
EnCodec and torchaudio (about a second of start-up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emovae.audio import SAMPLE_RATE
from emovae.io import read_json

FRAME_RATE = 75
HOP_LENGTH = SAMPLE_RATE // FRAME_RATE  # 320 samples per latent frame
CHANNELS = 128


class CodecMismatchError(ValueError):
    """Two artefacts were made with different codec identities and must not be combined."""


def describe_identity(identity: dict[str, Any]) -> str:
    """One readable line: the id plus the latent kind (two ids can match while the kinds differ)."""
    kind = identity.get("latent_kind", "?")
    if kind == "quantized":
        kind = f"quantized @ {identity.get('bandwidth')} kbps"
    return f"{identity.get('codec_id', '?')} ({kind})"


def same_codec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Identities match when weights and latent space match (codec_id, kind, bandwidth)."""
    keys = ("codec_id", "weights_hash", "latent_kind", "bandwidth")
    return all(a.get(key) == b.get(key) for key in keys)


def ensure_same_codec(a: dict[str, Any], b: dict[str, Any], context: str = "") -> None:
    """Raise :class:`CodecMismatchError` naming both identities unless ``a`` and ``b`` match.

    ``context`` says which files or objects were compared, so the message can say what to redo.
    """
    if same_codec(a, b):
        return
    where = f" {context}:" if context else ""
    raise CodecMismatchError(
        f"codec mismatch{where} {describe_identity(a)} vs {describe_identity(b)}. Latents from different "
        "codecs live in different spaces and cannot be mixed; re-run the earlier stage with the same "
        "--encodec-weights / latent kind, or write to a fresh output folder."
    )


def read_identity(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``codec_<S>s.json`` (or any saved identity) with an error that names the file."""
    identity = read_json(path)
    if not isinstance(identity, dict) or "codec_id" not in identity:
        raise ValueError(f"{Path(path)}: not a codec identity (no 'codec_id'); delete it and re-run pipeline.encode")
    return identity
