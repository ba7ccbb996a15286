"""Renderers: a generated latent sequence (+ its emotion) -> audio at 24 kHz.

* ``synth``  - the music engine. The emotion path sets tempo, mode, register, loudness, ... and the
  latent sets the piece's shape through :func:`emovae.generate.controls.latent_to_controls`.
  Fast (vectorised NumPy), recognisably musical even when the VAE was trained on a random codec.
* ``neural`` - the EnCodec decoder of the codec the checkpoint's latents came from. Only that exact
  codec can decode them: a latent means nothing to a decoder with other weights, so a mismatch is
  refused rather than rendered as noise.

Both return mono float32 of exactly ``round(seconds * sample_rate)`` samples in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from emovae.audio import SAMPLE_RATE
from emovae.generate.controls import ControlSettings, latent_to_controls
from emovae.generate.sampler import EmotionPath, GenerationInputError
from emovae.generate.threads import cpu_worker
from emovae.music import create_melodic_music, create_piano_melody

RENDERERS = ("synth", "neural")
EMOTION_CURVE_POINTS = 65  # samples of the emotion path handed to the composer (smooth at any length)
NEURAL_PEAK = 0.98  # a random-init decoder has no calibrated level: scale down peaks above this


class Renderer(Protocol):
    name: str
    sample_rate: int

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> tuple[np.ndarray, dict]:
        """Audio for one latent ``(channels, frames)``, plus details for the info dict."""


def validate_renderer(name: str) -> str:
    key = str(name).strip().lower()
    if key not in RENDERERS:
        raise GenerationInputError(f"renderer={name!r} is unknown; choose one of {', '.join(RENDERERS)}")
    return key


@dataclass
class SynthRenderer:
    """Music engine driven by emotion (what) and latent (how). ``style`` picks the arrangement."""

    sample_rate: int = SAMPLE_RATE
    style: str = "ensemble"  # "ensemble" (create_melodic_music) or "piano" (create_piano_melody)
    settings: ControlSettings = ControlSettings()
    name: str = "synth"

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> tuple[np.ndarray, dict]:
        controls = latent_to_controls(latent, seconds, self.settings)
        valence, arousal = path.curve(EMOTION_CURVE_POINTS) if path.is_trajectory else path.start
        make = create_piano_melody if self.style == "piano" else create_melodic_music
        audio = make(valence, arousal, seconds=seconds, seed=seed, controls=controls, sample_rate=self.sample_rate)
        details = {
            "style": self.style,
            "controls": {name: np.round(getattr(controls, name), 3).tolist() for name in ("contour", "density", "dynamics")},
        }
        return np.asarray(audio, dtype=np.float32), details


def check_codec_matches(expected: dict, actual: dict) -> None:
    """Raise :class:`~emovae.codec.CodecMismatchError` unless ``actual`` is the codec ``expected`` names.

    Same rule as every other stage (:func:`emovae.codec.same_codec`: id, weights hash, latent kind,
    bandwidth); the message says what to do *here*: decode with the checkpoint's codec, or use synth.
    """
    from emovae.codec import CodecMismatchError, describe_identity, same_codec  # lazy: synth users need no encodec

    if not same_codec(expected, actual):
        raise CodecMismatchError(
            f"the checkpoint was trained on latents of codec {describe_identity(expected)} but the decoder offered is "
            f"{describe_identity(actual)} (weights_hash {expected.get('weights_hash')!r} vs {actual.get('weights_hash')!r}); "
            f"decode with the same codec (weights={expected.get('weights')!r}, seed={expected.get('seed')!r}) "
            "or use --renderer synth"
        )


def codec_for_identity(identity: dict, device: str = "cpu", weights: str | None = None):
    """Load the codec a checkpoint names, and verify it is that codec.

    A random-init codec is rebuilt from its seed (deterministic); a pretrained one goes through the
    normal weight lookup (``weights`` overrides it: a path, "pretrained" or "random").
    """
    from emovae.codec import load_codec

    spec = weights if weights is not None else ("random" if identity.get("weights") == "random" else "auto")
    codec = load_codec(
        spec,
        device=device,
        latent_kind=identity.get("latent_kind", "continuous"),
        bandwidth=identity.get("bandwidth") or 6.0,
        seed=identity.get("seed") if identity.get("seed") is not None else 0,
    )
    check_codec_matches(identity, codec.identity)
    return codec


@dataclass
class NeuralRenderer:
    """EnCodec decoder of the checkpoint's codec; refuses any other codec at construction.

    On CPU, decoding runs on a one-thread :class:`~emovae.generate.threads.TorchWorker` by default
    (``cpu_threads``; None decodes in the caller's thread): on shared cores it was ~12x faster.
    """

    codec: object
    expected_identity: dict
    sample_rate: int = SAMPLE_RATE
    name: str = "neural"
    cpu_threads: int | None = 1

    def __post_init__(self) -> None:
        check_codec_matches(self.expected_identity, self.codec.identity)
        self._worker = cpu_worker(getattr(self.codec, "device", torch.device("cpu")), self.cpu_threads)

    @classmethod
    def for_identity(cls, identity: dict, device: str = "cpu", weights: str | None = None) -> "NeuralRenderer":
        return cls(codec_for_identity(identity, device, weights), dict(identity))

    def _decode(self, latent: np.ndarray) -> np.ndarray:
        if self._worker is None:
            return self.codec.decode(latent)
        return self._worker.run(self.codec.decode, latent)

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> tuple[np.ndarray, dict]:
        channels = int(self.codec.identity.get("channels", latent.shape[0]))
        if latent.shape[0] != channels:
            raise ValueError(f"latent has {latent.shape[0]} channels; the codec decodes {channels}")
        audio = np.asarray(self._decode(latent[None].astype(np.float32)), dtype=np.float32)[0]
        n_samples = int(round(seconds * self.sample_rate))
        if audio.size < n_samples:
            audio = np.pad(audio, (0, n_samples - audio.size))
        audio = audio[:n_samples]
        if not np.all(np.isfinite(audio)):
            raise RuntimeError("the codec decoder produced NaN/inf samples; the checkpoint or codec is broken")
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        gain = NEURAL_PEAK / peak if peak > NEURAL_PEAK else 1.0
        return audio * np.float32(gain), {"codec_id": self.codec.identity.get("codec_id"), "gain": gain}
