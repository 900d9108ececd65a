"""Validated shapes of the simulator's configuration: tenants and faults.

These are what `--tenants FILE`, `POST /_sim/tenants` and `PUT /_sim/faults` accept. They are
plain pydantic models so that a bad control request is answered 400 with the field at fault.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FieldType = Literal[
    "varchar", "text", "integer", "decimal", "date", "boolean", "single_select", "multi_select"
]
ResourceType = Literal["candidate", "application", "job_seeker", "job"]


class RateLimitSpec(BaseModel):
    """A token bucket: `rate` requests per second on average, up to `burst` at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(default=10.0, gt=0)
    burst: int = Field(default=20, ge=1)


class JobSpec(BaseModel):
    """A job of the tenant (applications are made to jobs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    title: str = "Job"
    status: str = "open"


class CustomFieldSpec(BaseModel):
    """A custom field definition; candidates carry custom attributes tied to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    name: str
    field_type: FieldType = "varchar"
    resource_type: ResourceType = "candidate"


class TenantSpec(BaseModel):
    """One Pinpoint account. `rate_limit: null` switches rate limiting off (benchmarks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subdomain: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    api_key: str = Field(min_length=1)
    rate_limit: RateLimitSpec | None = Field(default_factory=RateLimitSpec)
    jobs: tuple[JobSpec, ...] = ()
    custom_fields: tuple[CustomFieldSpec, ...] = ()
    integration_enabled: bool = True
    read_only: bool = False

    def __repr__(self) -> str:
        return f"TenantSpec(subdomain={self.subdomain!r}, api_key='***')"

    __str__ = __repr__


class TenantUpdate(BaseModel):
    """`PUT /_sim/tenants/{subdomain}`: change a tenant at runtime (revoke or restore a key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: str | None = Field(default=None, min_length=1)
    integration_enabled: bool | None = None
    read_only: bool | None = None
    rate_limit: RateLimitSpec | None = None
    disable_rate_limit: bool = False


ScriptedOutcome = int | Literal["timeout", "lost_response", "late_write"]


class FaultConfig(BaseModel):
    """Faults injected into tenant API requests (never into the control API).

    - `latency_ms` + uniform `jitter_ms`: added before every request is handled.
    - `error_rate`: share of requests answered `error_status` (default 500) without effect.
    - `timeout_rate`: share of requests that never get an answer (nothing is applied).
    - `lost_response_rate`: share of requests that are applied but never answered (the case where
      a client cannot know whether its create happened).
    - `late_write_rate`: share of writes (POST/PUT/DELETE) that are held unanswered and applied
      `late_write_delay_s` later, as a real server finishes a write after its client gave up
      (reads drawn for it are served normally).
    - `burst_429`: the next N requests are answered 429 with `Retry-After: retry_after_s`.
    - `script`: exact outcomes for the next requests, in order (a status code, "timeout" or
      "lost_response"); 2xx entries mean "handle normally". Deterministic, for tests.
    - `hang_s`: how long a timed-out request is held open before the server gives up (504).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=500, ge=400, le=599)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    lost_response_rate: float = Field(default=0.0, ge=0, le=1)
    late_write_rate: float = Field(default=0.0, ge=0, le=1)
    late_write_delay_s: float = Field(default=2.0, ge=0)
    burst_429: int = Field(default=0, ge=0)
    retry_after_s: float = Field(default=1.0, ge=0)
    script: tuple[ScriptedOutcome, ...] = ()
    hang_s: float = Field(default=3600.0, gt=0)

    @field_validator("script")
    @classmethod
    def _check_script(cls, value: tuple[ScriptedOutcome, ...]) -> tuple[ScriptedOutcome, ...]:
        for item in value:
            if isinstance(item, int) and not 200 <= item <= 599:
                raise ValueError(f"scripted status {item} is not an HTTP status")
        return value

    @property
    def is_quiet(self) -> bool:
        """True when this configuration injects nothing."""
        return self == FaultConfig()


class FaultsRequest(FaultConfig):
    """`PUT /_sim/faults`: a fault configuration for one tenant, or global when `tenant` is null."""

    tenant: str | None = None
