"""hadolint finds nothing in the Dockerfile, and the image runs as a numeric non-root user."""

import re
import subprocess

import pytest

from tests.integration.deploy.conftest import ROOT, tool

pytestmark = pytest.mark.integration


def test_hadolint_is_clean() -> None:
    """Every hadolint rule (warnings included) passes on the Dockerfile."""
    done = subprocess.run([tool("hadolint"), "--failure-threshold", "style", "Dockerfile"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_user_is_numeric_and_not_root() -> None:
    """Kubernetes' runAsNonRoot can only verify a numeric USER."""
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert users
    assert users[-1].isdigit()
    assert int(users[-1]) != 0
