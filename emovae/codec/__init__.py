"""EnCodec codec (weights, identity, encode/decode) and the encoding stage.

Import the pieces from here. The identity helpers load at once; the codec itself (EnCodec,
torchaudio: about a second) only when one of its names is first used, so a stage that merely
checks identities (a VAE checkpoint, the app) starts fast. :mod:`emovae.codec.encode` (the stage)
is imported by callers that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

from emovae.codec.identity import (
    CHANNELS,
    FRAME_RATE,
    HOP_LENGTH,
    CodecMismatchError,
    describe_identity,
    ensure_same_codec,
    read_identity,
    same_codec,
)

_LAZY = {
    "Codec": "emovae.codec.encodec_codec",
    "load_codec": "emovae.codec.encodec_codec",
    "CHECKPOINT_NAME": "emovae.codec.weights",
    "CHECKPOINT_URL": "emovae.codec.weights",
    "ENV_VAR": "emovae.codec.weights",
    "CodecWeightsMissing": "emovae.codec.weights",
    "hub_checkpoint_path": "emovae.codec.weights",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHANNELS",
    "CHECKPOINT_NAME",
    "CHECKPOINT_URL",
    "Codec",
    "CodecMismatchError",
    "CodecWeightsMissing",
    "ENV_VAR",
    "FRAME_RATE",
    "HOP_LENGTH",
    "describe_identity",
    "ensure_same_codec",
    "hub_checkpoint_path",
    "load_codec",
    "read_identity",
    "same_codec",
]
