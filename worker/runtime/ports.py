"""The small Protocols the runtime uses to reach its adapters (Pinpoint, Kafka, settings, secrets).

Each is what the runtime needs and nothing more, so tests can stand in in-memory doubles for the
component tests while integration tests use the real adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from worker.core.settings import TeamSettings
from worker.kafka.errors import KafkaAdapterError
from worker.pinpoint.models import (
    Comment,
    CreatedRecord,
    PinpointCandidate,
    RecordKind,
    RecordRef,
    TenantCredentials,
)


class PinpointApi(Protocol):
    """The Pinpoint operations the worker performs (``worker.pinpoint.client.PinpointClient``)."""

    async def find_people_by_email(self, tenant: TenantCredentials, email: str) -> list[str]:
        """Ids of the candidates with this e-mail, oldest first."""
        ...

    async def get_candidate(
        self, tenant: TenantCredentials, candidate_id: str) -> PinpointCandidate: ...

    async def find_record_by_external_reference(
        self, tenant: TenantCredentials, ref: str, prefer: RecordKind = RecordKind.JOB_SEEKERS,
    ) -> CreatedRecord | None:
        """The job seeker or application with this external reference, whichever it is."""
        ...

    async def create_job_seeker(
        self, tenant: TenantCredentials, fields: Mapping[str, str], external_ref: str,
        candidate_id: str | None = None) -> CreatedRecord: ...

    async def create_application(
        self, tenant: TenantCredentials, job_id: str, fields: Mapping[str, str],
        external_ref: str, candidate_id: str | None = None) -> CreatedRecord: ...

    async def update_person(
        self, tenant: TenantCredentials, candidate_id: str, fields: Mapping[str, str],
        protected: frozenset[str] = frozenset(), *, record: RecordRef | None = None,
        current: PinpointCandidate | None = None) -> None:
        """Write fields where Pinpoint has them (candidate or record); protected ones only
        where empty."""
        ...

    async def write_comment(
        self, tenant: TenantCredentials, record: RecordRef, body_text: str,
        marker: str) -> Comment: ...

    async def find_comment(
        self, tenant: TenantCredentials, record: RecordRef, marker: str) -> Comment | None:
        """The note on the record whose text holds ``marker`` (every page looked at)."""
        ...

    async def probe(self, tenant: TenantCredentials) -> None: ...


class Publisher(Protocol):
    """Publishing to Kafka (``worker.kafka.producer.AsyncProducer``)."""

    async def send(self, topic: str, *, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]] | None = None) -> tuple[int, int]: ...

    def send_nowait(self, topic: str, *, key: bytes | None, value: bytes | None,
                    headers: list[tuple[str, bytes]] | None = None,
                    ) -> asyncio.Future[tuple[int, int]]:
        """Hand the record to the producer now (keeping order); the future tells its fate."""
        ...

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None,
                headers: list[tuple[str, bytes]] | None = None,
                on_delivery: Callable[[KafkaAdapterError | None], None]) -> None:
        """Hand the record to the producer now (keeping order); ``on_delivery`` is called on
        the loop with its fate (None: acknowledged). Raises `KafkaAdapterError` if refused."""
        ...


class SettingsSource(Protocol):
    """Team settings as currently known (``worker.runtime.settings_cache.SettingsCache``)."""

    def get(self, team_id: str) -> TeamSettings | None: ...


class Secrets(Protocol):
    """API keys by reference (``worker.runtime.secrets.SecretResolver``)."""

    def resolve(self, ref: str) -> str | None: ...
