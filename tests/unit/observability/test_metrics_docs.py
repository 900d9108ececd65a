"""The metrics reference and the dashboard name only metrics that exist, and miss none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import worker
from worker.observability.metrics import Metrics

pytestmark = pytest.mark.unit

ROOT = Path(worker.__file__).resolve().parent.parent
NAME = re.compile(r"pinpoint_sync_[a-z_]+[a-z]")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_info")


def _families() -> set[str]:
    return {family.name for family in Metrics().registry.collect()}


def _family_of(name: str, families: set[str]) -> str | None:
    if name in families:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in families:
            return name.removesuffix(suffix)
    return None


def test_operations_doc_matches_the_registry() -> None:
    """docs/operations.md documents every metric family and names no metric that is not real."""
    families = _families()
    mentioned = set(NAME.findall((ROOT / "docs" / "operations.md").read_text()))
    unknown = {name for name in mentioned if _family_of(name, families) is None}
    assert not unknown, f"documented but not exported: {sorted(unknown)}"
    undocumented = families - {_family_of(name, families) for name in mentioned}
    assert not undocumented, f"exported but not documented: {sorted(undocumented)}"


def test_dashboard_queries_real_metrics() -> None:
    """Every metric the Grafana dashboard queries is exported."""
    families = _families()
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "pinpoint-sync.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs
    names = {name for expr in exprs for name in NAME.findall(expr)}
    unknown = {name for name in names if _family_of(name, families) is None}
    assert not unknown, sorted(unknown)
