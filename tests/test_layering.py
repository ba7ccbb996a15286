"""Data flows one way: data -> codec -> model/train -> generate -> app. No stage imports a later one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Rank of each sub-package; base layers (rank 0) may be used by anyone and use no stage.
RANK = {"music": 0, "analysis": 0, "data": 1, "codec": 2, "model": 3, "eval": 3, "train": 3, "generate": 4, "workflow": 5, "app": 5}
BASE_MODULES = {"checks", "emotion", "formats", "io", "audio", "device", "distributed", "progress"}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "emovae":
        return None
    if len(parts) == 1 or parts[1] in BASE_MODULES or parts[1] == "__init__":
        return 0 if len(parts) > 1 else None
    return RANK.get(parts[1])


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_imports_a_later_stage():
    violations = []
    for path in sorted((ROOT / "emovae").rglob("*.py")):
        own = _layer("emovae." + ".".join(path.relative_to(ROOT / "emovae").with_suffix("").parts))
        if own is None:
            continue
        for name in _imports(path):
            other = _layer(name)
            # "from emovae import x": judge by the sub-module actually imported.
            if other is not None and other > own:
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not violations, "later-stage imports:\n" + "\n".join(violations)


def test_layering_check_catches_a_violation(tmp_path):
    offender = tmp_path / "bad.py"
    offender.write_text("from emovae.generate import sampler\nimport emovae.data.deam\n")
    names = _imports(offender)
    assert _layer("emovae.generate.sampler") == 4 and "emovae.generate.sampler" in names
    assert _layer("emovae.audio") == 0 and _layer("emovae.data.deam") == 1
