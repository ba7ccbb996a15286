"""Benchmarks are run by hand as plain scripts (``python benchmarks/<name>.py``): each must find the package itself.

Python puts the script's folder, not the working directory, on ``sys.path``, so a benchmark that imports
``emovae`` before inserting the repository root fails with ModuleNotFoundError (bench_music.py did).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def _first_emovae_import_and_path_insert(path: Path) -> tuple[int | None, int | None]:
    tree = ast.parse(path.read_text(), filename=str(path))
    first_import = insert = None
    for node in tree.body:  # module level, in order
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        if first_import is None and any(n == "emovae" or n.startswith("emovae.") for n in names):
            first_import = node.lineno
        text = ast.unparse(node)
        if insert is None and text.startswith("sys.path.insert(0"):
            insert = node.lineno
    return first_import, insert


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_each_benchmark_puts_the_repository_on_sys_path_before_importing_emovae(script):
    first_import, insert = _first_emovae_import_and_path_insert(script)
    if first_import is not None:
        assert insert is not None and insert < first_import, f"{script.name} imports emovae before sys.path.insert(0, <repo>)"


def test_the_check_catches_a_script_that_imports_first(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nfrom emovae.music import compose\nsys.path.insert(0, '..')\n")
    first_import, insert = _first_emovae_import_and_path_insert(bad)
    assert first_import == 2 and insert == 3
