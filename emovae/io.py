"""Atomic file writes: an interrupted stage never leaves a half-written artefact behind.

Every writer goes through :func:`atomic_path`, which writes to a temporary sibling and renames it
into place (``os.replace`` is atomic on one file system). Readers therefore see either the old
file or the complete new one, which is what makes the long stages safely resumable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix + ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the artefact the mode a plain open() would
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; done once at import, before any worker thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (indented, so the artefacts stay readable)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read JSON with an error that names the file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it and re-run the stage that writes it") from None


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a table as CSV atomically, without the pandas index."""
    with atomic_path(path, suffix=".csv.tmp") as tmp:
        table.to_csv(tmp, index=False)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save a ``.npy`` atomically (``np.save`` would append ``.npy`` to a temp name, so use a handle)."""
    with atomic_path(path, suffix=".npy.tmp") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array)


def file_identity(path: str | os.PathLike, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Size, mtime_ns and SHA-256 of a file: what a later run compares to tell "the same file" from "another".

    When ``known`` (an earlier identity) has the same size and mtime, its digest is taken as is: the file
    was not rewritten, and a multi-GB latent table is not read again. Otherwise the file is hashed in 1 MiB blocks.
    """
    stat = Path(path).stat()
    identity = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if known and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns and known.get("sha256"):
        return {**identity, "sha256": known["sha256"]}
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {**identity, "sha256": digest.hexdigest()}


def same_file(identity: dict[str, Any], earlier: dict[str, Any] | None) -> bool:
    """Whether two :func:`file_identity` results describe the same content (a copy with a new mtime is the same)."""
    return bool(earlier) and identity["size"] == earlier.get("size") and identity["sha256"] == earlier.get("sha256")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
