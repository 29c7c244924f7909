"""The code is formatted and lint-clean under the project's ruff settings (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.skipif(not RUFF.exists(), reason=f"ruff is not installed beside {sys.executable} (requirements.txt)")
@pytest.mark.parametrize("command", [["format", "--check"], ["check"]], ids=["format", "lint"])
def test_ruff_is_clean(command):
    run = subprocess.run([str(RUFF), *command, "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"ruff {' '.join(command)} found problems:\n{run.stdout}{run.stderr}"
