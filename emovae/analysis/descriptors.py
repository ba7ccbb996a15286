"""Per-second musical descriptors of audio, measured with librosa.

These are the *targets* of the score decoder (latent -> music): each training chunk's audio is
described here, and a model learns to read the same numbers off the chunk's EnCodec latent. They
are measured from sound, never taken from labels or from the demo composer's settings, so the same
code learns from the real DEAM through the pretrained codec. The music engine is calibrated on the
same function (:mod:`emovae.music.calibration`), which closes the loop: latent -> descriptors ->
the engine settings that reproduce them.

One row per ``WINDOW_SECONDS`` window. Tempo, mode and tension need a few seconds of context to be
stable (a beat period, a chord progression), so they are measured over the whole clip and repeated
in every row; the others are local to their window.

=================  ====================================================================  =========
name               measurement                                                            scope
=================  ====================================================================  =========
tempo_bpm          ``librosa.feature.tempo`` of the onset-strength envelope               clip
onset_rate         detected onsets per second                                             window
loudness_db        mean RMS in dBFS                                                       window
brightness         log spectral centroid (Hz) of the non-silent frames                    window
mode               best major minus best minor Krumhansl-Kessler fit of the mean chroma   clip
register           energy-weighted mean log2 frequency over 50 Hz - 4 kHz                 window
articulation       mean / max of the RMS envelope (legato ~1, staccato lower)             window
percussiveness     percussive share of the energy after HPSS (of a 128-band mel power)    window
tension            entropy of the mean chroma (chromatic, dissonant harmony is flatter)   clip
=================  ====================================================================  =========
"""

from __future__ import annotations

import numpy as np

ANALYSIS_RATE = 22_050  # librosa's defaults are tuned around 22.05 kHz; one rate for every input
HOP = 512
N_FFT = 2048
WINDOW_SECONDS = 1.0
MIN_SECONDS = 0.5  # shorter clips give no stable tempo or chroma

# Krumhansl-Kessler key profiles (probe-tone ratings), C major / C minor.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "tempo_bpm",
    "onset_rate",
    "loudness_db",
    "brightness",
    "mode",
    "register",
    "articulation",
    "percussiveness",
    "tension",
)


def key_fit(chroma_mean: np.ndarray) -> tuple[float, float, float]:
    """Best correlation of a 12-bin chroma with any rotation of the major and of the minor profile,
    and the larger of the two (key clarity)."""

    def best(profile: np.ndarray) -> float:
        rotations = np.stack([np.roll(profile, k) for k in range(12)])
        centred_r = rotations - rotations.mean(axis=1, keepdims=True)
        centred_c = chroma_mean - chroma_mean.mean()
        denom = np.linalg.norm(centred_r, axis=1) * (np.linalg.norm(centred_c) + 1e-12)
        return float(np.max(centred_r @ centred_c / denom))

    major, minor = best(MAJOR_PROFILE), best(MINOR_PROFILE)
    return major, minor, max(major, minor)


def prepare(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at :data:`ANALYSIS_RATE`; refuses clips that are too short or not finite."""
    import librosa

    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if y.size < MIN_SECONDS * sample_rate:
        raise ValueError(f"audio is {y.size / sample_rate:.3f} s long; analysis needs at least {MIN_SECONDS} s")
    if not np.all(np.isfinite(y)):
        raise ValueError("audio contains NaN or infinite samples")
    if sample_rate != ANALYSIS_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=ANALYSIS_RATE, res_type="soxr_hq")
    return y


def n_windows(seconds: float, window_s: float = WINDOW_SECONDS) -> int:
    """Whole windows in a clip (at least one: a short clip is one window)."""
    return max(1, int(np.floor(seconds / window_s + 1e-9)))


def describe(audio: np.ndarray, sample_rate: int, window_s: float = WINDOW_SECONDS) -> np.ndarray:
    """``(n_windows, len(DESCRIPTOR_NAMES))`` float64 descriptors of one mono clip (see module table)."""
    import librosa

    y = prepare(audio, sample_rate)
    sr = ANALYSIS_RATE
    spectrum = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = spectrum**2
    n_frames = spectrum.shape[1]
    windows = n_windows(y.size / sr, window_s)
    frame_window = np.minimum((np.arange(n_frames) * HOP / sr / window_s).astype(int), windows - 1)

    onset_env = librosa.onset.onset_strength(S=librosa.amplitude_to_db(spectrum, ref=np.max), sr=sr, hop_length=HOP)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP, units="frames")
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=HOP))[0])

    rms = librosa.feature.rms(S=spectrum, frame_length=N_FFT, hop_length=HOP)[0]
    rms_db = 20.0 * np.log10(rms + 1e-5)
    voiced = rms_db > rms_db.max() - 40.0  # near-silent frames have no meaningful spectral shape
    centroid = librosa.feature.spectral_centroid(S=spectrum, sr=sr)[0]
    # HPSS on a mel spectrogram: ~30x cheaper than on 1025 STFT bins, and a share of energy needs no fine
    # frequency resolution.
    harmonic, percussive = librosa.decompose.hpss(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=128))
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=N_FFT, hop_length=HOP)
    chroma_mean = chroma[:, voiced].mean(axis=1) if voiced.any() else chroma.mean(axis=1)
    major, minor, _ = key_fit(chroma_mean)
    p = chroma_mean / (chroma_mean.sum() + 1e-8)
    tension = float(-(p * np.log2(p + 1e-8)).sum())

    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    band = (freqs >= 50.0) & (freqs <= 4000.0)
    log_freq = np.log2(freqs[band])
    band_power = power[band]
    h_energy, p_energy = harmonic.sum(axis=0), percussive.sum(axis=0)

    rows = np.empty((windows, len(DESCRIPTOR_NAMES)))
    onset_windows = np.bincount(frame_window[np.minimum(onsets, n_frames - 1)], minlength=windows)
    for w in range(windows):
        frames = frame_window == w
        seen = frames & voiced if (frames & voiced).any() else frames
        energy = band_power[:, frames].sum(axis=1)
        window_rms = rms[frames]
        rows[w] = (
            tempo,
            onset_windows[w] / window_s,
            float(rms_db[frames].mean()),
            float(np.log(centroid[seen].mean() + 1.0)),
            major - minor,
            float(np.sum(log_freq * energy) / (energy.sum() + 1e-12)),
            float(window_rms.mean() / (window_rms.max() + 1e-9)),
            float(p_energy[frames].sum() / (h_energy[frames].sum() + p_energy[frames].sum() + 1e-12)),
            tension,
        )
    return np.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)
