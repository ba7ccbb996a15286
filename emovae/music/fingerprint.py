"""Which engine made a sound: a hash of the source files that decide what the engine plays.

Anything cached from the engine's output (the demo dataset's songs, the calibration fitted on its
renders) is valid for one fingerprint and must be remade when it changes; a hand-bumped version
number is forgotten exactly when it matters (the issue-12 rebuild reused songs of the old engine).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The files whose code decides what a score and its audio are (midi.py: the SoundFont plays its keys
# and velocities). A new engine module that shapes the sound belongs here.
ENGINE_SOURCES = ("params.py", "compose.py", "harmony.py", "instruments.py", "render.py", "synth.py", "controls.py",
                  "soundfont.py", "mix.py", "midi.py")


def source_fingerprint(extra: tuple[Path, ...] = ()) -> str:
    """16 hex digits of SHA-256 over :data:`ENGINE_SOURCES` (and any ``extra`` files, in order)."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in [here / name for name in ENGINE_SOURCES] + list(extra):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
