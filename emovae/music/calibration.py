"""Engine calibration: which engine settings reproduce a set of measured musical descriptors.

The score decoder reads *descriptors* (tempo, onset density, loudness, ... as measured from audio
by :mod:`emovae.analysis.descriptors`) off a generated latent. To play them, the engine needs the
inverse of its own sound: the :data:`~emovae.music.params.KNOB_NAMES` settings under which it
*sounds like* those descriptors. That inverse is learned here from the engine alone: render pieces
at independent random knob settings, describe them with the same librosa code, and fit a linear
ridge map from the standardised descriptors to the knobs, each knob clipped to its range.

Why linear. The map had squared terms (onset rate grows like tempo x density), continued along
their tangents beyond the box of descriptors the engine's own pieces spanned. On issue 12's engine
the register knob's own square bent it down near the box's edge, and a generated happy piece whose
register descriptor lay above every calibration piece was played at register 65 (the rules' own
happy render read back as 69, of the 74 they ask for), while the linear map keeps each knob's slope
everywhere. Measured on today's demo bundle and on the same three training seeds, nothing else
changed (``benchmarks/bench_training_seeds.py``, model path rho V / A, presets): squared terms
0.913 +- 0.005 / 0.976 +- 0.004, presets 12, 10, 11; linear 0.915 +- 0.034 / 0.980 +- 0.001, presets
12, 12, 12; the bundle's own seed 0.917 / 0.972 -> 0.950 / 0.979, ablations null. (Before, on the
previous engine, the tangent continuation had measured better than clipping the descriptors to the
box: demo 0.920 / 0.955 -> 0.920 / 0.959, 200 songs 0.945 / 0.952 -> 0.945 / 0.955.)
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
FORMAT_VERSION = 3  # 3: linear (version 2 had squared terms, continued beyond the box of descriptors it stored)


def engine_fingerprint() -> str:
    """A hash of the engine's and the descriptors' source: a calibration is valid for one fingerprint."""
    return source_fingerprint((Path(__file__).parents[1] / "analysis" / "descriptors.py",))


@dataclass
class EngineCalibration:
    """Standardised descriptors -> knobs, one linear ridge per knob, each clipped to the knob's range."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_descriptors, n_knobs)
    intercept: np.ndarray  # (n_knobs,)
    fingerprint: str
    training: dict = field(default_factory=dict)

    def knobs(self, descriptors: np.ndarray) -> dict[str, np.ndarray]:
        """``(n, n_descriptors)`` measured/predicted descriptors -> each knob as an ``(n,)`` curve."""
        x = np.atleast_2d(np.asarray(descriptors, dtype=np.float64))
        if x.shape[1] != len(DESCRIPTOR_NAMES):
            raise ValueError(f"descriptors must have {len(DESCRIPTOR_NAMES)} columns {DESCRIPTOR_NAMES}; got {x.shape}")
        out = ((x - self.mean) / self.scale) @ self.coef + self.intercept
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
                   np.asarray(data["intercept"]), str(data["fingerprint"]), dict(data.get("training", {})))


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
    features = (x - mean) / scale
    ridge = Ridge(alpha=alpha).fit(features, y)
    predicted = cross_val_predict(Ridge(alpha=alpha), features, y, cv=5)
    r2 = 1.0 - ((y - predicted) ** 2).sum(axis=0) / ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    training = {"n_pieces": int(n_pieces), "seconds": float(seconds), "seed": int(seed), "alpha": float(alpha),
                "cv_r2": {name: round(float(v), 4) for name, v in zip(KNOB_NAMES, r2)}}
    return EngineCalibration(mean, scale, ridge.coef_.T.copy(), ridge.intercept_.copy(), engine_fingerprint(), training)
