"""Validate and load a visitor's uploaded clip before any model sees it.

Uploads are the app's least trusted input: they may be empty, not audio at all, truncated or
corrupt, full of NaN/inf or absurd float samples, silent, or an hour long. Each case becomes an :class:`UploadError` whose message can be
shown as-is; a long clip is not an error: only its first ``max_seconds`` are analysed, and the
returned :class:`UploadedClip` says so, so the visitor knows what the result describes.
(The byte-size cap is enforced earlier, by Gradio's ``launch(max_file_size=...)``.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from emovae.audio import MAX_ABS_SAMPLE, SAMPLE_RATE, AudioLoadError, AudioSamplesError, load_audio

ALLOWED_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
SILENCE_PEAK = 1e-3  # below -60 dBFS peak there is nothing to analyse
MIN_SECONDS = 0.5  # shorter than a beat: too little for the codec or the estimator


class UploadError(ValueError):
    """An uploaded file that cannot be analysed; the message says why and what to do."""


@dataclass
class UploadedClip:
    """Mono audio at ``sample_rate`` plus what the visitor should be told about it."""

    name: str
    audio: np.ndarray
    sample_rate: int
    total_seconds: float | None  # None when the container does not say (some MP3s)
    notes: list[str] = field(default_factory=list)

    @property
    def analysed_seconds(self) -> float:
        return self.audio.size / self.sample_rate

    @property
    def truncated(self) -> bool:
        return self.total_seconds is not None and self.total_seconds > self.analysed_seconds + 0.05


def _total_seconds(path: Path) -> float | None:
    try:
        info = sf.info(str(path))
        return float(info.frames) / float(info.samplerate) if info.frames > 0 else None
    except Exception:  # soundfile cannot read the header: the decoder fallback will tell us more
        return None


def load_upload(path: str | os.PathLike | None, max_seconds: float = 30.0, sample_rate: int = SAMPLE_RATE) -> UploadedClip:
    """Load at most ``max_seconds`` of an uploaded clip as mono ``sample_rate`` audio, or raise UploadError."""
    if path is None or str(path).strip() == "":
        raise UploadError("no file was uploaded; choose a .wav, .mp3, .ogg or .flac clip")
    file = Path(path)
    name = file.name
    if file.suffix.lower() not in ALLOWED_SUFFIXES:
        raise UploadError(f"{name}: unsupported file type {file.suffix or '(none)'}; upload {', '.join(ALLOWED_SUFFIXES)}")
    if not file.is_file():
        raise UploadError(f"{name}: the upload did not arrive; try again")
    if file.stat().st_size == 0:
        raise UploadError(f"{name}: the file is empty (0 bytes)")
    try:
        audio = load_audio(file, sample_rate=sample_rate, max_seconds=max_seconds)
    except AudioSamplesError:
        raise UploadError(f"{name}: the file holds NaN/inf or samples beyond ±{MAX_ABS_SAMPLE:g}; it is not usable as "
                          f"audio. Export it again as ordinary audio (samples within ±1.0) and upload that") from None
    except AudioLoadError:
        raise UploadError(f"{name}: not a readable audio file (corrupt, truncated or not audio); try another clip") from None
    audio = audio[: int(max_seconds * sample_rate)]
    if audio.size < MIN_SECONDS * sample_rate:
        raise UploadError(f"{name}: only {audio.size / sample_rate:.2f} s of audio; upload at least {MIN_SECONDS} s")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise UploadError(f"{name}: the clip is silent (peak below -60 dBFS); nothing to analyse")
    clip = UploadedClip(name=name, audio=audio, sample_rate=sample_rate, total_seconds=_total_seconds(file))
    if clip.truncated:
        clip.notes.append(
            f"the clip is {clip.total_seconds:.1f} s long; only the first {clip.analysed_seconds:.1f} s were analysed"
        )
    elif clip.total_seconds is None and clip.analysed_seconds >= max_seconds - 0.05:
        clip.notes.append(f"only the first {max_seconds:.0f} s were analysed")
    return clip
