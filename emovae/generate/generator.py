"""One call from "emotion + settings" to audio: :func:`generate_audio`.

The CLI, the generation stage, the benchmarks and the app all go through here, so validation,
seeding and the choice of renderer live in one place. Loading a checkpoint (and, for the neural
renderer, building its codec) is the slow part, so loaded generators are cached per
(checkpoint file, modification time, device): moving a slider in the app re-samples and
re-renders, it does not reload.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from emovae.device import resolve_device
from emovae.emotion import EmotionValueError, parse_emotion, validate_emotion
from emovae.generate.render import NeuralRenderer, SynthRenderer, validate_renderer
from emovae.generate.sampler import (
    EmotionPath,
    LatentSampler,
    validate_seconds,
    validate_seed,
    validate_temperature,
)

EmotionLike = str | tuple[float, float]


def to_emotion(value: EmotionLike, field: str = "emotion") -> tuple[float, float]:
    """A preset name, a ``"V,A"`` string or a (V, A) pair -> validated (V, A)."""
    try:
        if isinstance(value, str):
            return parse_emotion(value)
        valence, arousal = value
        return validate_emotion(valence, arousal)
    except EmotionValueError as exc:
        raise EmotionValueError(f"{field}: {exc}") from None
    except (TypeError, ValueError):
        raise EmotionValueError(f"{field}={value!r} is neither a preset name nor a (valence, arousal) pair") from None


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines one generated piece (same request + same device -> same audio).

    ``to`` turns the piece into a trajectory from ``emotion`` to ``to``. ``codec_weights`` is only
    for the neural renderer: override where the checkpoint's codec weights come from.
    """

    checkpoint: str | os.PathLike
    emotion: EmotionLike = "happy"
    to: EmotionLike | None = None
    renderer: str = "synth"
    seconds: float = 10.0
    seed: int = 0
    temperature: float = 1.0
    device: str = "auto"
    codec_weights: str | None = None
    synth_style: str = "ensemble"

    def validated(self) -> "GenerationRequest":
        """A copy with every field checked and normalised; raises naming the bad field and its range."""
        start = to_emotion(self.emotion, "emotion")
        end = to_emotion(self.to, "to") if self.to is not None else None
        if self.synth_style not in ("ensemble", "piano"):
            raise ValueError(f"synth_style={self.synth_style!r} is unknown; choose ensemble or piano")
        return GenerationRequest(
            checkpoint=Path(self.checkpoint),
            emotion=start,
            to=end,
            renderer=validate_renderer(self.renderer),
            seconds=validate_seconds(self.seconds),
            seed=validate_seed(self.seed),
            temperature=validate_temperature(self.temperature),
            device=self.device,
            codec_weights=self.codec_weights,
            synth_style=self.synth_style,
        )

    @property
    def path(self) -> EmotionPath:
        start = to_emotion(self.emotion, "emotion")
        return EmotionPath(start, to_emotion(self.to, "to") if self.to is not None else None)


class Generator:
    """A loaded checkpoint with its renderers (the neural one built on first use)."""

    def __init__(self, sampler: LatentSampler, codec_weights: str | None = None):
        self.sampler = sampler
        self.codec_weights = codec_weights
        self._renderers: dict[str, object] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "auto", codec_weights: str | None = None) -> "Generator":
        return cls(LatentSampler.from_checkpoint(path, resolve_device(device)), codec_weights)

    def renderer(self, name: str, synth_style: str = "ensemble"):
        key = f"{name}:{synth_style}" if name == "synth" else name
        with self._lock:
            if key not in self._renderers:
                if name == "synth":
                    self._renderers[key] = SynthRenderer(style=synth_style)
                else:
                    self._renderers[key] = NeuralRenderer.for_identity(
                        self.sampler.codec_identity, str(self.sampler.device), self.codec_weights
                    )
            return self._renderers[key]

    def generate(self, request: GenerationRequest) -> tuple[np.ndarray, int, dict]:
        """Sample a latent for ``request`` and render it; returns (audio, sample_rate, info)."""
        req = request.validated()
        renderer = self.renderer(req.renderer, req.synth_style)  # build (and codec-check) before sampling
        t0 = time.perf_counter()
        latent = self.sampler.sample(req.path, req.seconds, req.seed, req.temperature)
        t1 = time.perf_counter()
        audio, details = renderer.render(latent, req.path, req.seconds, req.seed)
        t2 = time.perf_counter()
        expected = int(round(req.seconds * renderer.sample_rate))
        if audio.shape != (expected,):
            raise RuntimeError(f"renderer {req.renderer} returned {audio.shape} samples; expected ({expected},)")
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)
        info = {
            **{k: v for k, v in asdict(req).items() if k not in ("checkpoint",)},
            "checkpoint": str(req.checkpoint),
            "emotion": list(req.emotion),
            "to": list(req.to) if req.to is not None else None,
            "mean_emotion": list(req.path.mean()),
            "sample_rate": renderer.sample_rate,
            "latent_shape": list(latent.shape),
            "codec_id": self.sampler.codec_identity.get("codec_id"),
            "timings_ms": {"sample": 1e3 * (t1 - t0), "render": 1e3 * (t2 - t1)},
            **details,
        }
        return audio, renderer.sample_rate, info


@lru_cache(maxsize=4)
def _cached_generator(path: str, mtime_ns: int, device: str, codec_weights: str | None) -> Generator:
    return Generator.from_checkpoint(path, device, codec_weights)


def get_generator(checkpoint: str | os.PathLike, device: str = "auto", codec_weights: str | None = None) -> Generator:
    """A cached :class:`Generator`; a re-written checkpoint (new mtime) is reloaded."""
    file = Path(checkpoint).resolve()
    mtime = file.stat().st_mtime_ns if file.is_file() else -1  # a missing file fails inside with a clear message
    return _cached_generator(str(file), mtime, str(resolve_device(device)), codec_weights)


def generate_audio(request: GenerationRequest) -> tuple[np.ndarray, int, dict]:
    """Generate one piece: validated request -> (mono float32 audio in [-1, 1], sample rate, info)."""
    req = request.validated()  # fail on bad input before touching the checkpoint
    return get_generator(req.checkpoint, req.device, req.codec_weights).generate(req)
