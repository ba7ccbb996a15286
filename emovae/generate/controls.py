"""Generated latent -> :class:`~emovae.music.controls.MusicControls`: the phrase shape of a synth piece.

The ``synth`` renderer takes every musical parameter from the latent: the score decoder reads the
level of tempo, density, loudness, mode, register, ... (:mod:`emovae.model.score`), and this module
reads the *shape* of the piece, so two samples at the same (V, A) differ the way two VAE samples
differ. Three curves are read off the latent at a control rate of a few values per second:

* ``contour``  - the latent's position along its own dominant direction of motion (first principal
  component of the frames over time): where the latent moves, the melody moves;
* ``density``  - latent flux (how fast consecutive frames change): busy latents -> busier rhythm;
* ``dynamics`` - latent energy (RMS over channels): louder-looking latents -> louder phrases.

Every curve is standardised within the piece and squashed with ``tanh`` into its bounded range, so
it shapes the music *around* the levels the score decoder read rather than overriding them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovae.music.controls import MusicControls

# A fixed reference direction only breaks the sign ambiguity of the principal component, so the same
# latent always yields the same contour (not its mirror image).
_SIGN_REFERENCE_SEED = 20240521


@dataclass(frozen=True)
class ControlSettings:
    """How strongly the latent shapes the music.

    ``rate_hz`` control values per second (4 = one per beat at 240 bpm: fine enough for phrasing,
    coarse enough to average out frame noise); ``*_gain`` scale the standardised curve before tanh.
    """

    rate_hz: float = 4.0
    contour_gain: float = 0.9
    density_gain: float = 0.8
    dynamics_gain: float = 0.8
    smoothing: int = 3  # moving-average width in control steps: phrases, not jitter


def _pool(latent: np.ndarray, n_steps: int) -> np.ndarray:
    """Average (C, F) frames into ``n_steps`` equal windows -> (n_steps, C)."""
    frames = latent.shape[1]
    edges = np.linspace(0, frames, n_steps + 1).round().astype(int)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)  # never an empty window
    edges = np.minimum(edges, frames)
    sums = np.add.reduceat(latent, edges[:-1], axis=1)
    counts = np.diff(np.append(edges[:-1], frames)).clip(min=1)
    return (sums / counts).T


def moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Edge-padded moving average along the first axis (a curve, or each column of ``(steps, k)`` rows)."""
    if width <= 1 or len(values) < 2:
        return values
    width = min(width, len(values))
    pad = [(width // 2, width - 1 - width // 2)] + [(0, 0)] * (values.ndim - 1)
    padded = np.pad(values, pad, mode="edge")
    return np.apply_along_axis(np.convolve, 0, padded, np.ones(width) / width, mode="valid")


def _smooth(curve: np.ndarray, width: int) -> np.ndarray:
    return curve if curve.size < 3 else moving_average(curve, width)


def _standardise(curve: np.ndarray) -> np.ndarray:
    """z-score with a floor on the spread, so an almost flat curve stays almost flat (no noise blow-up)."""
    centred = curve - curve.mean()
    spread = max(float(centred.std()), 0.05 * float(np.abs(curve).mean()) + 1e-6)
    return centred / spread


def latent_to_controls(latent: np.ndarray, seconds: float, settings: ControlSettings = ControlSettings()) -> MusicControls:
    """Derive contour, density and dynamics curves from one generated latent ``(channels, frames)``."""
    x = np.asarray(latent, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"latent must be (channels, frames) with at least 2 frames; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("latent contains NaN or infinite values; the VAE sample is unusable")
    n_steps = int(np.clip(round(seconds * settings.rate_hz), 2, x.shape[1]))

    pooled = _pool(x, n_steps)  # (steps, C)
    centred = pooled - pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    direction = vt[0]
    reference = np.random.default_rng(_SIGN_REFERENCE_SEED).standard_normal(direction.size)
    if direction @ reference < 0:
        direction = -direction
    position = centred @ direction

    flux_frames = np.sqrt(np.mean(np.diff(x, axis=1) ** 2, axis=0))  # (F-1,)
    flux = _pool(np.append(flux_frames, flux_frames[-1])[None, :], n_steps)[:, 0]
    energy = _pool(np.sqrt(np.mean(x**2, axis=0))[None, :], n_steps)[:, 0]

    def shaped(curve: np.ndarray, gain: float) -> np.ndarray:
        return np.tanh(gain * _standardise(_smooth(curve, settings.smoothing)))

    return MusicControls(
        contour=shaped(position, settings.contour_gain),
        density=0.5 + 0.5 * shaped(flux, settings.density_gain),
        dynamics=shaped(energy, settings.dynamics_gain),
    )
