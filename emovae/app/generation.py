"""Generate-tab logic: check what the visitor (or an API caller) sent, generate, save for download.

Generation itself is :func:`emovae.generate.generator.get_generator` (cached per checkpoint, so a
request only pays for sampling and rendering). This module adds what is specific to a public app:
every value is re-checked with a message naming the field (the HTTP API accepts any JSON, not just
what the sliders allow), the duration is capped lower than the library's limit, and each clip is
written to a WAV the page can play and offer for download, beside it the MIDI file of its score
(synth and rules compose one; neural decodes audio directly and has none), with old clips pruned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emovae.audio import write_wav
from emovae.emotion import quadrant

KEEP_CLIPS = 32  # generated WAVs (each with its MIDI file) kept before the oldest are deleted (Gradio serves its own copy)
NO_MIDI = "no MIDI file: the neural renderer decodes the latent straight to audio, so there is no score (synth and rules have one)"


def build_request(checkpoint: Path, valence, arousal, seconds=10.0, seed=0, temperature=1.0, renderer="synth",
                  end=None, max_seconds: float = 30.0, device: str = "auto"):
    """A validated GenerationRequest, or ValueError naming the bad field and its valid range."""
    from emovae.generate.generator import GenerationRequest
    from emovae.generate.sampler import GenerationInputError

    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)  # JSON numbers from the API may arrive as 3.0
    request = GenerationRequest(checkpoint=checkpoint, emotion=(valence, arousal), to=end, renderer=renderer,
                                seconds=seconds, seed=seed, temperature=temperature, device=device).validated()
    if request.seconds > max_seconds:
        raise GenerationInputError(f"seconds={seconds!r} is longer than this app allows ({max_seconds:g} s)")
    return request


@dataclass
class GeneratedClip:
    """Audio plus where it was saved (WAV, and MIDI where the renderer composed a score) and what produced it.

    ``audio`` is the generator's: ``(2, n)`` stereo at 44.1 kHz from synth and rules, ``(n,)`` mono at
    24 kHz from neural (``sample_rate`` says which); the page plays the WAV, which holds the same.
    """

    audio: np.ndarray
    sample_rate: int
    path: Path
    info: dict
    checkpoint_label: str
    extra: dict = field(default_factory=dict)
    midi: Path | None = None

    @property
    def emotion(self) -> tuple[float, float]:
        return tuple(self.info["emotion"])

    @property
    def end(self) -> tuple[float, float] | None:
        to = self.info.get("to")
        return tuple(to) if to is not None and tuple(to) != self.emotion else None

    def markdown(self) -> str:
        v, a = self.emotion
        text = f"V={v:.2f}, A={a:.2f} ({quadrant(v, a)})"
        if self.end is not None:
            text += f" → V={self.end[0]:.2f}, A={self.end[1]:.2f} ({quadrant(*self.end)})"
        i = self.info
        timing = sum(i.get("timings_ms", {}).values())
        return (f"**{text}** · {i['seconds']:g} s · renderer **{i['renderer']}** · seed {i['seed']} · "
                f"temperature {i['temperature']:g} · {timing:.0f} ms  \n"
                f"checkpoint: `{self.checkpoint_label}` · codec `{i.get('codec_id')}`"
                + ("" if self.midi is not None else f"  \n{NO_MIDI}"))


def generate_clip(request, out_dir: Path, label: str) -> GeneratedClip:
    """Generate ``request`` and write it under ``out_dir``: a WAV and, where there is a score, its ``.mid``."""
    from emovae.generate.generator import get_generator

    piece = get_generator(request.checkpoint, request.device).generate_piece(request)
    out = Path(out_dir) / f"emovae-{quadrant(*request.emotion)}-{uuid.uuid4().hex[:10]}.wav"
    write_wav(out, piece.audio, piece.sample_rate)
    midi = piece.write_midi(out.with_suffix(".mid")) if piece.score is not None else None  # after the WAV: see prune
    prune(Path(out_dir))
    return GeneratedClip(piece.audio, piece.sample_rate, out, piece.info, label, midi=midi)


def prune(out_dir: Path, keep: int = KEEP_CLIPS) -> None:
    """Delete the oldest generated clips beyond ``keep``, each with its MIDI file (a public app must not fill the disk).

    A MIDI file whose WAV is gone is deleted too (left by an interrupted request). A clip's MIDI file
    is written after its WAV, so a concurrent prune never takes a new clip's MIDI for such a leftover.
    """
    clips = list(out_dir.glob("emovae-*.wav"))

    def age(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except FileNotFoundError:  # pruned by a concurrent request
            return 0.0

    for old in sorted(clips, key=age)[:-keep] if len(clips) > keep else []:
        old.unlink(missing_ok=True)
        old.with_suffix(".mid").unlink(missing_ok=True)
    for midi in out_dir.glob("emovae-*.mid"):
        if not midi.with_suffix(".wav").exists():
            midi.unlink(missing_ok=True)
