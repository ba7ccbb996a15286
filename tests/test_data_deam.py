"""DEAM loader: genuine static files, dynamic files, both layouts, and malformed rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from emovae.data import deam
from emovae.data.deam import DeamFormatError, DeamNotFoundError, load_deam, locate_deam

GENUINE = Path(__file__).resolve().parents[2] / "shared" / "deam-annotations"
STATIC_HEADER = "song_id, valence_mean, valence_std, arousal_mean, arousal_std"


def _genuine_root(tmp_path: Path, nested: bool) -> Path:
    if not GENUINE.is_dir():
        pytest.skip(f"genuine DEAM annotation files not found at {GENUINE}")
    root = tmp_path / "deam"
    for relative in deam.STATIC_FILES:
        target = root / relative if nested else root / relative.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GENUINE / relative.name, target)
    return root


def _write(root: Path, relative: Path, lines: list[str], newline: str = "\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join(lines) + newline)
    return path


@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_genuine_static_files_load_every_song_on_the_unit_scale(tmp_path, nested):
    dataset = load_deam(_genuine_root(tmp_path, nested))
    static = dataset.static
    assert dataset.issues == []
    assert len(static) == 1744 + 58 and static["song_id"].is_unique
    assert (static["song_id"] <= 2000).sum() == 1744 and (static["song_id"] > 2000).sum() == 58
    assert list(static.columns) == deam.STATIC_COLUMNS
    for column in ("valence", "arousal"):
        assert static[column].between(0.0, 1.0).all()
        assert static[column].std() > 0.1  # a real spread, not a constant default
    # first data rows of each file, converted with (x - 1) / 8
    song2 = static.set_index("song_id").loc[2]
    assert song2["valence"] == pytest.approx((3.1 - 1) / 8) and song2["arousal"] == pytest.approx((3 - 1) / 8)
    song2001 = static.set_index("song_id").loc[2001]
    assert song2001["valence"] == pytest.approx((3.2 - 1) / 8) and song2001["arousal"] == pytest.approx((6.6 - 1) / 8)
    assert dataset.dynamic.empty


def test_column_names_lose_stray_spaces():
    assert deam.normalise_column(" valence_ max_mean") == "valence_max_mean"
    assert deam.normalise_column(" Arousal_Mean ") == "arousal_mean"


def test_nested_and_flat_layouts_are_located_the_same(tmp_path):
    nested = locate_deam(_genuine_root(tmp_path / "a", nested=True))
    flat = locate_deam(_genuine_root(tmp_path / "b", nested=False))
    assert [p.name for p in nested.static_files] == [p.name for p in flat.static_files]
    assert "song_level" in str(nested.static_files[0]) and flat.static_files[0].parent == flat.root
    (nested.root / "MEMD_audio").mkdir()
    assert locate_deam(nested.root).audio_dir == nested.root / "MEMD_audio"
    assert flat.audio_dir == flat.root  # flat: the MP3s sit beside the CSVs
    assert deam.audio_path(nested.root / "MEMD_audio", 7) == nested.root / "MEMD_audio" / "7.mp3"


def test_missing_static_files_error_lists_where_it_looked(tmp_path):
    with pytest.raises(DeamNotFoundError) as error:
        locate_deam(tmp_path)
    message = str(error.value)
    assert "static_annotations_averaged_songs_1_2000.csv" in message and "song_level" in message
    assert str(tmp_path / "static_annotations_averaged_songs_2000_2058.csv") in message
    with pytest.raises(DeamNotFoundError, match="not a folder"):
        locate_deam(tmp_path / "nowhere")


def test_dynamic_files_become_tidy_rows_on_the_unit_scale(tmp_path):
    header = "song_id,sample_15000ms,sample_15500ms,sample_16000ms"
    _write(tmp_path, deam.STATIC_FILES[0], [STATIC_HEADER, "1,5,1,5,1", "2,3,1,7,1"])
    # song 2 is shorter: NaN-padded with an empty cell and a literal NaN; CRLF as in the real files
    _write(tmp_path, deam.VALENCE_FILE, [header, "1,-1,0,1", "2,0.5,,NaN"], newline="\r\n")
    _write(tmp_path, deam.AROUSAL_FILE, [header, "1,1,0,-1", "2,-0.5,0"], newline="\r\n")
    dataset = load_deam(tmp_path)
    assert dataset.issues == []
    dynamic = dataset.dynamic
    assert list(dynamic.columns) == deam.DYNAMIC_COLUMNS
    song1 = dynamic[dynamic.song_id == 1]
    np.testing.assert_allclose(song1["time_s"], [15.0, 15.5, 16.0])
    np.testing.assert_allclose(song1["valence"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(song1["arousal"], [1.0, 0.5, 0.0])
    song2 = dynamic[dynamic.song_id == 2]
    # 15.0 has both; 15.5 only arousal (valence NaN kept); 16.0 neither -> dropped as padding
    np.testing.assert_allclose(song2["time_s"], [15.0, 15.5])
    np.testing.assert_allclose(song2["arousal"], [0.25, 0.5])
    assert song2["valence"].iloc[0] == pytest.approx(0.75) and np.isnan(song2["valence"].iloc[1])
    assert dataset.annotated_song_ids() == {1, 2}


def test_malformed_rows_are_skipped_and_reported_with_file_line_and_field(tmp_path):
    _write(
        tmp_path,
        deam.STATIC_FILES[0],
        [
            STATIC_HEADER,
            "1,5,1,5,1",
            "2,five,1,5,1",  # line 3: non-numeric
            "3,5,1,9.5,1",  # line 4: out of range
            "1,4,1,4,1",  # line 5: duplicate id
            "4,5,1,5,1,99",  # line 6: extra field
            "",  # blank lines are not rows
            "5,2,1,2,1",
        ],
    )
    header = "song_id,sample_15000ms,sample_15500ms"
    _write(tmp_path, deam.VALENCE_FILE, [header, "1,0.1,0.2", "5,1.7,0.2", "x,0,0"])
    _write(tmp_path, deam.AROUSAL_FILE, [header, "1,0.1,0.2", "5,0.1,0.2"])
    dataset = load_deam(tmp_path)

    assert sorted(dataset.static["song_id"]) == [1, 5]
    assert dataset.static.set_index("song_id").loc[1, "valence"] == pytest.approx(0.5)  # first row of id 1 kept
    found = {(issue.file, issue.line, issue.field) for issue in dataset.issues}
    static_name = deam.STATIC_FILES[0].name
    assert found == {
        (static_name, 3, "valence_mean"),
        (static_name, 4, "arousal_mean"),
        (static_name, 5, "song_id"),
        (static_name, 6, "(row)"),
        ("valence.csv", 3, "sample_15000ms"),
        ("valence.csv", 4, "song_id"),
    }
    text = {issue.line: str(issue) for issue in dataset.issues if issue.file == static_name}
    assert "'five'" in text[3] and "not a number" in text[3]
    assert "outside the valid range [1, 9]" in text[4]
    assert "duplicate" in text[5] and "line 2" in text[5]
    # song 5's valence row was dropped, so its instants carry arousal only
    song5 = dataset.dynamic[dataset.dynamic.song_id == 5]
    assert song5["valence"].isna().all() and song5["arousal"].notna().all()


def test_a_file_without_required_columns_is_rejected_by_name(tmp_path):
    path = _write(tmp_path, deam.STATIC_FILES[0], ["id,valence,arousal", "1,5,5"])
    with pytest.raises(DeamFormatError) as error:
        load_deam(tmp_path)
    assert str(path) in str(error.value) and "song_id" in str(error.value)


def test_dynamic_header_that_is_not_sample_columns_is_rejected(tmp_path):
    _write(tmp_path, deam.STATIC_FILES[0], [STATIC_HEADER, "1,5,1,5,1"])
    _write(tmp_path, deam.AROUSAL_FILE, ["song_id,t15", "1,0.1"])
    with pytest.raises(DeamFormatError, match="arousal.csv.*'t15'"):
        load_deam(tmp_path)


def test_the_documented_deam_label_range_is_that_of_the_genuine_files(tmp_path):
    from emovae.emotion import DEAM_STATIC_RANGE

    static = deam.load_deam(_genuine_root(tmp_path, nested=False)).static
    for dimension, (low, high) in DEAM_STATIC_RANGE.items():
        assert np.percentile(static[dimension], [5, 95]) == pytest.approx([low, high], abs=0.005)
