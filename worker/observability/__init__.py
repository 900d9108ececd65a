"""Observability: Prometheus metrics, the health/metrics HTTP server, structured masked logs."""

from worker.observability.health import HealthServer, HealthState, ReadinessCondition
from worker.observability.logging import configure_logging
from worker.observability.masking import mask_pii, register_secret
from worker.observability.metrics import Metrics

__all__ = [
    "HealthServer",
    "HealthState",
    "Metrics",
    "ReadinessCondition",
    "configure_logging",
    "mask_pii",
    "register_secret",
]
