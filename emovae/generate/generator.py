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
from emovae.eval.ablations import noise_latent, shuffled_emotion, validate_ablation
from emovae.generate.listening import ListeningSettings
from emovae.generate.render import MIDI_NEEDS_SCORE, NeuralRenderer, RulesRenderer, SynthRenderer, validate_renderer
from emovae.generate.sampler import (
    EmotionPath,
    GenerationInputError,
    LatentSampler,
    validate_seconds,
    validate_guidance,
    validate_seed,
    validate_temperature,
)
from emovae.model.score import SCORE_DECODER_FILE, ScoreDecoder
from emovae.music.events import Score, Voice

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
    for the neural renderer: override where the checkpoint's codec weights come from. ``ablation``
    replaces the VAE's sample (see :mod:`emovae.eval.ablations`): ``noise`` or ``shuffled``.
    ``listening`` is how ``synth`` and ``rules`` play (:class:`~emovae.generate.listening.ListeningSettings`:
    44.1 kHz stereo, SoundFont where one loads); ``neural`` ignores it and gives the codec's 24 kHz mono.
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
    ablation: str = "none"
    guidance: float | None = None  # classifier-free guidance scale; None: the checkpoint's own
    listening: ListeningSettings = ListeningSettings()

    def validated(self) -> "GenerationRequest":
        """A copy with every field checked and normalised; raises naming the bad field and its range."""
        start = to_emotion(self.emotion, "emotion")
        end = to_emotion(self.to, "to") if self.to is not None else None
        if self.synth_style not in ("ensemble", "piano"):
            raise ValueError(f"synth_style={self.synth_style!r} is unknown; choose ensemble or piano")
        try:
            ablation = validate_ablation(self.ablation)
        except ValueError as exc:
            raise GenerationInputError(str(exc)) from None
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
            ablation=ablation,
            guidance=None if self.guidance is None else validate_guidance(self.guidance),
            listening=self.listening.validated(),
        )

    @property
    def path(self) -> EmotionPath:
        start = to_emotion(self.emotion, "emotion")
        return EmotionPath(start, to_emotion(self.to, "to") if self.to is not None else None)


@dataclass
class GeneratedPiece:
    """One generated piece: audio, the latent it was rendered from, and what happened (JSON-ready ``info``).

    ``audio`` is ``(n,)`` mono or ``(2, n)`` stereo, as the renderer's ``channels`` say (``info`` records
    ``sample_rate``, ``channels`` and the ``timbre`` that played: None for neural, which has none).
    ``score`` and ``programs`` are the composed notes and each voice's General MIDI program, for the
    renderers that compose (synth, rules); None for neural, which decodes audio without a score.
    """

    audio: np.ndarray
    sample_rate: int
    latent: np.ndarray
    info: dict
    score: Score | None = None
    programs: dict[Voice, int] | None = None

    def write_midi(self, path: str | os.PathLike) -> Path:
        """Save the piece's score as a Standard MIDI File (as long as the audio); refused without a score."""
        from emovae.music.midi import write_midi  # lazy: mido is needed only by those who export

        if self.score is None:
            raise GenerationInputError(MIDI_NEEDS_SCORE)
        return write_midi(self.score, path, self.programs)


class Generator:
    """A loaded checkpoint with its score decoder and renderers (the neural one built on first use)."""

    def __init__(self, sampler: LatentSampler, codec_weights: str | None = None, score: ScoreDecoder | None = None,
                 source: str | None = None):
        self.sampler = sampler
        self.codec_weights = codec_weights
        self.score = score
        self.source = source
        self._renderers: dict[str, object] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "auto", codec_weights: str | None = None) -> "Generator":
        """Load ``path`` and the ``score_decoder.json`` beside it (written by the training stage), if any."""
        score_file = Path(path).parent / SCORE_DECODER_FILE
        score = ScoreDecoder.load(score_file) if score_file.is_file() else None
        return cls(LatentSampler.from_checkpoint(path, resolve_device(device)), codec_weights, score, str(path))

    def renderer(self, name: str, synth_style: str = "ensemble", listening: ListeningSettings = ListeningSettings()):
        """The renderer ``name`` (built once per style and listening settings; the codec once for neural)."""
        key = (name, synth_style, listening) if name in ("synth", "rules") else name
        with self._lock:
            if key not in self._renderers:
                if name == "synth":
                    self._renderers[key] = SynthRenderer(self._score(), style=synth_style, listening=listening)
                elif name == "rules":
                    self._renderers[key] = RulesRenderer(style=synth_style, listening=listening)
                else:
                    self._renderers[key] = NeuralRenderer.for_identity(
                        self.sampler.codec_identity, str(self.sampler.device), self.codec_weights
                    )
            return self._renderers[key]

    def _score(self) -> ScoreDecoder:
        if self.score is None:
            raise GenerationInputError(
                f"{self.source or 'this checkpoint'} has no score decoder ({SCORE_DECODER_FILE} beside it), so the "
                "model cannot drive the synth; retrain with `python -m pipeline.train ... --chunks processed_data` "
                "or use --renderer rules"
            )
        return self.score

    def latent(self, req: GenerationRequest) -> tuple[np.ndarray, dict]:
        """The latent a (validated) request renders: the VAE's sample, or its ablation."""
        if req.ablation == "noise":
            model = self.sampler.model
            requested = (*req.path.start, *(req.path.end or ()))
            latent = noise_latent(model.norm_mean.cpu().numpy(), model.norm_std.cpu().numpy(),
                                  self.sampler.n_frames(req.seconds), req.seed, requested)
            return latent, {}
        path = req.path
        if req.ablation == "shuffled":
            start = shuffled_emotion(path.start, req.seed)
            end = shuffled_emotion(path.end, req.seed) if path.end is not None else None
            path = EmotionPath(start, end)
        latent = self.sampler.sample(path, req.seconds, req.seed, req.temperature, req.guidance)
        return latent, ({"sampled_emotion": list(path.start)} if req.ablation == "shuffled" else {})

    def generate_piece(self, request: GenerationRequest) -> GeneratedPiece:
        """Sample (or ablate) a latent for ``request`` and render it."""
        req = request.validated()
        renderer = self.renderer(req.renderer, req.synth_style, req.listening)  # build (and codec-check) before sampling
        t0 = time.perf_counter()
        latent, ablation_details = self.latent(req)
        t1 = time.perf_counter()
        rendered = renderer.render(latent, req.path, req.seconds, req.seed)
        audio, details = rendered.audio, rendered.details
        t2 = time.perf_counter()
        n_samples = int(round(req.seconds * renderer.sample_rate))
        expected = (n_samples,) if renderer.channels == 1 else (renderer.channels, n_samples)
        if audio.shape != expected:
            raise RuntimeError(f"renderer {req.renderer} returned audio of shape {audio.shape}; expected {expected}")
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)
        info = {
            **{k: v for k, v in asdict(req).items() if k not in ("checkpoint", "listening")},
            "checkpoint": str(req.checkpoint),
            "emotion": list(req.emotion),
            "to": list(req.to) if req.to is not None else None,
            "mean_emotion": list(req.path.mean()),
            "sample_rate": renderer.sample_rate,
            "channels": renderer.channels,
            "timbre": None,  # the engine renderers' details name the timbre that played
            "latent_shape": list(latent.shape),
            "codec_id": self.sampler.codec_identity.get("codec_id"),
            "guidance": self.sampler.default_guidance if req.guidance is None else req.guidance,
            "timings_ms": {"sample": 1e3 * (t1 - t0), "render": 1e3 * (t2 - t1)},
            **ablation_details,
            **details,
        }
        return GeneratedPiece(audio, renderer.sample_rate, latent, info, rendered.score, rendered.programs)

    def generate(self, request: GenerationRequest) -> tuple[np.ndarray, int, dict]:
        """Sample a latent for ``request`` and render it; returns (audio, sample_rate, info)."""
        piece = self.generate_piece(request)
        return piece.audio, piece.sample_rate, piece.info


@lru_cache(maxsize=4)
def _cached_generator(path: str, mtime_ns: int, score_mtime_ns: int, device: str, codec_weights: str | None) -> Generator:
    return Generator.from_checkpoint(path, device, codec_weights)


def get_generator(checkpoint: str | os.PathLike, device: str = "auto", codec_weights: str | None = None) -> Generator:
    """A cached :class:`Generator`; a re-written checkpoint or score decoder (new mtime) is reloaded."""
    file = Path(checkpoint).resolve()
    mtime = file.stat().st_mtime_ns if file.is_file() else -1  # a missing file fails inside with a clear message
    score = file.parent / SCORE_DECODER_FILE
    score_mtime = score.stat().st_mtime_ns if score.is_file() else -1
    return _cached_generator(str(file), mtime, score_mtime, str(resolve_device(device)), codec_weights)


def generate_audio(request: GenerationRequest) -> tuple[np.ndarray, int, dict]:
    """Generate one piece: validated request -> (float32 audio in [-1, 1], ``(n,)`` or ``(2, n)``; sample rate; info)."""
    req = request.validated()  # fail on bad input before touching the checkpoint
    return get_generator(req.checkpoint, req.device, req.codec_weights).generate(req)
