"""Figures of generated music: the four presets side by side, and how well emotion is controlled.

PNG via matplotlib's Agg backend (headless, thread-safe enough for the app's workers), written
atomically. The preset figure puts waveform over mel spectrogram for each preset on shared axes,
so the differences the emotion makes (density, loudness, register, brightness) are visible at a
glance; the control figure is the benchmark's evidence for the README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from emovae.audio import to_mono  # noqa: E402
from emovae.io import atomic_path  # noqa: E402

N_MELS = 96
FMAX = 8000.0


def _save(fig: plt.Figure, path: str | Path) -> Path:
    target = Path(path)
    with atomic_path(target, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return target


def mel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mel spectrogram in dB relative to a fixed full-scale reference (so loudness differences show)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=sample_rate, n_fft=2048, hop_length=512, n_mels=N_MELS, fmax=FMAX)
    return librosa.power_to_db(mel, ref=1.0, top_db=None).clip(min=-90.0)


def plot_preset_comparison(clips: Mapping[str, np.ndarray], sample_rate: int, path: str | Path, title: str = "") -> Path:
    """Waveform (top) and mel spectrogram (bottom) for each named clip, side by side.

    Clips are ``(n,)`` mono or stereo; stereo is drawn as its fold-down (:func:`emovae.audio.to_mono`):
    one waveform per piece keeps the four comparable, and the placement in the stereo field is not
    what the figure is for.
    """
    names = list(clips)
    if not names:
        raise ValueError("plot_preset_comparison needs at least one clip")
    fig, axes = plt.subplots(2, len(names), figsize=(4.0 * len(names), 5.4), squeeze=False, sharey="row",
                             gridspec_kw={"height_ratios": [1, 2]})
    image = None
    for col, name in enumerate(names):
        audio = to_mono(np.asarray(clips[name], dtype=np.float32))
        seconds = audio.size / sample_rate
        t = np.arange(audio.size) / sample_rate
        wave_ax, spec_ax = axes[0, col], axes[1, col]
        wave_ax.plot(t, audio, lw=0.3, color="tab:blue")
        wave_ax.set(xlim=(0, seconds), ylim=(-1, 1), title=name)
        wave_ax.set_xticklabels([])
        image = spec_ax.imshow(mel_db(audio, sample_rate), origin="lower", aspect="auto", cmap="magma",
                               extent=(0, seconds, 0, N_MELS), vmin=-90, vmax=0)
        spec_ax.set_xlabel("time (s)")
    axes[0, 0].set_ylabel("amplitude")
    axes[1, 0].set_ylabel("mel band")
    fig.colorbar(image, ax=axes[1, :].tolist(), label="dB (full scale)", shrink=0.9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_emotion_control(targets: np.ndarray, estimates: np.ndarray, path: str | Path, rho: tuple[float, float] | None = None) -> Path:
    """Target vs estimated valence and arousal (left two panels) and the (V, A) plane (right)."""
    targets = np.asarray(targets, dtype=float)
    estimates = np.asarray(estimates, dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    for i, axis in enumerate(("valence", "arousal")):
        ax = axes[i]
        ax.scatter(targets[:, i], estimates[:, i], s=14, alpha=0.6)
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8)
        label = f"{axis}" + (f"  (Spearman rho = {rho[i]:.2f})" if rho is not None else "")
        ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xlabel=f"target {axis}", ylabel=f"estimated {axis}", title=label)
    ax = axes[2]
    unique = np.unique(targets, axis=0)
    for target in unique:
        mask = np.all(targets == target, axis=1)
        centre = estimates[mask].mean(axis=0)
        ax.annotate("", xy=centre, xytext=target, arrowprops=dict(arrowstyle="->", color="tab:red", lw=0.8))
    ax.scatter(unique[:, 0], unique[:, 1], s=18, color="black", label="target")
    ax.scatter(estimates[:, 0], estimates[:, 1], s=8, alpha=0.35, color="tab:red", label="estimate")
    ax.axhline(0.5, color="grey", lw=0.6, ls="--")
    ax.axvline(0.5, color="grey", lw=0.6, ls="--")
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xlabel="valence", ylabel="arousal", title="target -> mean estimate", aspect="equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return _save(fig, path)
