"""Finds the operations tools (.cache/bin first, then PATH); a missing tool fails, never skips."""

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def tool(name: str) -> str:
    """The path of an installed tool, or a failure naming the script that installs it."""
    for candidate in (ROOT / ".cache/bin" / name, Path(sys.executable).parent / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run .ci/tools.sh (CI runs it from .ci/run)")
    return found
