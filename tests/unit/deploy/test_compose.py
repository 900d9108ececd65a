"""docker-compose.yml is valid against the compose specification's JSON schema and wires the
stack: Kafka of the jars' version, PostgreSQL, a simulator with a healthcheck, two workers on
the PostgreSQL store, Prometheus with the alert rules, Grafana provisioned."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict[str, object]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_specification_schema() -> None:
    """A misspelt key or a wrong type in the compose file is refused."""
    schema = json.loads((ROOT / "deploy/compose/compose-spec.json").read_text())
    # The schema declares draft 7 (under an https address jsonschema does not map by itself).
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, "\n".join(errors)
    broken = _compose()
    broken["services"]["simulator"]["healthcheck"]["intervall"] = "5s"
    assert list(validator.iter_errors(broken))


def test_kafka_image_is_the_jars_version() -> None:
    """The compose broker and the test broker run the same Kafka release."""
    pom = (ROOT / "deploy/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    assert _compose()["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_workers_share_the_postgresql_store_and_dependencies_are_healthy() -> None:
    """Two workers of one group on one PostgreSQL store start once their dependencies answer."""
    services = _compose()["services"]
    workers = [s for name, s in services.items() if name.startswith("worker")]
    assert len(workers) == 2
    for worker in workers:
        assert worker["environment"]["PINPOINT_SYNC_STATE_URL"].startswith("postgresql://")
        for dep in ("kafka", "postgres", "simulator"):
            assert worker["depends_on"][dep]["condition"] == "service_healthy"
    assert "healthcheck" in services["simulator"]
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        image = services[name]["image"]
        assert ":" in image
        assert not image.endswith(":latest")


def test_mounted_files_exist() -> None:
    """Every file or directory the stack mounts from the repository is there."""
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_dashboard_has_the_scale_out_panels() -> None:
    """Held events, team status, breaker, store errors and latency, lease losses are charted."""
    dashboard = json.loads((ROOT / "deploy/grafana/pinpoint-sync.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for metric in ("pinpoint_sync_team_held_events", "pinpoint_sync_team_status",
                   "pinpoint_sync_team_breaker_open", "pinpoint_sync_store_errors_total",
                   "pinpoint_sync_store_operation_seconds_bucket",
                   "pinpoint_sync_lease_lost_total",
                   "pinpoint_sync_team_oldest_held_age_seconds"):
        assert metric in exprs, metric
