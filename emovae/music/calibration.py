"""Engine calibration: which engine settings reproduce a set of measured musical descriptors.

The score decoder reads *descriptors* (tempo, onset density, loudness, ... as measured from audio
by :mod:`emovae.analysis.descriptors`) off a generated latent. To play them, the engine needs the
inverse of its own sound: the :data:`~emovae.music.params.KNOB_NAMES` settings under which it
*sounds like* those descriptors. That inverse is learned here from the engine alone: render pieces
at independent random knob settings, describe them with the same librosa code, and fit a ridge
map descriptors -> knobs (with squared terms, since e.g. onset rate grows like tempo x density).
The squared terms are only trusted inside the box of descriptors the engine's own pieces spanned
(recorded at the fit): beyond it each square continues along its tangent at the box's edge, so the
map keeps the slope it had there instead of running away quadratically. A VAE sample read as, say,
a negative onset rate (outside anything the engine plays) otherwise came out as staccato, 58 bpm
music. Measured with ``benchmarks/bench_emotion_control.py``, model path rho V / A, same bundles:
demo 0.920 / 0.955 -> 0.920 / 0.959, 200 songs 0.945 / 0.952 -> 0.945 / 0.955, and on a bundle
whose samples left the box more often (the engine-v3 branch) 0.758 / 0.784 -> 0.808 / 0.922.
Clipping the descriptors to the box instead (no slope beyond it) measured 0.924 / 0.962, 0.911 /
0.964 and 0.806 / 0.943: it threw away how far past the edge a sample was, which on 200 songs was
valence.
No emotion, label or dataset is involved, so the calibration holds for any dataset and codec; it
changes only when the engine or the descriptors change (re-run ``python -m pipeline.calibrate``;
``tests/test_calibration.py`` fails when the shipped file no longer matches the code).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from emovae.analysis.descriptors import DESCRIPTOR_NAMES, describe
from emovae.io import read_json, write_json
from emovae.music.fingerprint import source_fingerprint
from emovae.music.params import KNOB_NAMES, PARAM_RANGES, ParamCurve
from emovae.progress import Progress

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
FORMAT_VERSION = 2  # 2: the fitted descriptor box (low, high) is stored and used
def engine_fingerprint() -> str:
    """A hash of the engine's and the descriptors' source: a calibration is valid for one fingerprint."""
    return source_fingerprint((Path(__file__).parents[1] / "analysis" / "descriptors.py",))


def _expand(descriptors: np.ndarray, edge: np.ndarray | None = None) -> np.ndarray:
    """Descriptors and their squares (after standardisation): a smooth nonlinear inverse, still linear to fit.

    With ``edge`` (the descriptors clipped into the fitted box, same units), a square is continued past
    the box along its tangent at the edge (``e**2 + 2 e (x - e)``): the map keeps its slope there
    instead of bending further. Inside the box (and without ``edge``) ``e = x``: the plain square.
    """
    edge = descriptors if edge is None else edge
    return np.concatenate([descriptors, edge**2 + 2.0 * edge * (descriptors - edge)], axis=1)


@dataclass
class EngineCalibration:
    """Standardised descriptors and their squares (tangent-continued beyond the fitted box) -> knobs,
    one ridge per knob, each clipped to the knob's range."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (2 * n_descriptors, n_knobs)
    intercept: np.ndarray  # (n_knobs,)
    fingerprint: str
    low: np.ndarray  # (n_descriptors,): the smallest value each descriptor took on the calibration pieces
    high: np.ndarray  # (n_descriptors,): the largest
    training: dict = field(default_factory=dict)

    def knobs(self, descriptors: np.ndarray) -> dict[str, np.ndarray]:
        """``(n, n_descriptors)`` measured/predicted descriptors -> each knob as an ``(n,)`` curve."""
        x = np.atleast_2d(np.asarray(descriptors, dtype=np.float64))
        if x.shape[1] != len(DESCRIPTOR_NAMES):
            raise ValueError(f"descriptors must have {len(DESCRIPTOR_NAMES)} columns {DESCRIPTOR_NAMES}; got {x.shape}")
        edge = np.clip(x, self.low, self.high)  # beyond the box, the squares continue linearly (module docstring)
        out = _expand((x - self.mean) / self.scale, (edge - self.mean) / self.scale) @ self.coef + self.intercept
        return {name: np.clip(out[:, i], *PARAM_RANGES[name]) for i, name in enumerate(KNOB_NAMES)}

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "descriptors": list(DESCRIPTOR_NAMES),
            "knobs": list(KNOB_NAMES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "training": self.training,
        }

    def save(self, path: str | os.PathLike = CALIBRATION_FILE) -> Path:
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike = CALIBRATION_FILE) -> "EngineCalibration":
        data = read_json(path)
        if (data.get("format_version") != FORMAT_VERSION or tuple(data.get("descriptors", ())) != DESCRIPTOR_NAMES
                or tuple(data.get("knobs", ())) != KNOB_NAMES):
            raise ValueError(f"{path}: calibration was made by another version of the format or for other descriptors/knobs; run `python -m pipeline.calibrate`")
        return cls(np.asarray(data["mean"]), np.asarray(data["scale"]), np.asarray(data["coef"]),
                   np.asarray(data["intercept"]), str(data["fingerprint"]), np.asarray(data["low"]),
                   np.asarray(data["high"]), dict(data.get("training", {})))


@lru_cache(maxsize=1)
def default_calibration() -> EngineCalibration:
    """The calibration shipped with the engine (``emovae/music/calibration.json``)."""
    if not CALIBRATION_FILE.is_file():
        raise FileNotFoundError(f"{CALIBRATION_FILE}: the engine calibration is missing; run `python -m pipeline.calibrate`")
    return EngineCalibration.load(CALIBRATION_FILE)


def random_knobs(rng: np.random.Generator) -> dict[str, float]:
    """One setting of every knob, each drawn uniformly and independently over its range."""
    return {name: float(rng.uniform(*PARAM_RANGES[name])) for name in KNOB_NAMES}


def render_knobs(knobs: dict, seconds: float, seed: int, sample_rate: int = 24_000) -> np.ndarray:
    """The engine's ensemble arrangement playing constant ``knobs`` (its own seeded phrase controls)."""
    from emovae.music.synth import create_melodic_music

    return create_melodic_music(params=ParamCurve.from_knobs(knobs, seconds), seconds=seconds, seed=seed, sample_rate=sample_rate)


def fit_calibration(n_pieces: int = 320, seconds: float = 5.0, seed: int = 0, alpha: float = 1.0,
                    progress: Progress | None = None) -> EngineCalibration:
    """Render ``n_pieces`` random settings, describe them, fit descriptors -> knobs (see module docstring).

    ``training`` records each knob's 5-fold cross-validated R^2: how well the engine's own sound
    identifies that knob (a knob with a low R^2 is mostly played at its average).
    """
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict

    rng = np.random.default_rng([int(seed), 0xCA1])
    knob_rows, descriptor_rows = [], []
    for i in range(int(n_pieces)):
        knobs = random_knobs(rng)
        audio = render_knobs(knobs, seconds, seed=int(seed) * 100_003 + i)
        descriptor_rows.append(describe(audio, 24_000).mean(axis=0))
        knob_rows.append([knobs[name] for name in KNOB_NAMES])
        if progress is not None:
            progress(i + 1, int(n_pieces), "rendering and describing")
    x, y = np.asarray(descriptor_rows), np.asarray(knob_rows)
    mean, scale = x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    features = _expand((x - mean) / scale)
    ridge = Ridge(alpha=alpha).fit(features, y)
    predicted = cross_val_predict(Ridge(alpha=alpha), features, y, cv=5)
    r2 = 1.0 - ((y - predicted) ** 2).sum(axis=0) / ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    training = {"n_pieces": int(n_pieces), "seconds": float(seconds), "seed": int(seed), "alpha": float(alpha),
                "cv_r2": {name: round(float(v), 4) for name, v in zip(KNOB_NAMES, r2)}}
    return EngineCalibration(mean, scale, ridge.coef_.T.copy(), ridge.intercept_.copy(), engine_fingerprint(),
                             x.min(axis=0), x.max(axis=0), training)
