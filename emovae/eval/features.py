"""Audio descriptors that carry emotion, computed with librosa.

The estimator needs a handful of features that music psychology links to the two axes, so that a
linear model on them is enough and stays explainable:

* arousal: tempo, onset density, loudness (RMS) and its spread, spectral brightness (centroid,
  rolloff), noisiness (flatness), attack sharpness (onset-strength peaks vs mean);
* valence: mode (major vs minor template fit of the chroma), key clarity, harmonic dissonance
  (chroma entropy, spectral flatness), register (pitch-weighted log-frequency centroid).

Every feature is a scalar per clip; :data:`FEATURE_NAMES` fixes their order so a saved estimator can
check that it is applied to the same feature vector it was fitted on.
"""

from __future__ import annotations

import numpy as np

# One analysis rate (22.05 kHz) for every input makes features comparable between 24 kHz chunks and
# 44.1 kHz uploads; it and the validation of the clip are shared with the musical descriptors.
from emovae.analysis.descriptors import ANALYSIS_RATE, HOP, N_FFT, key_fit, prepare
from emovae.audio import to_mono

FEATURE_NAMES: tuple[str, ...] = (
    "tempo_bpm",
    "onset_rate",
    "onset_strength_mean",
    "attack_sharpness",
    "rms_db_mean",
    "rms_db_std",
    "centroid_log_hz",
    "rolloff_log_hz",
    "flatness_log",
    "zero_crossing_rate",
    "major_minus_minor",
    "key_clarity",
    "chroma_entropy",
    "pitch_register",
)


def extract_features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Return the :data:`FEATURE_NAMES` vector (float64) of one clip, ``(n,)`` mono or stereo.

    Stereo (``(2, n)`` channel first, the generate stage's listening output, or ``(n, 2)``) is folded
    to the mean of its channels (:func:`emovae.audio.to_mono`) and then resampled to
    :data:`ANALYSIS_RATE` by :func:`~emovae.analysis.descriptors.prepare`, like any clip: the features
    are those of the fold-down, a mono clip's are exactly what they were, and a mono clip copied to
    both channels gives identical features. Raises ``ValueError`` naming the problem for empty, too
    short or non-finite audio, because a silent NaN feature would poison the fitted scaler.
    """
    import librosa

    y = prepare(to_mono(np.asarray(audio, dtype=np.float32)), sample_rate)
    sr = ANALYSIS_RATE
    seconds = y.size / sr
    tiny = 1e-8

    spectrum = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = spectrum**2
    onset_env = librosa.onset.onset_strength(S=librosa.amplitude_to_db(spectrum, ref=np.max), sr=sr, hop_length=HOP)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP, units="frames")
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=HOP))[0])

    rms = librosa.feature.rms(S=spectrum, frame_length=N_FFT, hop_length=HOP)[0]
    rms_db = 20.0 * np.log10(rms + 1e-5)
    voiced = rms_db > rms_db.max() - 40.0  # ignore near-silent frames for the spectral shape
    centroid = librosa.feature.spectral_centroid(S=spectrum, sr=sr)[0][voiced]
    rolloff = librosa.feature.spectral_rolloff(S=spectrum, sr=sr, roll_percent=0.85)[0][voiced]
    flatness = librosa.feature.spectral_flatness(S=spectrum)[0][voiced]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0]

    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=N_FFT, hop_length=HOP)
    chroma_mean = chroma[:, voiced].mean(axis=1) if voiced.any() else chroma.mean(axis=1)
    major, minor, clarity = key_fit(chroma_mean)
    p = chroma_mean / (chroma_mean.sum() + tiny)
    chroma_entropy = float(-(p * np.log2(p + tiny)).sum())

    # Register: energy-weighted mean of log2 frequency over the musical range (50 Hz - 4 kHz).
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    band = (freqs >= 50.0) & (freqs <= 4000.0)
    band_energy = power[band].sum(axis=1)
    register = float(np.sum(np.log2(freqs[band]) * band_energy) / (band_energy.sum() + tiny))

    onset_mean = float(onset_env.mean())
    sharpness = float(np.percentile(onset_env, 95) / (onset_mean + tiny)) if onset_mean > 0 else 0.0

    values = np.array(
        [
            tempo,
            len(onsets) / seconds,
            onset_mean,
            sharpness,
            float(rms_db.mean()),
            float(rms_db.std()),
            float(np.log(centroid.mean() + 1.0)) if centroid.size else 0.0,
            float(np.log(rolloff.mean() + 1.0)) if rolloff.size else 0.0,
            float(np.log(flatness.mean() + 1e-6)) if flatness.size else 0.0,
            float(zcr.mean()),
            major - minor,
            clarity,
            chroma_entropy,
            register,
        ],
        dtype=np.float64,
    )
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
