"""Chunk labels: dynamic window means, static fallback, NaN handling, window boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emovae.data.labels import (
    AnnotationIndex,
    LabelPolicy,
    MissingAnnotationError,
    SongAnnotations,
    chunk_windows,
    label_chunks,
    label_window,
    offset_summary,
    static_dynamic_offsets,
)


def _song(static=(0.2, 0.8), times=(), valence=(), arousal=()) -> SongAnnotations:
    return SongAnnotations(7, static, np.asarray(times, float), np.asarray(valence, float), np.asarray(arousal, float))


def test_windows_are_exact_non_overlapping_and_drop_the_short_tail():
    assert chunk_windows(45.0, 5) == [(5.0 * i, 5.0 * (i + 1)) for i in range(9)]
    assert chunk_windows(44.99, 5)[-1] == (35.0, 40.0)
    assert chunk_windows(29.0, 10) == [(0.0, 10.0), (10.0, 20.0)]
    assert chunk_windows(4.0, 5) == []


def test_window_with_dynamic_data_gets_its_mean_and_source_dynamic():
    song = _song(times=[15.0, 15.5, 16.0], valence=[0.2, 0.4, 0.9], arousal=[0.1, 0.3, 0.5])
    label = label_window(song, 15.0, 16.0)  # 16.0 belongs to the next window: [start, end)
    assert label.label_source == "dynamic"
    assert label.valence == pytest.approx(0.3) and label.arousal == pytest.approx(0.2)
    assert (label.start_s, label.end_s) == (15.0, 16.0)


def test_window_before_the_dynamic_data_falls_back_to_the_static_label():
    song = _song(static=(0.25, 0.75), times=[15.0, 15.5], valence=[0.9, 0.9], arousal=[0.9, 0.9])
    labels = label_chunks(song, chunk_windows(20.0, 5))
    assert [label.label_source for label in labels] == ["static", "static", "static", "dynamic"]
    assert (labels[0].valence, labels[0].arousal) == (0.25, 0.75)
    assert labels[3].valence == pytest.approx(0.9)


def test_nan_ratings_are_ignored_inside_a_window():
    song = _song(times=[0.0, 0.5, 1.0], valence=[0.2, np.nan, 0.6], arousal=[np.nan, 0.4, np.nan])
    label = label_window(song, 0.0, 5.0)
    assert label.label_source == "dynamic"
    assert label.valence == pytest.approx(0.4) and label.arousal == pytest.approx(0.4)


def test_window_with_one_dimension_all_nan_uses_the_static_label_for_both():
    song = _song(static=(0.1, 0.2), times=[0.0, 0.5], valence=[0.7, 0.8], arousal=[np.nan, np.nan])
    label = label_window(song, 0.0, 5.0)
    assert (label.label_source, label.valence, label.arousal) == ("static", 0.1, 0.2)


def test_dynamic_only_song_leaves_unrated_windows_unlabelled_and_unannotated_song_raises():
    dynamic_only = _song(static=None, times=[5.0], valence=[0.5], arousal=[0.5])
    assert label_chunks(dynamic_only, [(0.0, 5.0), (5.0, 10.0)])[0] is None
    assert label_chunks(dynamic_only, [(0.0, 5.0), (5.0, 10.0)])[1].label_source == "dynamic"
    with pytest.raises(MissingAnnotationError, match="song 7"):
        label_chunks(_song(static=None), [(0.0, 5.0)])


def test_annotation_index_groups_tables_per_song():
    static = pd.DataFrame({"song_id": [1, 2], "valence": [0.1, 0.2], "arousal": [0.3, 0.4]})
    dynamic = pd.DataFrame(
        {"song_id": [2, 2, 3], "time_s": [15.0, 15.5, 15.0], "valence": [0.5, 0.7, 0.9], "arousal": [0.6, 0.8, 0.9]}
    )
    index = AnnotationIndex(static, dynamic)
    one, two, three, four = (index.song(i) for i in (1, 2, 3, 4))
    assert one.static == (0.1, 0.3) and not one.has_dynamic
    assert two.has_dynamic and label_window(two, 15.0, 20.0).valence == pytest.approx(0.6)
    assert three.static is None and three.has_any
    assert not four.has_any


def test_label_shift_reads_the_ratings_that_lag_behind_the_window():
    times = np.arange(15.0, 30.0, 0.5)
    song = _song(times=times, valence=np.where(times < 20.0, 0.2, 0.8), arousal=np.full(times.size, 0.5))
    assert label_window(song, 15.0, 20.0).valence == pytest.approx(0.2)  # default: no shift, as before
    shifted = label_window(song, 15.0, 20.0, LabelPolicy(shift_s=3.0))  # ratings at [18, 23)
    assert shifted.valence == pytest.approx((4 * 0.2 + 6 * 0.8) / 10)
    assert (shifted.start_s, shifted.end_s) == (15.0, 20.0)  # the chunk itself does not move
    assert label_window(song, 25.0, 30.0, LabelPolicy(shift_s=3.0)).valence == pytest.approx(0.8)  # [28, 30) only


def test_offsets_between_the_two_instruments_and_the_calibrated_fallback():
    index = AnnotationIndex(
        pd.DataFrame({"song_id": [1, 2, 3], "valence": [0.5, 0.4, 0.9], "arousal": [0.5, 0.2, 0.9]}),
        pd.DataFrame({"song_id": [1, 1, 2], "time_s": [15.0, 15.5, 15.0], "valence": [0.6, 0.8, 0.6],
                      "arousal": [0.4, 0.4, 0.1]}),
    )
    offsets = static_dynamic_offsets(index, [1, 2, 3])  # song 3 has no dynamic ratings: not measured
    assert offsets["song_id"].tolist() == [1, 2]
    np.testing.assert_allclose(offsets[["valence", "arousal"]], [[0.2, -0.1], [0.2, -0.1]])
    summary = offset_summary(offsets)
    assert summary["songs"] == 2 and summary["valence"]["mean"] == pytest.approx(0.2)
    assert summary["arousal"]["std"] == pytest.approx(0.0, abs=1e-12)
    policy = LabelPolicy(static_offset=(summary["valence"]["mean"], summary["arousal"]["mean"]))
    calibrated = label_window(index.song(3), 0.0, 5.0, policy)
    assert calibrated.label_source == "static"
    assert (calibrated.valence, calibrated.arousal) == pytest.approx((1.0, 0.8))  # 0.9 + 0.2 is clipped to 1
    assert label_window(index.song(3), 0.0, 5.0).valence == 0.9  # the default keeps the raw static rating
