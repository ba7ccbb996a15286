"""Musical controls: shape *how* a piece unfolds without changing *which* emotion it carries.

The generation stage derives these curves from a generated VAE latent (so the latent audibly
steers the melody, the rhythm and the dynamics), and the composer makes its own seeded ones
when none are given. Ranges are deliberately bounded so a control never overrides the emotion:

* ``contour``  in [-1, 1]: melodic target relative to the emotion's register, -1 = 7 semitones
  below, +1 = 7 above;
* ``density``  in [0, 1]: rhythm density, scales the emotion's notes-per-beat by 0.7x .. 1.4x;
* ``dynamics`` in [-1, 1]: loudness shaping, +-0.12 velocity (about +-2 dB) around the emotion's level.

Each curve is sampled uniformly over the piece (first sample at the start, last at the end),
the same convention as :class:`emovae.music.params.EmotionCurve`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTOUR_SEMITONES = 7.0
DENSITY_RANGE = (0.7, 1.4)
DYNAMICS_VELOCITY = 0.12


@dataclass(frozen=True)
class MusicControls:
    """Three 1-D curves over the piece (see module docstring for ranges)."""

    contour: np.ndarray
    density: np.ndarray
    dynamics: np.ndarray

    def __post_init__(self) -> None:
        for name, low, high in (("contour", -1.0, 1.0), ("density", 0.0, 1.0), ("dynamics", -1.0, 1.0)):
            curve = np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            if curve.ndim != 1 or curve.size == 0 or not np.all(np.isfinite(curve)):
                raise ValueError(f"MusicControls.{name} must be a non-empty finite 1-D curve")
            if curve.min() < low - 1e-9 or curve.max() > high + 1e-9:
                raise ValueError(
                    f"MusicControls.{name} spans [{curve.min():.3g}, {curve.max():.3g}], outside [{low}, {high}]"
                )
            object.__setattr__(self, name, curve)

    def at(self, fraction: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Contour, density and dynamics at positions ``fraction`` in [0, 1] of the piece."""
        x = np.clip(np.asarray(fraction, dtype=float), 0.0, 1.0)
        return tuple(_interp(getattr(self, name), x) for name in ("contour", "density", "dynamics"))

    @classmethod
    def neutral(cls) -> "MusicControls":
        """Flat curves: the emotion alone decides."""
        return cls(contour=np.zeros(1), density=np.full(1, 0.5), dynamics=np.zeros(1))

    @classmethod
    def random(cls, seed: int, seconds: float) -> "MusicControls":
        """Seeded phrase-like curves: melodic arches every few bars, gentle density and dynamic swells."""
        rng = np.random.default_rng([int(seed), 0xC0])
        n = max(2, int(np.ceil(seconds)) + 1)
        t = np.linspace(0.0, seconds, n)
        contour = _smooth_wave(rng, t, periods=(6.0, 15.0), amplitude=0.8)
        density = 0.5 + 0.5 * _smooth_wave(rng, t, periods=(8.0, 20.0), amplitude=0.6)
        dynamics = _smooth_wave(rng, t, periods=(5.0, 12.0), amplitude=0.7)
        return cls(contour=contour, density=density, dynamics=dynamics)


def _smooth_wave(rng: np.random.Generator, t: np.ndarray, periods: tuple[float, float], amplitude: float) -> np.ndarray:
    """A sum of two slow sinusoids with random periods and phases, scaled into [-amplitude, amplitude]."""
    wave = np.zeros_like(t)
    for weight in (1.0, 0.5):
        period = rng.uniform(*periods)
        wave += weight * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    return amplitude * wave / 1.5


def _interp(curve: np.ndarray, x: np.ndarray) -> np.ndarray:
    if curve.size == 1:
        return np.full(np.shape(x), curve[0])
    return np.interp(x, np.linspace(0.0, 1.0, curve.size), curve)
