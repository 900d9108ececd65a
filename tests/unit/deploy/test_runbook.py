"""Every alert rule has a runbook section with the four headings its runbook_url points to."""

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
HEADINGS = ("Meaning", "Impact", "Diagnosis", "Mitigation")


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def _sections() -> dict[str, str]:
    text = (ROOT / "docs/runbook.md").read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def test_every_alert_has_severity_and_annotations() -> None:
    """An alert without severity or runbook cannot be routed or acted on."""
    rules = _rules()
    assert rules
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), (rule["alert"], key)


def test_every_alert_has_its_runbook_section_with_four_headings() -> None:
    """The on-call reads Meaning, Impact, Diagnosis and Mitigation for each alert."""
    sections = _sections()
    for rule in _rules():
        body = sections.get(rule["alert"])
        assert body is not None, f"docs/runbook.md has no section '## {rule['alert']}'"
        found = re.findall(r"^### (.+)$", body, flags=re.MULTILINE)
        assert tuple(h.strip() for h in found) == HEADINGS, (rule["alert"], found)


def test_every_runbook_url_anchor_exists() -> None:
    """A runbook link that lands on no heading is useless at 3 a.m."""
    anchors = {_anchor(h) for h in _sections()}
    for rule in _rules():
        path, _, anchor = rule["annotations"]["runbook_url"].rpartition("#")
        assert path.endswith("docs/runbook.md"), rule["alert"]
        assert anchor in anchors, (rule["alert"], anchor)
