"""Estimate (valence, arousal) of audio: the project's own yardstick for emotion control.

A standardised ridge regression per axis on :mod:`emovae.eval.features`. Deliberately small and
linear: it is fitted on whatever labelled audio the pipeline has (the demo dataset's chunks here,
DEAM chunks for real users), must train in seconds on a few hundred clips, and must be readable
from its JSON file. Predictions are clipped to the [0, 1] emotion scale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

import numpy as np

from emovae.emotion import quadrant
from emovae.formats import CHUNK_METADATA_CSV
from emovae.eval.features import FEATURE_NAMES, extract_features
from emovae.io import read_json, write_json
from emovae.progress import Progress

FORMAT_VERSION = 1
MIN_TRAINING_CLIPS = 8


@dataclass
class AxisModel:
    """``clip(intercept + coef . (x - mean) / scale, 0, 1)`` for one emotion axis."""

    coef: np.ndarray
    intercept: float

    def predict(self, standardised: np.ndarray) -> np.ndarray:
        return np.clip(standardised @ self.coef + self.intercept, 0.0, 1.0)


@dataclass
class EmotionEstimator:
    """Audio -> (valence, arousal) in [0, 1]; fit, predict, save/load as JSON."""

    alpha: float = 1.0
    feature_names: tuple[str, ...] = FEATURE_NAMES
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    valence_model: AxisModel | None = None
    arousal_model: AxisModel | None = None
    training: dict = field(default_factory=dict)

    @property
    def is_fitted(self) -> bool:
        return self.valence_model is not None and self.arousal_model is not None

    # ---- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        audios: Sequence[np.ndarray],
        valence: Sequence[float],
        arousal: Sequence[float],
        sample_rate: int,
        progress: Progress | None = None,
    ) -> "EmotionEstimator":
        """Fit on clips with labels on the [0, 1] scale (one label pair per clip)."""
        total = len(audios)
        rows = []
        for i, audio in enumerate(audios):
            rows.append(extract_features(audio, sample_rate))
            if progress is not None:
                progress(i + 1, total, "extracting features")
        return self.fit_features(np.stack(rows) if rows else np.empty((0, len(FEATURE_NAMES))), valence, arousal)

    def fit_features(self, features: np.ndarray, valence: Sequence[float], arousal: Sequence[float]) -> "EmotionEstimator":
        """Fit on a precomputed (N, n_features) matrix (lets callers cache the slow librosa step)."""
        from sklearn.linear_model import Ridge
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(features, dtype=np.float64)
        v = np.asarray(valence, dtype=np.float64)
        a = np.asarray(arousal, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(f"features must be (N, {len(self.feature_names)}); got {x.shape}")
        if not (len(x) == len(v) == len(a)):
            raise ValueError(f"{len(x)} clips but {len(v)} valence and {len(a)} arousal labels")
        if len(x) < MIN_TRAINING_CLIPS:
            raise ValueError(f"{len(x)} labelled clips; the estimator needs at least {MIN_TRAINING_CLIPS}")
        for name, labels in (("valence", v), ("arousal", a)):
            if not np.all(np.isfinite(labels)) or labels.min() < 0 or labels.max() > 1:
                raise ValueError(f"{name} labels must be finite and in [0, 1]; got range [{labels.min()}, {labels.max()}]")
        scaler = StandardScaler().fit(x)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        z = (x - scaler.mean_) / scale
        self.mean, self.scale = scaler.mean_.copy(), scale
        models = []
        for labels in (v, a):
            ridge = Ridge(alpha=self.alpha).fit(z, labels)
            models.append(AxisModel(coef=ridge.coef_.astype(np.float64), intercept=float(ridge.intercept_)))
        self.valence_model, self.arousal_model = models
        pred = self.predict_features(x)
        self.training = {
            "n_clips": int(len(x)),
            "valence_r2": _r2(v, pred[:, 0]),
            "arousal_r2": _r2(a, pred[:, 1]),
        }
        return self

    # ---- prediction ----------------------------------------------------------------------------
    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """(N, n_features) -> (N, 2) columns valence, arousal."""
        self._require_fitted()
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        z = (x - self.mean) / self.scale
        return np.stack([self.valence_model.predict(z), self.arousal_model.predict(z)], axis=1)

    def predict(self, audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
        """(valence, arousal) of one clip, each in [0, 1].

        ``audio`` is ``(n,)`` mono or stereo (``(2, n)``, as the engine renderers' 44.1 kHz listening
        output) at any ``sample_rate``. What the fitted model reads is the fold-down (the mean of the
        channels) resampled to the analysis rate (:func:`~emovae.eval.features.extract_features`):
        the input a mono 24 kHz clip always had, up to that fold and resampling, so a mono clip and
        the same clip on both channels get the same estimate.
        """
        v, a = self.predict_features(extract_features(audio, sample_rate))[0]
        return float(v), float(a)

    def predict_quadrant(self, audio: np.ndarray, sample_rate: int) -> str:
        """The preset name whose quadrant the estimate falls in."""
        return quadrant(*self.predict(audio, sample_rate))

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError("EmotionEstimator is not fitted; call fit() or EmotionEstimator.load(path)")

    # ---- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._require_fitted()
        return {
            "format_version": FORMAT_VERSION,
            "kind": "standardised-ridge",
            "alpha": self.alpha,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "valence": {"coef": self.valence_model.coef.tolist(), "intercept": self.valence_model.intercept},
            "arousal": {"coef": self.arousal_model.coef.tolist(), "intercept": self.arousal_model.intercept},
            "training": self.training,
        }

    def save(self, path: str | os.PathLike) -> Path:
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EmotionEstimator":
        """Load a saved estimator; refuse one fitted on a different feature set (it would mis-predict)."""
        data = read_json(path)
        names = tuple(data.get("feature_names", ()))
        if data.get("format_version") != FORMAT_VERSION or names != FEATURE_NAMES:
            raise ValueError(
                f"{path}: estimator was saved for features {list(names)} (format {data.get('format_version')}); "
                f"this version computes {list(FEATURE_NAMES)} — refit with `python -m pipeline.fit_estimator`"
            )
        return cls(
            alpha=float(data["alpha"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            valence_model=AxisModel(np.asarray(data["valence"]["coef"]), float(data["valence"]["intercept"])),
            arousal_model=AxisModel(np.asarray(data["arousal"]["coef"]), float(data["arousal"]["intercept"])),
            training=dict(data.get("training", {})),
        )


def _r2(target: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(np.sum((target - target.mean()) ** 2))
    return float(1.0 - np.sum((target - pred) ** 2) / ss_tot) if ss_tot > 0 else 0.0


def fit_estimator_from_chunks(
    chunks_dir: str | os.PathLike,
    alpha: float = 1.0,
    max_clips: int | None = None,
    progress: Progress | None = None,
    train_songs: Collection[int] | None = None,
    test_songs: Collection[int] | None = None,
) -> EmotionEstimator:
    """Fit on the preprocess stage's chunks (``chunks_<S>s/metadata.csv`` + wavs).

    ``train_songs`` restricts the fit to those songs (the training split: an estimator that judges
    generated music must not have seen the songs it is compared against); ``test_songs`` are then
    predicted and their R^2 recorded in ``training`` (``test_valence_r2``, ``test_arousal_r2``).
    Unreadable chunks are skipped and counted in ``estimator.training["skipped"]`` rather than
    aborting the fit: one corrupt wav should not cost the whole run.
    """
    import pandas as pd

    from emovae.audio import SAMPLE_RATE, AudioLoadError, load_audio

    folder = Path(chunks_dir)
    table_path = folder / CHUNK_METADATA_CSV
    if not table_path.is_file():
        raise FileNotFoundError(
            f"{table_path}: no chunk metadata; pass the chunks folder written by `python -m pipeline.preprocess` "
            f"(e.g. processed_data/chunks_5s)"
        )
    table = pd.read_csv(table_path)
    missing = {"file", "song_id", "valence", "arousal"} - set(table.columns)
    if missing:
        raise ValueError(f"{table_path}: missing columns {sorted(missing)}")
    test = table[table["song_id"].isin(list(test_songs))] if test_songs is not None else table.iloc[:0]
    if train_songs is not None:
        table = table[table["song_id"].isin(list(train_songs))]
    if max_clips is not None and len(table) > max_clips:
        table = table.sample(n=max_clips, random_state=0).sort_index()
    done, total = [0], len(table) + len(test)

    def read(part: "pd.DataFrame") -> tuple[np.ndarray, list[float], list[float], list[str]]:
        rows, valence, arousal, skipped = [], [], [], []
        for row in part.itertuples(index=False):
            try:
                rows.append(extract_features(load_audio(folder / row.file), SAMPLE_RATE))
                valence.append(float(row.valence))
                arousal.append(float(row.arousal))
            except (AudioLoadError, ValueError) as exc:
                skipped.append(f"{row.file}: {exc}")
            done[0] += 1
            if progress is not None:
                progress(done[0], total, "extracting features")
        return (np.stack(rows) if rows else np.empty((0, len(FEATURE_NAMES)))), valence, arousal, skipped

    features, valence, arousal, skipped = read(table)
    estimator = EmotionEstimator(alpha=alpha).fit_features(features, valence, arousal)
    estimator.training.update({"source": str(folder), "skipped": skipped,
                               "train_songs": sorted(int(s) for s in table["song_id"].unique())})
    if len(test):
        test_features, test_v, test_a, test_skipped = read(test)
        pred = estimator.predict_features(test_features)
        estimator.training.update({"n_test_clips": int(len(test_features)), "test_skipped": test_skipped,
                                   "test_valence_r2": _r2(np.asarray(test_v), pred[:, 0]),
                                   "test_arousal_r2": _r2(np.asarray(test_a), pred[:, 1])})
    return estimator
