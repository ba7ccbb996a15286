"""The generation stage: a checkpoint -> ``.wav`` files (+ JSON sidecars, optional ``.mid``) and the preset figure.

What it adds over :func:`~emovae.generate.generator.generate_audio`: naming and writing outputs
atomically, skipping pieces whose identical request is already on disk (re-runs are free), an
optional estimate of each piece's emotion with the project's estimator (target vs estimate in
every sidecar), the optional MIDI file of each piece's score (``midi``; synth and rules only),
progress reporting, and the side-by-side waveform + spectrogram figure when the four presets are rendered.

The WAVs are what a listener gets: ``synth`` and ``rules`` at their listening settings (44.1 kHz
stereo by default, :mod:`emovae.generate.listening`), ``neural`` at the codec's 24 kHz mono; each
sidecar records ``sample_rate``, ``channels`` and the ``timbre`` that played.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emovae.audio import load_audio, write_wav
from emovae.emotion import PRESETS
from emovae.eval.estimator import EmotionEstimator
from emovae.generate.generator import GenerationRequest, get_generator, to_emotion
from emovae.generate.plots import plot_preset_comparison
from emovae.generate.render import MIDI_NEEDS_SCORE, MIDI_RENDERERS, validate_renderer
from emovae.generate.sampler import GenerationInputError
from emovae.io import file_identity, read_json, save_npy, write_json
from emovae.model.score import SCORE_DECODER_FILE
from emovae.music.fingerprint import source_fingerprint
from emovae.progress import Progress

SIDECAR_VERSION = 1


@dataclass
class GenerationStageConfig:
    """One run of the stage: a list of emotions (or the four presets) rendered with shared settings.

    ``piece`` holds the settings every piece shares (checkpoint, renderer, seconds, seed, ``to``, ...);
    its ``emotion`` is replaced by each entry of ``emotions``.
    """

    piece: GenerationRequest
    out_dir: Path = Path("generated")
    emotions: tuple[str, ...] = ("happy",)
    all_presets: bool = False
    estimator: Path | None = None
    save_latent: bool = False  # write the rendered latent as <name>.npy beside the .wav
    midi: bool = False  # write the piece's score as <name>.mid beside the .wav (synth and rules only)
    overwrite: bool = False
    show_progress: bool = True

    def requests(self) -> list[tuple[str, GenerationRequest]]:
        """(piece label, validated request) per piece; raises on any bad input before work starts."""
        emotions = tuple(PRESETS) if self.all_presets else tuple(self.emotions)
        if not emotions:
            raise ValueError("no emotion given; pass --emotion NAME|V,A or --all-presets")
        if self.midi and validate_renderer(self.piece.renderer) not in MIDI_RENDERERS:
            raise GenerationInputError(MIDI_NEEDS_SCORE)
        out = []
        for emotion in emotions:
            request = replace(self.piece, emotion=emotion).validated()
            label = _label(emotion) + (f"-to-{_label(self.piece.to)}" if self.piece.to is not None else "")
            out.append((label, request))
        return out


@dataclass
class GeneratedPiece:
    name: str
    wav: Path
    info: dict
    resumed: bool
    midi: Path | None = None  # <name>.mid beside the .wav, when asked for


@dataclass
class GenerationResult:
    out_dir: Path
    pieces: list[GeneratedPiece] = field(default_factory=list)
    figure: Path | None = None
    wall_seconds: float = 0.0


def _label(emotion: str | tuple[float, float]) -> str:
    """Preset names stay names; a V,A pair becomes ``v0.80_a0.30`` (safe in a file name)."""
    if isinstance(emotion, str) and emotion.strip().lower() in PRESETS:
        return emotion.strip().lower()
    valence, arousal = to_emotion(emotion)
    return f"v{valence:.2f}_a{arousal:.2f}"


def _mtime_ns(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.is_file() else None


def _content(path: Path) -> str | None:
    """A digest of a small file: the training stage rewrites the score decoder on every run, mostly unchanged."""
    return file_identity(path)["sha256"][:16] if path.is_file() else None


def _request_key(request: GenerationRequest) -> dict:
    """The parts of a request that determine the audio (device excluded: same kind -> same audio).

    Besides the request: the checkpoint, the score decoder beside it (refitted without touching the
    checkpoint, it changes the synth's music) and the music engine's source (an engine change changes every
    synth and rules piece): a piece made with any other is made again, never reused.
    """
    return {
        "checkpoint_mtime_ns": _mtime_ns(Path(request.checkpoint)),
        "score_decoder": _content(Path(request.checkpoint).parent / SCORE_DECODER_FILE),
        "engine": source_fingerprint(),
        "checkpoint": str(Path(request.checkpoint).resolve()),
        "emotion": list(request.emotion),
        "to": list(request.to) if request.to is not None else None,
        "renderer": request.renderer,
        "seconds": request.seconds,
        "seed": request.seed,
        "temperature": request.temperature,
        "synth_style": request.synth_style,
        "codec_weights": request.codec_weights,
        "ablation": request.ablation,
        "guidance": request.guidance,
        "listening": request.listening.key(),
    }


def run_generation(config: GenerationStageConfig, progress: Progress | None = None) -> GenerationResult:
    """Render every requested piece into ``config.out_dir``; returns what was written or reused."""
    started = time.perf_counter()
    jobs = config.requests()
    out_dir = Path(config.out_dir)
    estimator = EmotionEstimator.load(config.estimator) if config.estimator is not None else None
    result = GenerationResult(out_dir=out_dir)
    clips: dict[str, np.ndarray] = {}
    sample_rate = None
    bar = tqdm(jobs, desc="generate", unit="piece", disable=not config.show_progress)
    for done, (label, request) in enumerate(bar, start=1):
        ablated = "" if request.ablation == "none" else f"_{request.ablation}"
        name = f"{label}_{request.renderer}{ablated}_seed{request.seed}"
        wav, sidecar, latent_file = out_dir / f"{name}.wav", out_dir / f"{name}.json", out_dir / f"{name}.npy"
        midi_file = out_dir / f"{name}.mid"
        key = _request_key(request)
        previous = read_json(sidecar) if sidecar.is_file() and wav.is_file() else None
        latent_there = latent_file.is_file() or not config.save_latent
        midi_there = midi_file.is_file() or not config.midi
        midi = midi_file if config.midi else None
        if previous is not None and not config.overwrite and previous.get("request") == key and latent_there and midi_there:
            sample_rate = int(previous["info"]["sample_rate"])
            audio = load_audio(wav, sample_rate)  # folded to mono at its own rate: only the figure reads it
            result.pieces.append(GeneratedPiece(name, wav, previous["info"], resumed=True, midi=midi))
        else:
            generator = get_generator(request.checkpoint, request.device, request.codec_weights)
            generated = generator.generate_piece(request)
            audio, sample_rate, info = generated.audio, generated.sample_rate, generated.info
            if estimator is not None:
                info["estimated_emotion"] = list(estimator.predict(audio, sample_rate))
            if config.save_latent:
                save_npy(latent_file, generated.latent)
            if config.midi:
                generated.write_midi(midi_file)
            write_wav(wav, audio, sample_rate)
            write_json(sidecar, {"version": SIDECAR_VERSION, "request": key, "info": info})
            result.pieces.append(GeneratedPiece(name, wav, info, resumed=False, midi=midi))
        clips[label] = audio
        if progress is not None:
            progress(done, len(jobs), f"{name}.wav")
    if config.all_presets and sample_rate is not None:
        first = jobs[0][1]
        figure = out_dir / f"presets_{first.renderer}_seed{first.seed}.png"
        title = f"{first.renderer} renderer, seed {first.seed}, {first.seconds:g} s"
        result.figure = plot_preset_comparison(clips, sample_rate, figure, title=title)
    result.wall_seconds = time.perf_counter() - started
    return result
