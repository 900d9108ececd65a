"""The Kubernetes manifests pass kubernetes-validate --strict and kube-score; the KEDA
ScaledObject (a custom resource those tools have no schema for) is checked against KEDA's
documented ScaledObject fields (keda.sh/docs reference/scaledobject-spec, kafka scaler)."""

import subprocess

import pytest
import yaml

from tests.integration.deploy.conftest import ROOT, tool

pytestmark = pytest.mark.integration

K8S = ROOT / "deploy/kubernetes"
CORE = [K8S / "pinpoint-sync.yaml", K8S / "secret.example.yaml"]
PARTITIONS = 6  # the events topic's default partition count (docs/operations.md, "Scaling")

SPEC_FIELDS = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
               "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced",
               "triggers"}
TARGET_FIELDS = {"apiVersion", "kind", "name", "envSourceContainerName"}
ADVANCED_FIELDS = {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig",
                   "scalingModifiers"}
TRIGGER_FIELDS = {"type", "metadata", "name", "useCachedMetrics", "authenticationRef",
                  "metricType"}
KAFKA_METADATA = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                  "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
                  "scaleToZeroOnInvalidOffset", "excludePersistentLag",
                  "limitToPartitionsWithLag", "partitionLimitation", "version", "sasl", "tls"}


def test_core_kinds_pass_strict_validation() -> None:
    """Every core object matches the Kubernetes API schema, unknown fields refused."""
    done = subprocess.run([tool("kubernetes-validate"), "--strict", *map(str, CORE)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed for resource deployment/pinpoint-sync" in done.stdout + done.stderr


def test_kube_score_reports_no_critical() -> None:
    """kube-score finds no CRITICAL problem in the manifests."""
    done = subprocess.run([tool("kube-score"), "score", "--output-format", "ci", *map(str, CORE)],
                          capture_output=True, text=True, timeout=120, check=False)
    critical = [line for line in done.stdout.splitlines() if line.startswith("[CRITICAL]")]
    assert not critical, "\n".join(critical)
    assert "[OK]" in done.stdout, done.stdout + done.stderr


def test_scaled_object_uses_only_documented_fields() -> None:
    """A misspelt KEDA field is silently ignored by the API server, so it is checked here."""
    obj = yaml.safe_load((K8S / "keda-scaledobject.yaml").read_text())
    assert (obj["apiVersion"], obj["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    spec = obj["spec"]
    assert set(spec) <= SPEC_FIELDS, set(spec) - SPEC_FIELDS
    assert set(spec["scaleTargetRef"]) <= TARGET_FIELDS
    assert set(spec["advanced"]) <= ADVANCED_FIELDS
    assert set(spec["advanced"]["horizontalPodAutoscalerConfig"]) <= {"name", "behavior"}
    for trigger in spec["triggers"]:
        assert set(trigger) <= TRIGGER_FIELDS
        assert set(trigger["metadata"]) <= KAFKA_METADATA, set(trigger["metadata"])
        assert all(isinstance(v, str) for v in trigger["metadata"].values())


def test_scaled_object_targets_the_deployment_within_the_partitions() -> None:
    """Scaling stays between one replica and the partition count, and scales down slowly."""
    spec = yaml.safe_load((K8S / "keda-scaledobject.yaml").read_text())["spec"]
    deployments = [d for d in yaml.safe_load_all(CORE[0].read_text()) if d["kind"] == "Deployment"]
    assert spec["scaleTargetRef"]["name"] == deployments[0]["metadata"]["name"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= PARTITIONS
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == "sourcewhale.campaign-events"
    down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 300


def test_grace_period_covers_the_drain_and_a_call_in_flight() -> None:
    """SIGKILL never lands before the drain, which outlasts a Pinpoint call in flight."""
    docs = list(yaml.safe_load_all(CORE[0].read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    drain = float(config["PINPOINT_SYNC_DRAIN_TIMEOUT_S"])
    assert drain >= float(config["PINPOINT_SYNC_PINPOINT_TIMEOUT_S"]) + float(
        config["PINPOINT_SYNC_PINPOINT_LATE_WRITE_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] > drain
    ctx = pod["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert ctx["runAsUser"] > 0
