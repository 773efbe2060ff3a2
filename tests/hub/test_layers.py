"""The layers contract and the acyclic import graph (docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cycles_module():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / ".ci" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    groups = _cycles_module()._strongly_connected(
        {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    )
    assert [group for group in groups if len(group) > 1] == [{"a", "b", "c"}]


def test_the_tree_has_no_import_cycle_and_keeps_its_layers():
    cycles = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, str(ROOT / ".ci" / "import_cycles.py")], capture_output=True, text=True, cwd=ROOT
    )
    assert cycles.returncode == 0, cycles.stdout
    layers = subprocess.run(  # noqa: S603 - fixed argv
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert layers.returncode == 0 and "KEPT" in layers.stdout, layers.stdout
