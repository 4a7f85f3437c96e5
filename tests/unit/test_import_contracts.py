"""The layers in ARCHITECTURE.md are the layers in the imports: ``lint-imports`` checks the
contracts in pyproject.toml ([tool.importlinter])."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    # Run from the repository root (lint-imports reads its pyproject.toml there) with the root
    # first on the path, so the hoard analysed is this one, not another checkout an editable
    # install points at.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [command, "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout, result.stdout
