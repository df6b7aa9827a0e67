"""The code stays formatted, linted and typed: ruff and mypy run as part of every test run.

``make lint`` runs the same commands; here they fail the build instead of
relying on someone to run them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "format", "--check", "."], id="ruff-format"),
        pytest.param(["ruff", "check", "."], id="ruff-check"),
        pytest.param(["mypy"], id="mypy"),
    ],
)
def test_tool_reports_nothing(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
