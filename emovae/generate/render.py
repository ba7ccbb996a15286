"""Renderers: a generated latent sequence (+ its emotion) -> audio.

* ``synth``  - the music engine played by the model. The score decoder reads musical descriptors
  off the generated latent (tempo, density, loudness, brightness, mode, register, articulation,
  percussiveness, tension, one row per second), the engine calibration turns them into the engine
  settings that sound like that, and the latent's own motion shapes contour, density and dynamics.
  The requested emotion is *not* an input: it reaches the music only through the VAE's condition.
* ``rules``  - the baseline with no model: the hand-written emotion -> parameter rules of
  :func:`emovae.music.musical_params`, with the composer's own seeded phrasing. It ignores the latent.
* ``neural`` - the EnCodec decoder of the codec the checkpoint's latents came from. Only that exact
  codec can decode them: a latent means nothing to a decoder with other weights, so a mismatch is
  refused rather than rendered as noise.

All return a :class:`Rendered`: float32 audio of exactly ``round(seconds * sample_rate)`` samples
per channel in [-1, 1], details for the info dict and, for ``synth`` and ``rules`` (which compose the
music), the :class:`~emovae.music.events.Score` it plays with each voice's General MIDI program, so
the piece can also be saved as MIDI. ``neural`` decodes audio directly: it has no score.

Each renderer says its ``sample_rate`` and ``channels``. ``synth`` and ``rules`` play for a listener
(:class:`~emovae.generate.listening.ListeningSettings`: 44.1 kHz stereo by default, the timbre that
played in the details); ``neural`` gives what the codec decodes, 24 kHz mono.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import torch

from emovae.analysis.descriptors import DESCRIPTOR_NAMES
from emovae.audio import SAMPLE_RATE
from emovae.generate.controls import ControlSettings, latent_to_controls, moving_average
from emovae.generate.listening import ListeningSettings
from emovae.generate.sampler import EmotionPath, GenerationInputError
from emovae.generate.threads import cpu_worker
from emovae.model.score import ScoreDecoder
from emovae.music import EmotionCurve, ParamCurve
from emovae.music.calibration import EngineCalibration, default_calibration
from emovae.music.events import Score, Voice
from emovae.music.params import ParamSource
from emovae.music.synth import render_piece

RENDERERS = ("synth", "rules", "neural")
RENDERER_HELP = {
    "synth": "the model plays: music read off the VAE's latent by the score decoder",
    "rules": "baseline without a model: hand-written emotion -> music rules, the latent is ignored",
    "neural": "the latent decoded to audio by the checkpoint's EnCodec decoder",
}
EMOTION_CURVE_POINTS = 65  # samples of the emotion path handed to the composer (smooth at any length)
NEURAL_PEAK = 0.98  # a random-init decoder has no calibrated level: scale down peaks above this
DESCRIPTOR_SMOOTHING = 3  # seconds: the engine follows phrases, not one-second jitter of the decoder
MIDI_RENDERERS = ("synth", "rules")  # the renderers that compose a score (what a MIDI file is written from)
MIDI_NEEDS_SCORE = ("MIDI export needs a composed score and the neural renderer decodes audio directly, without one; "
                    "use --renderer synth or rules")


@dataclass
class Rendered:
    """What a renderer returns: the audio, details for the info dict, and the score where there is one.

    ``audio`` is ``(n,)`` for a mono renderer and ``(2, n)`` (channel first) for a stereo one; every
    consumer takes both (:func:`emovae.audio.write_wav`, :func:`emovae.audio.to_mono` for plots,
    the estimator folds stereo itself). ``score`` and ``programs`` (the General MIDI program of each pitched voice) are set by the
    renderers that compose (:data:`MIDI_RENDERERS`) and None for ``neural``.
    """

    audio: np.ndarray
    details: dict
    score: Score | None = None
    programs: dict[Voice, int] | None = None


class Renderer(Protocol):
    name: str
    sample_rate: int
    channels: int  # 1: audio (n,); 2: (2, n)

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> Rendered:
        """Audio for one latent ``(channels, frames)``, details for the info dict and the score if composed."""


def validate_renderer(name: str) -> str:
    key = str(name).strip().lower()
    if key not in RENDERERS:
        raise GenerationInputError(f"renderer={name!r} is unknown; choose one of {', '.join(RENDERERS)}")
    return key


class EngineRenderer:
    """What ``synth`` and ``rules`` share: they play a score through the music engine for a listener.

    Subclasses are dataclasses with ``style`` and ``listening`` fields; the rate and channels they
    report are the listening settings', so the generator's shape check and the sidecar follow them.
    """

    style: str
    listening: ListeningSettings

    @property
    def sample_rate(self) -> int:
        return self.listening.sample_rate

    @property
    def channels(self) -> int:
        return self.listening.channels

    def _synthesise(self, source: ParamSource, seed: int, details: dict, controls=None) -> Rendered:
        """Compose and render with the music engine, keeping the score; the details name the timbre that played."""
        piece = render_piece(source, style=self.style, seed=seed, controls=controls, **self.listening.engine_args())
        soundfont = self.listening.soundfont_file() if piece.timbre == "soundfont" else None
        details = {**details, "timbre": piece.timbre, "soundfont": None if soundfont is None else str(soundfont)}
        return Rendered(np.asarray(piece.audio, dtype=np.float32), details, piece.score, dict(piece.programs))


@dataclass
class SynthRenderer(EngineRenderer):
    """The engine driven by the latent alone (see module docstring). ``style`` picks the arrangement."""

    score: ScoreDecoder
    calibration: EngineCalibration = field(default_factory=default_calibration)
    listening: ListeningSettings = ListeningSettings()
    style: str = "ensemble"  # "ensemble" (create_melodic_music) or "piano" (create_piano_melody)
    settings: ControlSettings = ControlSettings()
    name: str = "synth"
    cpu_threads: int | None = 1

    def __post_init__(self) -> None:
        # The score decoder's window features are a dozen tiny torch ops. In the caller's thread they ran
        # on torch's default 2 intra-op threads, which right after the SoundFont render (the caller's
        # core busy, the other one shared) took 7-19 ms on 2 cores where one thread takes ~2 ms; on a
        # one-thread worker, as sampling and decoding already are (emovae/generate/threads.py), the
        # descriptors come out bit-identical (tests/test_generate_model_path.py) in ~2-3 ms.
        self._worker = cpu_worker(torch.device("cpu"), self.cpu_threads)

    def _predict(self, latent: np.ndarray) -> np.ndarray:
        if self._worker is None:
            return self.score.predict(latent)
        return self._worker.run(self.score.predict, latent)

    def read(self, latent: np.ndarray, seconds: float) -> tuple[np.ndarray, ParamCurve]:
        """The descriptors read off ``latent`` (smoothed, one row per second) and the engine curve that plays them."""
        descriptors = moving_average(self._predict(latent), DESCRIPTOR_SMOOTHING)
        return descriptors, ParamCurve.from_knobs(self.calibration.knobs(descriptors), seconds)

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> Rendered:
        del path  # deliberately unused: the emotion must come through the latent
        descriptors, params = self.read(latent, seconds)
        controls = latent_to_controls(latent, seconds, self.settings)
        details = {
            "style": self.style,
            "descriptors": {name: round(float(v), 3) for name, v in zip(DESCRIPTOR_NAMES, descriptors.mean(axis=0))},
            "engine": {name: round(float(np.mean(v)), 3) for name, v in params.curves.items()},
            "controls": {name: np.round(getattr(controls, name), 3).tolist() for name in ("contour", "density", "dynamics")},
        }
        return self._synthesise(params, seed, details, controls)


@dataclass
class RulesRenderer(EngineRenderer):
    """Baseline: the emotion -> music rules with the composer's own phrasing; no model, the latent is ignored."""

    listening: ListeningSettings = ListeningSettings()
    style: str = "ensemble"
    name: str = "rules"

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> Rendered:
        del latent  # deliberately unused: this is the no-model baseline
        valence, arousal = path.curve(EMOTION_CURVE_POINTS) if path.is_trajectory else path.start
        return self._synthesise(EmotionCurve(valence, arousal, seconds), seed, {"style": self.style})


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
    channels: ClassVar[int] = 1  # EnCodec 24 kHz decodes mono

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

    def render(self, latent: np.ndarray, path: EmotionPath, seconds: float, seed: int) -> Rendered:
        latent_channels = int(self.codec.identity.get("channels", latent.shape[0]))
        if latent.shape[0] != latent_channels:
            raise ValueError(f"latent has {latent.shape[0]} channels; the codec decodes {latent_channels}")
        audio = np.asarray(self._decode(latent[None].astype(np.float32)), dtype=np.float32)[0]
        n_samples = int(round(seconds * self.sample_rate))
        if audio.size < n_samples:
            audio = np.pad(audio, (0, n_samples - audio.size))
        audio = audio[:n_samples]
        if not np.all(np.isfinite(audio)):
            raise RuntimeError("the codec decoder produced NaN/inf samples; the checkpoint or codec is broken")
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        gain = NEURAL_PEAK / peak if peak > NEURAL_PEAK else 1.0
        return Rendered(audio * np.float32(gain), {"codec_id": self.codec.identity.get("codec_id"), "gain": gain})
