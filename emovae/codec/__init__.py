"""EnCodec codec (weights, identity, encode/decode) and the encoding stage.

Import the pieces from here; :mod:`emovae.codec.encode` (the stage) is imported lazily by callers
that need it, so loading the codec does not pull in pandas/tqdm/plotting.
"""

from emovae.codec.encodec_codec import (
    CHANNELS,
    FRAME_RATE,
    HOP_LENGTH,
    Codec,
    CodecMismatchError,
    describe_identity,
    ensure_same_codec,
    load_codec,
    read_identity,
    same_codec,
)
from emovae.codec.weights import CHECKPOINT_NAME, CHECKPOINT_URL, ENV_VAR, CodecWeightsMissing, hub_checkpoint_path

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
