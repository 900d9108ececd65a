"""A local fake of Pinpoint's REST API for tests, demos and benchmarks (DESIGN 5.6).

Independent of the worker's client: it never imports ``worker.pinpoint``. Tenants live under
``/tenants/{subdomain}/api/v1/...``; the control API is under ``/_sim/`` (docs/pinpoint.md).
"""

from worker.simulator.app import Simulator
from worker.simulator.server import SimulatorServer, main
from worker.simulator.specs import CustomFieldSpec, FaultConfig, JobSpec, RateLimitSpec, TenantSpec

__all__ = [
    "CustomFieldSpec",
    "FaultConfig",
    "JobSpec",
    "RateLimitSpec",
    "Simulator",
    "SimulatorServer",
    "TenantSpec",
    "main",
]
