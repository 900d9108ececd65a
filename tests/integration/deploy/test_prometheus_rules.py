"""promtool checks the alert rules and runs their unit tests (each alert fires and stays silent)."""

import subprocess

import pytest

from tests.integration.deploy.conftest import ROOT, tool

pytestmark = pytest.mark.integration

RULES = ROOT / "deploy/prometheus"


def test_promtool_checks_the_rules() -> None:
    """The rules parse and their expressions are valid PromQL."""
    done = subprocess.run([tool("promtool"), "check", "rules", "alerts.yml"], cwd=RULES,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    """Every alert fires on its failure case and stays silent on a healthy one."""
    done = subprocess.run([tool("promtool"), "test", "rules", "alerts.test.yml"], cwd=RULES,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
