"""The layering promised in docs/architecture.md, checked on every run: the import
contracts in setup.cfg (import-linter) and the type check of the whole tree (mypy
with the project's configuration)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.skip(f"{name} is in the test extra: pip install -e '.[test]'")
    return path


def test_import_contracts_hold() -> None:
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_the_library_does_not_import_http_at_runtime() -> None:
    # The contracts read the source; this checks what actually gets loaded.
    code = ("import sys, nomadjobs; c = nomadjobs.Cluster(); c.register({'ID': 'j', 'Datacenters': ['dc1'], "
            "'TaskGroups': [{'Name': 'g', 'Tasks': [{'Name': 't', 'Driver': 'exec', 'Config': {'command': '/bin/true'}, "
            "'Resources': {'CPU': 100, 'MemoryMB': 64}}]}]}); c.advance(1); c.dump(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('shim', 'falcon', 'gunicorn', 'granian', 'wsgiref', 'socketserver')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_tree_type_checks(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
