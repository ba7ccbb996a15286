"""Fréchet distance between two sets of latent chunks, per emotion quadrant, against a real-vs-real yardstick.

The Fréchet distance between Gaussians fitted to two feature sets (as in FID/FAD) says whether
generated latents are distributed like real ones, not just ranked like them. A raw distance has no
scale, so it is always reported as a ratio to the distance between two *real* sets (training songs
vs test songs): ratio ~1 means "as far from the test songs as other real songs are".

With a few dozen chunks per quadrant a full covariance of 512 features is singular, so features are
first projected onto the leading principal components of the training chunks (``n_components``).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from emovae.emotion import PRESETS, quadrant
from emovae.eval.probe import generate_grid, pooled_features


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of two ``(n, d)`` samples."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))


class Projection:
    """Standardise with the training features' statistics, then keep their top principal components."""

    def __init__(self, train_features: np.ndarray, n_components: int = 8):
        self.mean = train_features.mean(axis=0)
        self.scale = np.where(train_features.std(axis=0) > 1e-12, train_features.std(axis=0), 1.0)
        z = (train_features - self.mean) / self.scale
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        self.components = vt[: int(min(n_components, len(vt)))]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.components.T


def quadrant_distances(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                       generated: tuple[np.ndarray, np.ndarray], n_components: int = 8,
                       min_chunks: int = 4) -> dict[str, dict[str, float | int | None]]:
    """Per preset quadrant: FD(generated, test), FD(train, test) and their ratio.

    Each argument is ``(features (n, d), emotions (n, 2))``. A quadrant with fewer than ``min_chunks``
    chunks on a side gets ``None`` rather than a number from a degenerate covariance.
    """
    project = Projection(train[0], n_components)
    sides = {name: (project(f), np.array([quadrant(v, a) for v, a in e])) for name, (f, e) in
             (("train", train), ("test", test), ("generated", generated))}
    out: dict[str, dict[str, float | int | None]] = {}
    for name in PRESETS:
        picked = {side: feats[labels == name] for side, (feats, labels) in sides.items()}
        counts = {f"n_{side}": int(len(v)) for side, v in picked.items()}
        if min(len(v) for v in picked.values()) < min_chunks:
            out[name] = {"generated_vs_test": None, "train_vs_test": None, "ratio": None, **counts}
            continue
        generated_fd = frechet_distance(picked["generated"], picked["test"])
        real_fd = frechet_distance(picked["train"], picked["test"])
        out[name] = {"generated_vs_test": generated_fd, "train_vs_test": real_fd,
                     "ratio": generated_fd / real_fd if real_fd > 0 else None, **counts}
    return out


def frechet_at_conditions(model, n_frames: int, reference: tuple[np.ndarray, np.ndarray],
                          held: dict[str, tuple[np.ndarray, np.ndarray]], seed: int, device,
                          guidance: float = 1.0, draws: int = 3,
                          columns: np.ndarray | None = None) -> dict[str, dict[str, dict[str, object]]]:
    """Ratios per held-out side and quadrant for VAE samples drawn at the *reference* chunks' own emotions.

    ``reference`` is ``(features, emotions)`` of real training chunks and is also the yardstick, so the
    generated side has the same size and emotions as the real side it is compared with: a model
    that sampled like the training songs scores ~1 (drawn on a grid instead, the small-sample bias
    of the estimate alone pushes real chunks above 1). Each ``held`` side (``name -> (features,
    emotions)``) is judged against the same ``draws`` generated sets; the ratio is their mean.
    ``columns`` keeps only those feature columns on every side (see :func:`emovae.eval.probe.feature_columns`).
    """
    pick = (lambda f: f) if columns is None else (lambda f: np.asarray(f)[:, columns])
    features, emotions = reference
    reference = (pick(features), emotions)
    held = {side: (pick(f), e) for side, (f, e) in held.items()}
    generated = [pick(pooled_features(generate_grid(model, n_frames, emotions, int(seed) + 1 + k, device, guidance)))
                 for k in range(int(draws))]
    out: dict[str, dict[str, dict[str, object]]] = {}
    for side, real in held.items():
        runs = [quadrant_distances(reference, real, (g, emotions)) for g in generated]
        out[side] = {}
        for name, first in runs[0].items():
            ratios = [run[name]["ratio"] for run in runs]
            distances = [run[name]["generated_vs_test"] for run in runs]
            out[side][name] = {**first,
                               "ratio": None if None in ratios else float(np.mean(ratios)),
                               "ratio_per_draw": None if None in ratios else [float(v) for v in ratios],
                               "generated_vs_test": None if None in distances else float(np.mean(distances))}
    return out
