"""Audio I/O shared by every stage: load mono at a target rate, write WAV atomically.

Loading goes through soundfile first (fast, exact for WAV/FLAC/OGG and MP3 with libsndfile >= 1.1)
and falls back to librosa's audioread path for anything soundfile cannot open. Every failure is
raised as :class:`AudioLoadError` naming the file, so callers can skip-and-report instead of dying.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emovae.io import atomic_path

SAMPLE_RATE = 24_000  # EnCodec 24 kHz: every chunk on disk is mono at this rate.
MAX_ABS_SAMPLE = 1e3  # float files may exceed ±1 a little; beyond this the "audio" is garbage that
# overflows the resampler and the feature extractors (librosa raises on it), so it is refused on load


class AudioLoadError(RuntimeError):
    """An audio file is missing, corrupt, empty or otherwise unusable."""


class AudioSamplesError(AudioLoadError):
    """The file decodes, but its samples are NaN/inf or absurdly large: not usable as audio."""


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Load ``path`` as mono float32 at ``sample_rate`` (optionally only the first ``max_seconds``)."""
    file = Path(path)
    if not file.is_file():
        raise AudioLoadError(f"{file}: audio file not found")
    if file.stat().st_size == 0:
        raise AudioLoadError(f"{file}: audio file is empty (0 bytes)")
    try:
        with sf.SoundFile(file) as handle:
            native_rate = handle.samplerate
            frames = -1 if max_seconds is None else int(max_seconds * native_rate)
            data = handle.read(frames=frames, dtype="float32", always_2d=True)
        audio = data.mean(axis=1)
    except Exception as sf_error:  # soundfile cannot read it: try librosa's decoder chain
        import librosa  # imported lazily: it costs ~2 s per worker process and is rarely needed here

        try:
            with warnings.catch_warnings():  # the audioread fallback warns on every call; we report failures ourselves
                warnings.simplefilter("ignore")
                audio, native_rate = librosa.load(file, sr=None, mono=True, duration=max_seconds)
        except Exception as exc:
            raise AudioLoadError(f"{file}: corrupt or not audio; cannot decode it (libsndfile: {_sf_reason(sf_error)}; "
                                 f"fallback decoder: {type(exc).__name__}{': ' + str(exc) if str(exc) else ''})") from None
    if audio.size == 0:
        raise AudioLoadError(f"{file}: audio file decodes to zero samples")
    if not np.all(np.isfinite(audio)):
        raise AudioSamplesError(f"{file}: audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak > MAX_ABS_SAMPLE:
        raise AudioSamplesError(f"{file}: audio has samples up to {peak:.3g}, beyond ±{MAX_ABS_SAMPLE:g}")
    if native_rate != sample_rate:
        # soxr "HQ" is what librosa's res_type="soxr_hq" calls, without importing librosa.
        audio = soxr.resample(audio, native_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _sf_reason(error: Exception) -> str:
    """libsndfile's reason, minus its misleading "does not exist ... (possibly a pipe?)" for unknown formats."""
    text = str(error)
    return "format not recognised" if "not a regular file" in text else text


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float audio as 16-bit PCM WAV atomically (clipped to [-1, 1])."""
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path, suffix=".wav.tmp") as tmp:
        sf.write(tmp, data, sample_rate, subtype="PCM_16", format="WAV")


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write audio atomically in the format named by the suffix (``.mp3``, ``.wav``, ``.flac``, ``.ogg``)."""
    target = Path(path)
    fmt = {".mp3": "MP3", ".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"{target}: unsupported audio suffix; use .mp3, .wav, .flac or .ogg")
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with atomic_path(target, suffix=f"{target.suffix}.tmp") as tmp:
        sf.write(tmp, data, sample_rate, format=fmt)
