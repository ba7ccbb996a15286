"""The clickable emotion map maps pixels to emotions exactly; plots carry the data they claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emovae.app import figures
from emovae.app.figures import GEOMETRY, MapGeometry


@pytest.mark.parametrize("va", [(0.0, 0.0), (1.0, 1.0), (0.25, 0.8), (0.5, 0.5)])
def test_pixel_round_trip(va):
    assert GEOMETRY.to_emotion(*GEOMETRY.to_pixel(*va)) == pytest.approx(va, abs=1e-3)


def test_corners_and_margin_clicks():
    g = MapGeometry(size=200, margin=20)
    assert g.to_emotion(20, 20) == (0.0, 1.0)  # top-left corner of the plane: angry
    assert g.to_emotion(180, 180) == (1.0, 0.0)  # bottom-right: calm
    assert g.to_emotion(0, 199) == (0.0, 0.0)  # a click in the margin snaps onto the edge


def test_emotion_map_draws_the_marker_where_the_emotion_is():
    plain = figures.render_emotion_map()
    marked = figures.render_emotion_map(marker=(0.9, 0.2))
    assert plain.shape == (GEOMETRY.size, GEOMETRY.size, 3) and plain.dtype == np.uint8
    diff = np.any(plain != marked, axis=2)
    ys, xs = np.nonzero(diff)
    x, y = GEOMETRY.to_pixel(0.9, 0.2)
    assert abs(xs.mean() - x) < 2 and abs(ys.mean() - y) < 2


def test_emotion_map_shows_where_real_deam_songs_lie_and_the_corners_lie_outside():
    from emovae.emotion import DEAM_STATIC_RANGE, PRESETS

    boxed, bare = figures.render_emotion_map(), figures.render_emotion_map(data_range=None)
    (v0, v1), (a0, a1) = DEAM_STATIC_RANGE["valence"], DEAM_STATIC_RANGE["arousal"]
    for v, a in ((v0, (a0 + a1) / 2), (v1, (a0 + a1) / 2), ((v0 + v1) / 2, a0), ((v0 + v1) / 2, a1)):  # the edges
        x, y = (round(c) for c in GEOMETRY.to_pixel(v, a))
        assert tuple(boxed[y, x]) == figures.DATA_RANGE_RGB and tuple(bare[y, x]) != figures.DATA_RANGE_RGB
    assert all(not (v0 <= v <= v1 and a0 <= a <= a1) for v, a in PRESETS.values())


def test_waveform_spectrogram_spans_the_clip():
    sr = 24_000
    audio = np.sin(2 * np.pi * 1000 * np.arange(3 * sr) / sr).astype(np.float32)
    fig = figures.waveform_spectrogram(audio, sr)
    heat = next(t for t in fig.data if t.type == "heatmap")
    freqs = np.asarray(heat.y)
    assert freqs.max() <= 8000 and len(freqs) <= 100
    peak_hz = freqs[np.argmax(np.asarray(heat.z).mean(axis=1))]
    assert abs(peak_hz - 1000) < 150
    assert np.asarray(fig.data[0].x).max() == pytest.approx(3.0, abs=0.05)


def test_training_curves_plot_train_and_val():
    history = pd.DataFrame({"epoch": [1, 2], "train_total": [2.0, 1.0], "val_total": [2.5, 1.5], "train_mse": [1, 0.5]})
    names = {t.name for t in figures.training_curves(history).data}
    assert names == {"train_total", "val_total", "train_mse"}
