"""Whether a checkpoint's codec can be built on this machine, checked once per checkpoint.

Building EnCodec takes a second or more, so the demo bundle's codec is checked in a thread beside
start-up (the page must not wait for it) and any other checkpoint's on first use. A codec that
cannot be built disables only what needs it (the ``neural`` renderer, the Upload tab's latent
position); the result carries the sentence a visitor is shown.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodecStatus:
    """Whether the codec a checkpoint names can be built here, and the sentence to show if not."""

    available: bool
    description: str
    reason: str = ""


def describe_codec(identity: dict) -> str:
    if not identity:
        return "unknown codec"
    kind = "pretrained Meta EnCodec 24 kHz" if identity.get("weights") == "pretrained" else "random-init EnCodec (architecture only)"
    return f"{kind} `{identity.get('codec_id', '?')}`"


def short_reason(exc: Exception, identity: dict) -> str:
    """One line a visitor understands; the full message goes to the server log."""
    name = type(exc).__name__
    if name == "CodecWeightsMissing":
        return "the pretrained EnCodec weights are not on this machine"
    if "Mismatch" in name:
        return f"no codec on this machine matches the checkpoint's codec `{identity.get('codec_id')}`"
    return f"{name}: {str(exc).splitlines()[0][:160]}"


def check_codec(checkpoint: Path) -> CodecStatus:
    """Try to build the checkpoint's codec (cached by the generator for later use)."""
    from emovae.generate.generator import get_generator

    try:
        generator = get_generator(checkpoint)
    except Exception as exc:  # an unreadable checkpoint has no usable codec either
        return CodecStatus(False, "unknown codec", short_reason(exc, {}))
    identity = generator.sampler.codec_identity
    description = describe_codec(identity)
    if not identity:
        return CodecStatus(False, description, "the checkpoint names no codec")
    try:
        generator.renderer("neural")
    except Exception as exc:  # CodecWeightsMissing, mismatch, import problems: all mean "not here"
        log.warning("codec %s unavailable: %s", identity.get("codec_id"), exc)
        return CodecStatus(False, description, short_reason(exc, identity))
    return CodecStatus(True, description)


class CodecProbe:
    """Codec status per checkpoint file: checked once, in the background when asked to start early."""

    def __init__(self) -> None:
        self._status: dict[Path, CodecStatus] = {}
        self._pending: dict[Path, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, checkpoint: Path) -> None:
        """Begin checking ``checkpoint`` in a daemon thread (it dies with the app)."""
        key = Path(checkpoint).resolve()
        with self._lock:
            if key in self._status or key in self._pending:
                return
            thread = threading.Thread(target=self._check, args=(key,), name="codec-check", daemon=True)
            self._pending[key] = thread
        thread.start()

    def _check(self, key: Path) -> None:
        status = check_codec(key)
        with self._lock:
            self._status[key] = status
            self._pending.pop(key, None)

    def status(self, checkpoint: Path) -> CodecStatus:
        """The checkpoint's codec status (waits for a check in progress, or runs one now)."""
        key = Path(checkpoint).resolve()
        with self._lock:
            known, pending = self._status.get(key), self._pending.get(key)
        if known is not None:
            return known
        if pending is not None:
            pending.join()
            return self._status[key]
        self._check(key)
        return self._status[key]
