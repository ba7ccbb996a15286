"""Sensory dissonance and major/minor mode of rendered audio: the measures behind issue 12.

Issue 12 asks that the music engine's roughness fall as the target valence rises, and that happy
targets read major and sad ones minor. Both are judged here from the *sound*, never from the
engine's own settings, so the measure cannot agree with the engine just because it shares its code.

Roughness (:func:`roughness`, :func:`roughness_curve`)
    Plomp-Levelt sensory dissonance in Sethares' parametrisation, summed over every pair of
    spectral peaks at or below 2 kHz in each frame and averaged over the frames that are not
    near-silent. For partials ``f1 < f2`` with amplitudes ``a1, a2``::

        d = min(a1, a2) * (exp(-3.5 s (f2 - f1)) - exp(-5.75 s (f2 - f1))),  s = 0.24 / (0.0207 f1 + 18.96)

    The curve peaks near a quarter of a critical band and vanishes for unisons and wide
    intervals, so a minor second of harmonic tones is rough and a fifth or an octave is not.

    Why the amplitudes are weighted: the issue found that two implementations of this measure
    disagree in *sign* on the engine's output, one weighting partials by an equal-loudness contour
    and one by A-weighting, because the two treat the bass (where the engine's low voices beat)
    very differently. A result that holds under one only is an artefact of the weighting, so both
    are offered and a claim has to hold under both.

Mode (:func:`key_mode`)
    Krumhansl-Kessler key finding on the mean chroma (:func:`emovae.analysis.descriptors.key_fit`,
    the same profiles the score decoder's ``mode`` descriptor uses).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from emovae.analysis.descriptors import ANALYSIS_RATE, HOP as ANALYSIS_HOP, N_FFT, key_fit
from emovae.analysis.descriptors import prepare as prepare_for_analysis

Weighting = Literal["equal_loudness", "a_weighting"]
WEIGHTINGS: tuple[str, ...] = ("equal_loudness", "a_weighting")

ROUGHNESS_RATE = 44_100  # the frames are defined in samples at 44.1 kHz
FRAME = 2048  # 46 ms: resolves partials ~45 Hz apart (two Hann bins), enough for beating above ~C4
HOP = 1024
MAX_FREQUENCY = 2_000.0  # above ~2 kHz partials of music are weak and their pairs lie beyond the curve's peak
MIN_FREQUENCY = 20.0  # below the equal-loudness table; DC and rumble are not partials
SILENCE_DB = 40.0  # frames this far below the loudest frame are skipped (fades, rests, tails)
PEAK_FLOOR_DB = 60.0  # peaks this far below the frame's strongest weighted component are noise
MAX_PEAKS = 24  # strongest peaks kept per frame: 276 pairs, more than a dense chord's audible partials
SIDELOBE_BINS = 8  # a Hann sidelobe lies within 8 bins of its main lobe (-31 dB at 2.5 bins, ~-60 dB at 8)
SIDELOBE_DB = 30.0  # ... and at least 30 dB below it
PHON = 60.0  # the equal-loudness contour used: a moderate listening level
MIN_SECONDS = FRAME / ROUGHNESS_RATE  # one whole frame

# Sethares (1993) fit of the Plomp-Levelt curve.
_DSTAR, _S1, _S2, _B1, _B2 = 0.24, 0.0207, 18.96, 3.5, 5.75

# ISO 226:2003, table 1: frequency (Hz), exponent a_f, magnitude of the linear transfer function L_U (dB),
# threshold of hearing T_f (dB SPL).
_ISO_F = np.array([20, 25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800,
                   1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500], dtype=float)
_ISO_AF = np.array([0.532, 0.506, 0.480, 0.455, 0.432, 0.409, 0.387, 0.367, 0.349, 0.330, 0.315, 0.301, 0.288,
                    0.276, 0.267, 0.259, 0.253, 0.250, 0.246, 0.244, 0.243, 0.243, 0.243, 0.242, 0.242, 0.245,
                    0.254, 0.271, 0.301])
_ISO_LU = np.array([-31.6, -27.2, -23.0, -19.1, -15.9, -13.0, -10.3, -8.1, -6.2, -4.5, -3.1, -2.0, -1.1, -0.4,
                    0.0, 0.3, 0.5, 0.0, -2.7, -4.1, -1.0, 1.7, 2.5, 1.2, -2.1, -7.1, -11.2, -10.7, -3.1])
_ISO_TF = np.array([78.5, 68.7, 59.5, 51.1, 44.0, 37.5, 31.5, 26.5, 22.1, 17.9, 14.4, 11.4, 8.6, 6.2, 4.4, 3.0,
                    2.2, 2.4, 3.5, 1.7, -1.3, -4.2, -6.0, -5.4, -1.5, 6.0, 12.6, 13.9, 12.3])


def equal_loudness_spl(phon: float = PHON) -> tuple[np.ndarray, np.ndarray]:
    """The ISO 226:2003 equal-loudness contour: ``(frequencies, dB SPL)`` at the 29 tabled frequencies.

    Parameters
    ----------
    phon : float
        Loudness level of the contour; the standard's formula is valid from 20 to 90 phon.

    Returns
    -------
    frequencies, spl : ndarray
        The SPL a pure tone needs at each frequency to sound as loud as ``phon`` dB at 1 kHz.
    """
    if not 20.0 <= float(phon) <= 90.0:
        raise ValueError(f"phon={phon!r} is outside the range [20, 90] where ISO 226:2003 is defined")
    af = 4.47e-3 * (10.0 ** (0.025 * phon) - 1.15) + (0.4 * 10.0 ** ((_ISO_TF + _ISO_LU) / 10.0 - 9.0)) ** _ISO_AF
    return _ISO_F.copy(), 10.0 / _ISO_AF * np.log10(af) - _ISO_LU + 94.0


def weighting_gain(frequencies: np.ndarray, weighting: Weighting = "equal_loudness", phon: float = PHON) -> np.ndarray:
    """Linear amplitude gain of each frequency under a weighting, 1 at 1 kHz.

    Why a gain and not a loudness model: roughness is a sum over partial *pairs*, and the question
    the weighting answers is only how much each partial counts relative to the others; a full
    loudness model (masking, compression) would change the measure the issue defines.

    Parameters
    ----------
    frequencies : array_like
        Frequencies in Hz.
    weighting : {"equal_loudness", "a_weighting"}
        ``equal_loudness``: the inverse of the ISO 226:2003 contour at ``phon``, interpolated linearly
        in log frequency (held constant outside 20 Hz - 12.5 kHz). ``a_weighting``: IEC 61672 A-weighting
        (``librosa.A_weighting``), which approximates the 40-phon contour and cuts the bass much harder.
    phon : float
        Level of the equal-loudness contour (ignored by A-weighting).
    """
    weighting = _check_weighting(weighting)
    f = np.maximum(np.asarray(frequencies, dtype=float), 1e-3)
    if weighting == "a_weighting":
        import librosa

        return 10.0 ** (np.asarray(librosa.A_weighting(f), dtype=float) / 20.0)
    table_f, spl = equal_loudness_spl(phon)
    log_f = np.log10(table_f)
    spl_1k = float(np.interp(3.0, log_f, spl))
    return 10.0 ** ((spl_1k - np.interp(np.log10(f), log_f, spl)) / 20.0)


def roughness_curve(audio: np.ndarray, sample_rate: int, weighting: Weighting = "equal_loudness") -> np.ndarray:
    """Per-frame Plomp-Levelt roughness of a clip; near-silent frames are dropped.

    Parameters
    ----------
    audio : ndarray
        Mono ``(n,)`` or multichannel ``(n, channels)`` / ``(channels, n)`` samples; channels are
        averaged (roughness is what reaches one ear from a mix, not per speaker).
    sample_rate : int
        Rate of ``audio``; resampled to 44.1 kHz if different, so frames always span 46 ms.
    weighting : {"equal_loudness", "a_weighting"}
        How partials are weighted before pairing (see :func:`weighting_gain`).

    Returns
    -------
    ndarray
        One value per kept frame (2048 samples, hop 1024, Hann), in frame order. Frames whose energy
        is 40 dB or more below the loudest frame are skipped: a rest or a release tail has almost no
        peaks above the floor and would pull the mean towards 0 in proportion to how much silence
        a clip has, which is tempo and articulation, not dissonance.

    Notes
    -----
    Peaks are local maxima of the magnitude spectrum above 20 Hz with parabolic interpolation (on log magnitude) of frequency and amplitude. Hann sidelobes (a local maximum
    within 8 bins of one at least 30 dB stronger) are dropped: they are the window's, not the
    music's, and would give a pure sine roughness. Amplitudes are weighted; peaks more than 60 dB
    below the frame's strongest weighted peak over the *whole* spectrum are dropped, and the
    remaining ones at or below 2 kHz are divided by the strongest of them (which scores 1) and the
    24 strongest kept. Why that normalisation: it makes the measure independent of level (a quieter
    mix is not less dissonant); it keeps one dominant rough pair on the same scale whatever quiet
    consonant partials surround it (dividing by the total would dilute it); and cymbals or other
    energy above 2 kHz do not scale the low partials down, so the measure stays about the
    harmony. The floor is set on the whole spectrum so that a frame whose only content below
    2 kHz is faint leakage gets no peaks rather than full-scale ones.
    A pair of equal partials at the curve's worst interval scores ~0.18. Partials closer than
    ~45 Hz (two bins) merge into one peak whose beating shows across frames, not within one, so
    the issue's 46 ms frames under-read very close pairs in the bass.
    """
    weighting = _check_weighting(weighting)
    magnitude = _frames_spectrum(audio, sample_rate)  # (bins, frames), already silence-filtered
    if magnitude.shape[1] == 0:
        return np.zeros(0)
    frequencies, amplitudes = _peaks(magnitude, weighting)
    return _pair_roughness(frequencies, amplitudes)


def roughness(audio: np.ndarray, sample_rate: int, weighting: Weighting = "equal_loudness") -> float:
    """Mean per-frame Plomp-Levelt roughness of a clip (see :func:`roughness_curve` for the method).

    Parameters
    ----------
    audio : ndarray
        Mono or multichannel samples (channels are averaged), at least one 2048-sample frame at 44.1 kHz.
    sample_rate : int
        Rate of ``audio`` in Hz.
    weighting : {"equal_loudness", "a_weighting"}
        Partial weighting; issue 12 asks for a result that holds under both.

    Returns
    -------
    float
        Mean roughness of the non-silent frames; 0.0 for an all-silent clip (nothing sounds, nothing
        beats). Unitless, independent of the clip's level.
    """
    curve = roughness_curve(audio, sample_rate, weighting)
    return float(curve.mean()) if curve.size else 0.0


def key_mode(audio: np.ndarray, sample_rate: int) -> str:
    """``"major"`` or ``"minor"``: the mode whose best-fitting Krumhansl-Kessler key fits the clip better.

    Parameters
    ----------
    audio : ndarray
        Mono or multichannel samples (channels are averaged), at least 0.5 s.
    sample_rate : int
        Rate of ``audio`` in Hz.

    Returns
    -------
    str
        ``"major"`` if the best correlation over the 12 major keys is at least the best over the 12
        minor keys, else ``"minor"``.

    Notes
    -----
    Constant-Q chroma (``librosa.feature.chroma_cqt``) rather than STFT chroma: harmony lives in the
    bass and middle register, where a 2048-point STFT at 22.05 kHz cannot tell adjacent semitones
    apart (bins 10.8 Hz wide vs 6 Hz between A1 and B-flat1). The chroma is averaged over the frames
    within 40 dB of the loudest, as the ``mode`` descriptor does, so rests do not flatten it.
    """
    import librosa

    y = prepare_for_analysis(_mono(audio, "audio"), sample_rate)  # mono at ANALYSIS_RATE
    chroma = librosa.feature.chroma_cqt(y=y, sr=ANALYSIS_RATE, hop_length=ANALYSIS_HOP)
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=ANALYSIS_HOP)[0]
    n = min(chroma.shape[1], rms.size)
    chroma, rms = chroma[:, :n], rms[:n]
    rms_db = 20.0 * np.log10(rms + 1e-9)
    voiced = rms_db > rms_db.max() - SILENCE_DB
    chroma_mean = chroma[:, voiced].mean(axis=1) if voiced.any() else chroma.mean(axis=1)
    major, minor, _ = key_fit(chroma_mean)
    return "major" if major >= minor else "minor"


# --- internals -----------------------------------------------------------------------------------


def _check_weighting(weighting: str) -> str:
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r} is unknown; choose one of {', '.join(WEIGHTINGS)}")
    return weighting


def _mono(audio: np.ndarray, name: str) -> np.ndarray:
    """Float64 mono: a 2-D array is averaged over its channel axis (the short one, at most 8)."""
    y = np.asarray(audio, dtype=np.float64)
    if y.ndim == 2:
        if y.shape[1] <= 8 and y.shape[1] <= y.shape[0]:
            y = y.mean(axis=1)
        elif y.shape[0] <= 8:
            y = y.mean(axis=0)
        else:
            raise ValueError(f"{name} has shape {y.shape}; expected (samples,), (samples, channels) or (channels, samples)")
    elif y.ndim != 1:
        raise ValueError(f"{name} has shape {y.shape}; expected (samples,), (samples, channels) or (channels, samples)")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite samples")
    return y


def _frames_spectrum(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Magnitude spectra ``(FRAME // 2 + 1, kept frames)`` of the non-silent Hann frames at 44.1 kHz."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate!r} must be a positive whole number of Hz")
    y = _mono(audio, "audio")
    if y.size < MIN_SECONDS * sample_rate:
        raise ValueError(f"audio is {y.size / sample_rate:.4f} s long; roughness needs at least one "
                         f"{FRAME}-sample frame at {ROUGHNESS_RATE} Hz ({MIN_SECONDS:.4f} s)")
    if sample_rate != ROUGHNESS_RATE:
        import soxr

        y = soxr.resample(y, sample_rate, ROUGHNESS_RATE, quality="HQ")
    n_frames = 1 + max(0, (y.size - FRAME) // HOP)
    frames = np.lib.stride_tricks.sliding_window_view(y, FRAME)[::HOP][:n_frames]
    energy = np.einsum("ij,ij->i", frames, frames)
    if not np.any(energy > 0):
        return np.zeros((FRAME // 2 + 1, 0))
    keep = 10.0 * np.log10(energy + 1e-300) > 10.0 * np.log10(energy.max()) - SILENCE_DB
    window = np.hanning(FRAME + 1)[:-1]  # periodic Hann, as librosa and scipy use for spectra
    return np.abs(np.fft.rfft(frames[keep] * window, axis=1)).T


def _peaks(magnitude: np.ndarray, weighting: str) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and normalised weighted amplitudes ``(frames, MAX_PEAKS)`` of each frame's peaks (0 = none)."""
    from scipy.ndimage import maximum_filter1d

    bins, n_frames = magnitude.shape
    bin_hz = ROUGHNESS_RATE / FRAME
    bin_freqs = np.arange(bins) * bin_hz

    # Local maxima (strictly above the left neighbour, not below the right one) over the whole spectrum:
    # the strongest of them, wherever it lies, sets the -60 dB floor.
    centre = magnitude[1:-1]
    is_peak = (centre > magnitude[:-2]) & (centre >= magnitude[2:])
    is_peak &= (bin_freqs[1:-1] >= MIN_FREQUENCY)[:, None]
    neighbourhood = maximum_filter1d(magnitude, size=2 * SIDELOBE_BINS + 1, axis=0, mode="constant")[1:-1]
    is_peak &= centre > neighbourhood * 10.0 ** (-SIDELOBE_DB / 20.0)

    k, t = np.nonzero(is_peak)  # k indexes centre, i.e. bin k + 1
    log_mag = np.log(magnitude + 1e-12)
    alpha, beta, gamma = log_mag[k, t], log_mag[k + 1, t], log_mag[k + 2, t]
    denom = alpha - 2.0 * beta + gamma
    offset = np.where(np.abs(denom) > 1e-12, 0.5 * (alpha - gamma) / np.where(denom == 0, 1.0, denom), 0.0)
    offset = np.clip(offset, -0.5, 0.5)
    freq = (k + 1 + offset) * bin_hz
    amp = np.exp(beta - 0.25 * (alpha - gamma) * offset) * weighting_gain(freq, weighting)
    strongest = np.zeros(n_frames)
    np.maximum.at(strongest, t, amp)
    valid = (freq <= MAX_FREQUENCY) & (freq >= MIN_FREQUENCY) & (amp >= strongest[t] * 10.0 ** (-PEAK_FLOOR_DB / 20.0))
    freq, amp, t, k = freq[valid], amp[valid], t[valid], k[valid]
    in_band = np.zeros(n_frames)
    np.maximum.at(in_band, t, amp)
    amp = amp / in_band[t]  # every kept peak has in_band[t] >= amp > 0

    # Scatter into a (frames, bins) grid, then keep each frame's MAX_PEAKS strongest.
    grid_amp = np.zeros((n_frames, bins))
    grid_freq = np.zeros((n_frames, bins))
    slot = k + 1  # the peak's own bin: local maxima are never adjacent, so slots are unique
    grid_amp[t, slot] = amp
    grid_freq[t, slot] = freq
    top = min(MAX_PEAKS, bins)
    order = np.argpartition(-grid_amp, top - 1, axis=1)[:, :top]
    return np.take_along_axis(grid_freq, order, axis=1), np.take_along_axis(grid_amp, order, axis=1)


def _pair_roughness(frequencies: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """Sethares' dissonance summed over all peak pairs of each frame; empty slots have amplitude 0."""
    f_i, f_j = frequencies[:, :, None], frequencies[:, None, :]
    low = np.minimum(f_i, f_j)
    diff = np.abs(f_i - f_j)
    s = _DSTAR / (_S1 * low + _S2)
    curve = np.exp(-_B1 * s * diff) - np.exp(-_B2 * s * diff)
    pair = np.minimum(amplitudes[:, :, None], amplitudes[:, None, :]) * curve
    return 0.5 * pair.sum(axis=(1, 2))  # every pair counted twice; the diagonal (diff 0) contributes 0
