"""Resolve paths typed by visitors without letting them out of the configured folders.

A hosted app is visited by strangers, so a dataset root or checkpoint typed into a textbox is
untrusted input. The rules, checked in this order:

* no NUL bytes and no ``..`` component at all (even one that would resolve back inside: such a
  path is never needed and is the usual sign of probing);
* a relative path is taken relative to each allowed root in turn;
* the path is resolved with symlinks followed, and the *real* location must lie inside the *real*
  location of an allowed root, so a symlink planted inside a root that points elsewhere is refused;
* for a folder that is about to be read recursively (a dataset root), every symlink under it must
  also stay inside the allowed roots (:func:`escaping_symlinks`).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Iterable, Mapping, Sequence

_public_names: dict[str, str] = {}  # absolute folder -> what visitors see instead (see public_text)


class UnsafePathError(ValueError):
    """A typed path points outside the folders this app is allowed to use."""


def _is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _describe(roots: Sequence[Path]) -> str:
    return ", ".join(public_text(str(r)) for r in roots)


def register_public_names(names: Mapping[Path, str]) -> None:
    """Name the configured folders for visitors: ``/srv/app/data/x.mp3`` is shown as ``data/x.mp3``.

    Process-wide on purpose: every message a visitor may read passes :func:`public_text`, including
    exceptions raised deep in the pipeline, which know nothing about the app.
    """
    for folder, name in names.items():
        for form in {str(Path(folder)), os.path.realpath(folder)}:
            _public_names[form.rstrip(os.sep)] = name


def public_text(text: str) -> str:
    """``text`` with each registered folder's absolute path replaced by its public name (longest first)."""
    for folder in sorted(_public_names, key=len, reverse=True):
        text = text.replace(folder, _public_names[folder])
    return text


def resolve_inside(text: str, roots: Sequence[Path], *, kind: str = "path", must_exist: bool = True) -> Path:
    """Return the real path ``text`` names, or raise :class:`UnsafePathError` / ``FileNotFoundError``.

    ``kind`` only words the error ("dataset root", "checkpoint").
    """
    raw = (text or "").strip()
    if not raw:
        raise UnsafePathError(f"the {kind} is empty; type a path inside {_describe(roots)}")
    if "\x00" in raw:
        raise UnsafePathError(f"the {kind} {raw!r} contains a NUL byte")
    if ".." in PurePath(raw).parts or ".." in raw.replace("\\", "/").split("/"):
        raise UnsafePathError(f"the {kind} {raw!r} contains '..'; parent-folder references are not allowed")
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    typed = Path(raw).expanduser()
    candidates = [typed] if typed.is_absolute() else [root / typed for root in real_roots]
    escaped = False
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if not any(_is_inside(real, root) for root in real_roots):
            escaped = True
            continue
        if must_exist and not real.exists():
            continue
        return real
    if escaped:
        how = "is outside" if typed.is_absolute() else "leads (through a symlink) outside"
        raise UnsafePathError(f"the {kind} {raw!r} {how} the allowed folders ({_describe(roots)})")
    raise FileNotFoundError(f"the {kind} {raw!r} does not exist inside {_describe(roots)}")


def escaping_symlinks(folder: Path, roots: Iterable[Path], limit: int = 10) -> list[Path]:
    """Symlinks under ``folder`` whose targets leave every allowed root (at most ``limit`` reported)."""
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if entry.is_symlink():
                target = Path(os.path.realpath(entry))
                if not any(_is_inside(target, r) for r in real_roots):
                    found.append(entry)
                    if len(found) >= limit:
                        return found
    return found


def resolve_dataset_root(text: str, roots: Sequence[Path]) -> Path:
    """A typed dataset root: an existing folder inside ``roots`` with no symlink leading out of them."""
    folder = resolve_inside(text, roots, kind="dataset root")
    if not folder.is_dir():
        raise UnsafePathError(f"the dataset root {text!r} is not a folder")
    leaks = escaping_symlinks(folder, roots)
    if leaks:
        raise UnsafePathError(
            f"the dataset root {text!r} holds symlinks pointing outside the allowed folders "
            f"(e.g. {leaks[0].relative_to(folder)}); copy the files in instead"
        )
    return folder


def resolve_checkpoint(text: str, roots: Sequence[Path]) -> Path:
    """A typed checkpoint: an existing ``.pt`` file inside ``roots``."""
    path = resolve_inside(text, roots, kind="checkpoint")
    if not path.is_file() or path.suffix != ".pt":
        raise UnsafePathError(f"the checkpoint {text!r} is not a .pt file")
    return path
