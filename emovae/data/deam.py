"""Find and read a DEAM dataset root: audio paths, static and dynamic annotations.

DEAM ships its files in a deep folder tree, but people often copy them into one flat folder, so
:func:`locate_deam` accepts either and says exactly where it looked when a file is missing.

The annotation CSVs are parsed with the ``csv`` module rather than ``pandas.read_csv`` because a
bad row must be reported by *line number and field* and then skipped, not abort the whole load;
a file is only rejected (:class:`DeamFormatError`) when it is unusable as a whole (unreadable,
empty, or missing a required column). Every value leaves this module on the one [0, 1] scale of
:mod:`emovae.emotion`.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from emovae.emotion import dynamic_to_unit, static_to_unit

AUDIO_DIR = Path("MEMD_audio")
SONG_LEVEL_DIR = Path("annotations") / "annotations averaged per song" / "song_level"
DYNAMIC_DIR = Path("annotations") / "annotations averaged per song" / "dynamic (per second annotations)"
STATIC_FILES = (
    SONG_LEVEL_DIR / "static_annotations_averaged_songs_1_2000.csv",
    SONG_LEVEL_DIR / "static_annotations_averaged_songs_2000_2058.csv",
)
AROUSAL_FILE = DYNAMIC_DIR / "arousal.csv"
VALENCE_FILE = DYNAMIC_DIR / "valence.csv"

STATIC_RANGE = (1.0, 9.0)
DYNAMIC_RANGE = (-1.0, 1.0)
STATIC_COLUMNS = ["song_id", "valence", "arousal", "valence_std", "arousal_std"]
DYNAMIC_COLUMNS = ["song_id", "time_s", "valence", "arousal"]
_SAMPLE_COLUMN = re.compile(r"^sample_(\d+)ms$")
_MISSING_VALUES = {"", "nan", "na", "n/a", "null", "none"}


class DeamNotFoundError(FileNotFoundError):
    """The given root holds no usable DEAM annotations (the message lists every path tried)."""


class DeamFormatError(ValueError):
    """An annotation file is unusable as a whole (unreadable, empty, or missing required columns)."""


@dataclass(frozen=True)
class LoadIssue:
    """One skipped row of an annotation file, kept so the run can report it instead of crashing."""

    file: str
    line: int
    field: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}, field {self.field!r} = {self.value!r}: {self.problem}; row skipped"


@dataclass(frozen=True)
class DeamPaths:
    """Where each DEAM file of one root was found (``None`` for optional files that are absent)."""

    root: Path
    audio_dir: Path
    static_files: tuple[Path, ...]
    arousal_file: Path | None
    valence_file: Path | None


@dataclass
class DeamDataset:
    """The annotations of one DEAM root on the [0, 1] scale, plus the rows that had to be skipped.

    ``static``: one row per song, :data:`STATIC_COLUMNS`. ``dynamic``: tidy, one row per song and
    annotated instant, :data:`DYNAMIC_COLUMNS` (either value may be NaN where only one was rated).
    """

    paths: DeamPaths
    static: pd.DataFrame
    dynamic: pd.DataFrame
    issues: list[LoadIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # whole-file problems that change every label

    def audio_path(self, song_id: int) -> Path:
        """The MP3 of ``song_id`` (it may not exist; loading reports that)."""
        return audio_path(self.paths.audio_dir, song_id)

    def audio_song_ids(self) -> set[int]:
        """Songs whose audio file is present (``<id>.mp3`` with an integer stem)."""
        return {int(p.stem) for p in self.paths.audio_dir.glob("*.mp3") if p.stem.isdigit()}

    def annotated_song_ids(self) -> set[int]:
        """Songs with a static or a dynamic annotation."""
        return set(self.static["song_id"].astype(int)) | set(self.dynamic["song_id"].astype(int))

    def song_ids(self) -> list[int]:
        """Every song the dataset mentions (audio or annotations), sorted: the candidates to process."""
        return sorted(self.annotated_song_ids() | self.audio_song_ids())


def audio_path(audio_dir: str | Path, song_id: int) -> Path:
    """DEAM names each excerpt by its song id: ``MEMD_audio/<song_id>.mp3``."""
    return Path(audio_dir) / f"{int(song_id)}.mp3"


def locate_deam(root: str | Path) -> DeamPaths:
    """Find the DEAM files under ``root``, in the official nested layout or flat in ``root`` itself.

    At least one static annotation file is required (it is the fallback label of every chunk);
    the dynamic files are optional. The audio folder is ``MEMD_audio/`` if present, else ``root``.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DeamNotFoundError(
            f"DEAM root {base} is not a folder; pass the folder that holds MEMD_audio/ and annotations/"
        )
    tried: list[Path] = []

    def find(relative: Path) -> Path | None:
        for candidate in (base / relative, base / relative.name):
            tried.append(candidate)
            if candidate.is_file():
                return candidate
        return None

    static_files = tuple(p for p in (find(rel) for rel in STATIC_FILES) if p is not None)
    if not static_files:
        looked = "\n  ".join(str(p) for p in tried)
        raise DeamNotFoundError(
            f"no DEAM static annotation file under {base}; looked for:\n  {looked}\n"
            "Point --data at the DEAM root (official layout) or at a folder holding these file names."
        )
    audio_dir = base / AUDIO_DIR if (base / AUDIO_DIR).is_dir() else base
    return DeamPaths(base, audio_dir, static_files, find(AROUSAL_FILE), find(VALENCE_FILE))


def load_deam(root: str | Path) -> DeamDataset:
    """Locate and read every annotation file of a DEAM root; bad rows are skipped into ``issues``."""
    paths = locate_deam(root)
    issues: list[LoadIssue] = []
    static = read_static_annotations(paths.static_files, issues)
    dynamic = read_dynamic_annotations(paths.valence_file, paths.arousal_file, issues)
    return DeamDataset(paths, static, dynamic, issues, _dynamic_file_warnings(paths, dynamic))


def _dynamic_file_warnings(paths: DeamPaths, dynamic: pd.DataFrame) -> list[str]:
    """A dynamic label needs both files: with one missing, every chunk silently got the static label."""
    present = {"valence": paths.valence_file, "arousal": paths.arousal_file}
    missing = [name for name, path in present.items() if path is None]
    if len(missing) != 1:
        return []  # both present, or a dataset with static labels only (which DEAM allows)
    gone, other = missing[0], next(name for name in present if name not in missing)
    songs = int(dynamic.loc[dynamic[other].notna(), "song_id"].nunique())
    expected = paths.root / (AROUSAL_FILE if gone == "arousal" else VALENCE_FILE)
    return [f"{gone}.csv not found (looked for {expected}) beside {present[other]}: the per-second ratings of "
            f"{songs} song(s) cannot be used, so all their chunks get the song's static label instead; add "
            f"{gone}.csv and re-run to label chunks from the dynamic ratings"]


def normalise_column(name: str) -> str:
    """``' valence_ max_mean'`` -> ``'valence_max_mean'``: DEAM headers carry stray spaces."""
    return re.sub(r"\s+", "", name).lower()


def read_static_annotations(files: tuple[Path, ...] | list[Path], issues: list[LoadIssue]) -> pd.DataFrame:
    """Read the song-level files (1..9 scale) into :data:`STATIC_COLUMNS` on [0, 1].

    A song listed twice (within or across files) keeps its first row; later ones are reported.
    """
    rows: list[dict[str, float]] = []
    first_seen: dict[int, str] = {}
    for path in files:
        header, records = _read_table(path)
        required = ["song_id", "valence_mean", "arousal_mean"]
        _require_columns(path, header, required)
        column = {name: header.index(name) for name in header}
        for line, cells in records:
            values = _parse_cells(path, line, header, cells, required, STATIC_RANGE, issues)
            if values is None:
                continue
            song_id = int(values["song_id"])
            if song_id in first_seen:
                issues.append(
                    LoadIssue(
                        path.name, line, "song_id", str(song_id), f"duplicate song id (first in {first_seen[song_id]})"
                    )
                )
                continue
            first_seen[song_id] = f"{path.name}, line {line}"
            rows.append(
                {
                    "song_id": song_id,
                    "valence": static_to_unit(values["valence_mean"]),
                    "arousal": static_to_unit(values["arousal_mean"]),
                    "valence_std": _optional_float(cells, column.get("valence_std")) / 8.0,
                    "arousal_std": _optional_float(cells, column.get("arousal_std")) / 8.0,
                }
            )
    table = pd.DataFrame(rows, columns=STATIC_COLUMNS)
    return table.astype({"song_id": int}).sort_values("song_id", ignore_index=True)


def read_dynamic_annotations(
    valence_file: Path | None, arousal_file: Path | None, issues: list[LoadIssue]
) -> pd.DataFrame:
    """Read ``valence.csv``/``arousal.csv`` ([-1, 1], one column per 500 ms) into tidy rows on [0, 1].

    NaN padding (songs shorter than the widest row) is dropped; an instant rated on only one of
    the two dimensions keeps NaN for the other, so the label code can decide what to do with it.
    """
    parts = []
    for name, path in (("valence", valence_file), ("arousal", arousal_file)):
        if path is None:
            parts.append(pd.DataFrame(columns=["song_id", "time_s", name]))
        else:
            parts.append(_read_dynamic_file(path, name, issues))
    tidy = parts[0].merge(parts[1], on=["song_id", "time_s"], how="outer")
    tidy = tidy.dropna(subset=["valence", "arousal"], how="all")
    tidy = tidy.astype({"song_id": int, "time_s": float, "valence": float, "arousal": float})
    return tidy[DYNAMIC_COLUMNS].sort_values(["song_id", "time_s"], ignore_index=True)


def _read_dynamic_file(path: Path, dimension: str, issues: list[LoadIssue]) -> pd.DataFrame:
    header, records = _read_table(path)
    if not header or header[0] != "song_id":
        raise DeamFormatError(
            f"{path}: the first column must be song_id (found {header[:3]}); is this a DEAM dynamic file?"
        )
    sample_columns = header[1:]
    times = []
    for name in sample_columns:
        match = _SAMPLE_COLUMN.match(name)
        if match is None:
            raise DeamFormatError(
                f"{path}: column {name!r} is not of the form sample_<milliseconds>ms; is this a DEAM dynamic file?"
            )
        times.append(int(match.group(1)) / 1000.0)
    song_ids: list[int] = []
    series: list[np.ndarray] = []
    seen: dict[int, int] = {}
    for line, cells in records:
        row = _fast_dynamic_row(cells, len(header))
        if row is None:  # something is wrong: re-parse cell by cell to name the field
            values = _parse_cells(path, line, header, cells, header, DYNAMIC_RANGE, issues, padded=True)
            if values is None:
                continue
            row = np.array([values[name] for name in header], dtype=float)
        song_id = int(row[0])
        if song_id in seen:
            issues.append(
                LoadIssue(
                    path.name, line, "song_id", str(song_id), f"duplicate song id (first on line {seen[song_id]})"
                )
            )
            continue
        seen[song_id] = line
        song_ids.append(song_id)
        series.append(row[1:])
    if not series:
        return pd.DataFrame(columns=["song_id", "time_s", dimension])
    matrix = dynamic_to_unit(np.vstack(series))
    tidy = pd.DataFrame(
        {
            "song_id": np.repeat(song_ids, len(times)),
            "time_s": np.tile(times, len(song_ids)),
            dimension: matrix.ravel(),
        }
    )
    return tidy.dropna(subset=[dimension])


def _fast_dynamic_row(cells: list[str], width: int) -> np.ndarray | None:
    """Vectorised parse of a well-formed dynamic row (the common case); ``None`` means "check slowly"."""
    if len(cells) > width:
        return None
    padded = [cell if cell.strip() else "nan" for cell in cells] + ["nan"] * (width - len(cells))
    try:
        row = np.array(padded, dtype=float)
    except ValueError:
        return None
    song_id, samples = row[0], row[1:]
    finite = samples[~np.isnan(samples)]
    valid_id = math.isfinite(song_id) and song_id.is_integer() and song_id >= 1
    in_range = bool(np.all((finite >= DYNAMIC_RANGE[0]) & (finite <= DYNAMIC_RANGE[1])))
    return row if valid_id and in_range else None


def _read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Header (normalised) and an iterator of ``(line_number, cells)`` for the non-blank data rows."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise DeamFormatError(f"{path}: cannot read annotation file ({exc})") from None
    reader = csv.reader(lines)
    try:
        header = [normalise_column(name) for name in next(reader)]
    except StopIteration:
        raise DeamFormatError(
            f"{path}: annotation file is empty; expected a header row starting with song_id"
        ) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield reader.line_num, cells

    return header, rows()


def _require_columns(path: Path, header: list[str], required: list[str]) -> None:
    missing = [name for name in required if name not in header]
    if missing:
        raise DeamFormatError(f"{path}: missing column(s) {missing}; found {header}. Is this the right DEAM file?")


def _parse_cells(
    path: Path,
    line: int,
    header: list[str],
    cells: list[str],
    fields: list[str],
    value_range: tuple[float, float],
    issues: list[LoadIssue],
    padded: bool = False,
) -> dict[str, float] | None:
    """Parse ``fields`` of one row; on the first problem record a :class:`LoadIssue` and return ``None``.

    ``padded`` rows may be shorter than the header and hold missing values (DEAM pads songs shorter
    than the widest row); otherwise every field is required. ``song_id`` is always required.
    """
    if len(cells) > len(header):
        extra = ",".join(cells[len(header) :])[:40]
        issues.append(
            LoadIssue(path.name, line, "(row)", extra, f"{len(cells)} fields but the header has {len(header)}")
        )
        return None
    position = {name: index for index, name in enumerate(header)}
    values: dict[str, float] = {}
    for name in fields:
        index = position[name]
        raw = cells[index] if index < len(cells) else ""
        text = raw.strip()
        if text.lower() in _MISSING_VALUES:
            if padded and name != "song_id":
                values[name] = math.nan
                continue
            issues.append(LoadIssue(path.name, line, name, raw, "value is missing"))
            return None
        try:
            number = float(text)
        except ValueError:
            issues.append(LoadIssue(path.name, line, name, raw, "not a number"))
            return None
        if name == "song_id":
            if not number.is_integer() or number < 1:
                issues.append(LoadIssue(path.name, line, name, raw, "song id must be a positive integer"))
                return None
        elif not value_range[0] <= number <= value_range[1]:
            low, high = value_range
            issues.append(LoadIssue(path.name, line, name, raw, f"outside the valid range [{low:g}, {high:g}]"))
            return None
        values[name] = number
    return values


def _optional_float(cells: list[str], index: int | None) -> float:
    """A descriptive column (std) that nothing depends on: NaN when absent or unparsable."""
    if index is None or index >= len(cells):
        return math.nan
    try:
        return float(cells[index])
    except ValueError:
        return math.nan
