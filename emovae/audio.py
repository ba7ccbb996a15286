"""Audio I/O shared by every stage: load mono at a target rate, write WAV atomically, fold stereo to mono.

In memory, audio is ``(n,)`` mono or ``(channels, n)`` channel first, as the music engine, pedalboard
and librosa hold it (listening output is stereo ``(2, n)``; what EnCodec and the analysis read is mono).
soundfile wants frames first, ``(n, channels)``, so the writers here transpose (:func:`channel_axis`
tells the two layouts apart); :func:`to_mono` is the one fold-down (the mean of the channels, what
:func:`load_audio` does to a stereo file).

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
MAX_CHANNELS = 2  # channel-first audio has at most this many rows: a taller array is frames-first by mistake
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


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``(n,)`` mono unchanged; stereo folded to the mean of its channels, shape ``(n,)``.

    The mean, not the sum, so a centred source keeps its level, and a mono clip copied to both
    channels folds back to exactly itself (what the estimator and the descriptors rely on to read
    stereo listening output as they read mono). Stereo is ``(channels, n)`` channel first, or
    soundfile's ``(n, channels)``: see :func:`channel_axis`.
    """
    data = np.asarray(audio)
    axis = channel_axis(data)
    return data if axis is None else data.mean(axis=axis)


def channel_axis(audio: np.ndarray) -> int | None:
    """The axis that holds the channels: None for ``(n,)`` mono, else the shorter axis of a 2-D array.

    Audio is channel first ``(channels, n)`` in memory (the engine's, pedalboard's and librosa's
    layout) and frames first ``(n, channels)`` in soundfile; the time axis is always the long one,
    so the two cannot be confused once a clip is longer than :data:`MAX_CHANNELS` samples. Raises
    ValueError naming the shape for anything else (3-D, or more than :data:`MAX_CHANNELS` channels).
    """
    if audio.ndim == 1:
        return None
    if audio.ndim == 2 and min(audio.shape) <= MAX_CHANNELS:
        return 0 if audio.shape[0] <= audio.shape[1] else 1
    raise ValueError(f"audio of shape {audio.shape} is neither mono (n,) nor stereo (channels, n) with at most "
                     f"{MAX_CHANNELS} channels")


def _frames_first(audio: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1], laid out as soundfile writes it: ``(n,)`` or ``(n, channels)``."""
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return data.T if channel_axis(data) == 0 else data


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write ``(n,)`` or stereo (``(channels, n)`` or ``(n, channels)``) float audio as 16-bit PCM WAV atomically (clipped to [-1, 1])."""
    data = _frames_first(audio)
    with atomic_path(path, suffix=".wav.tmp") as tmp:
        sf.write(tmp, data, sample_rate, subtype="PCM_16", format="WAV")


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write ``(n,)`` or stereo audio (as :func:`write_wav`) atomically in the format named by the suffix (``.mp3``, ``.wav``, ``.flac``, ``.ogg``)."""
    target = Path(path)
    fmt = {".mp3": "MP3", ".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"{target}: unsupported audio suffix; use .mp3, .wav, .flac or .ogg")
    data = _frames_first(audio)
    with atomic_path(target, suffix=f"{target.suffix}.tmp") as tmp:
        sf.write(tmp, data, sample_rate, format=fmt)
