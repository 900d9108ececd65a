"""Processing one campaign event: parse, resolve the policy, decide, report.

The decision comes from the pure core (``worker.core.decision.decide``); its effects are carried
out by ``worker.runtime.executor.EffectExecutor``, exactly once each, through the state store's
effect ledger (every call to Pinpoint is made there). A candidate whose record turns out to be
gone from Pinpoint is decided again as not yet synced.

Failures follow DESIGN 3's classes (``worker.pinpoint.errors``): auth refusals park the team (the
event is kept and retried once the team's key works), invalid requests and spent retry budgets are
dead-lettered with the reason, undecodable or invalid events are dead-lettered before anything is
sent. Every event processed gets an outcome record; an event already done (redelivered after a
crash between its effects and its commit) is recognised by its ledger mark and skipped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from worker.core.decision import (
    CandidateState,
    Decision,
    decide,
    inactive_decision,
)
from worker.core.digest import dead_letter_digest
from worker.core.enums import Outcome, Reason
from worker.core.errors import EventErrorReason, InvalidEvent
from worker.core.events import CampaignEvent, parse_envelope, parse_event
from worker.core.outcome import OutcomeRecord, outcome_without_actions_json
from worker.core.policy import EffectivePolicy, integration_active, resolve_policy
from worker.kafka.errors import KafkaAdapterError, KafkaClosed, RecordTooLarge
from worker.kafka.records import InboundRecord
from worker.observability.masking import mask_pii, mask_secrets_inline, register_secret
from worker.observability.metrics import Metrics
from worker.pinpoint.errors import (
    AuthError,
    InvalidRequestError,
    PinpointError,
    RateLimitedError,
    TransientError,
)
from worker.pinpoint.models import (
    TenantCredentials,
)
from worker.runtime.claims import StartGate
from worker.runtime.executor import EffectExecutor, EffectJob, RecordGoneError
from worker.runtime.ports import PinpointApi, Publisher, Secrets, SettingsSource
from worker.runtime.scheduler import ProcessResult
from worker.store.base import EffectStatus, StateStore

log = structlog.get_logger("pinpoint_sync.processor")
_STDLIB_LOG = logging.getLogger("pinpoint_sync.processor")

_utc_now: Final = functools.partial(datetime.now, UTC)
"""The processor's default clock (a partial, not a lambda: it is called for every event)."""

_UNKNOWN = CandidateState()
"""The state given to `decide` where it cannot matter (an inactive integration)."""

class _EventLog:
    """Log lines about one record, each carrying its coordinates (topic, partition, offset,
    key, and once parsed team, event id and type). Cheaper than binding a logger for every
    event: the fields are only handed to structlog when a line is actually written."""

    __slots__ = ("_fields",)

    def __init__(self, **fields: object) -> None:
        self._fields = fields

    def add(self, **fields: object) -> None:
        self._fields.update(fields)

    def debug(self, event: str, **fields: object) -> None:
        # One debug line per event: asking the level first is far cheaper than structlog
        # building the line only to drop it (a tenth of the loop's time on a busy worker).
        if _STDLIB_LOG.isEnabledFor(logging.DEBUG):
            log.debug(event, **self._fields, **fields)

    def info(self, event: str, **fields: object) -> None:
        log.info(event, **self._fields, **fields)

    def warning(self, event: str, **fields: object) -> None:
        log.warning(event, **self._fields, **fields)


@dataclass(frozen=True)
class Topics:
    outcomes: str
    dlq: str
    replay: str | None = None
    """Records from this topic are replays or redrives (their ``replay.id`` header)."""


class TeamCredentialsMissing(Exception):  # noqa: N818 - a condition, handled like an auth refusal
    """The team's API key reference resolves to no secret: treated like a refused key."""


class EventProcessor:
    """Processes one record at a time per key (the scheduler guarantees it); many keys at once."""

    def __init__(
        self,
        *,
        store: StateStore,
        pinpoint: PinpointApi,
        settings: SettingsSource,
        secrets: Secrets,
        publisher: Publisher,
        metrics: Metrics,
        topics: Topics,
        publish_retry_delay: float = 1.0,
        clock: Callable[[], datetime] = _utc_now,
        attempt_window_s: float = 0.0,
        gate: StartGate | None = None,
    ) -> None:
        self._store = store
        # The longest an effect's call may still land after it started: an intent found
        # again is reconciled only once that has passed (see worker.runtime.claims).
        self._attempt_window_s = attempt_window_s
        self._gate = gate
        self._marking: set[asyncio.Future[None]] = set()  # done marks being written
        self._executor = EffectExecutor(store=store, pinpoint=pinpoint, gate=gate)
        self._settings = settings
        self._secrets = secrets
        self._publisher = publisher
        self._metrics = metrics
        self._topics = topics
        self._publish_retry_delay = publish_retry_delay
        self._clock = clock
        self._tenants: dict[tuple[str, str], TenantCredentials] = {}
        # Settled events' outcomes whose delivery failed, to send again in order (key, value,
        # done), and whether none are waiting.
        self._failed_outcomes: deque[tuple[bytes, bytes, Callable[[], None]]] = deque()
        self._outcomes_flowing = asyncio.Event()
        self._outcomes_flowing.set()
        self._resender: asyncio.Future[None] | None = None

    # ---- the fast path: events of teams whose integration is not active -------------------------

    def settle_now(self, record: InboundRecord, done: Callable[[], None]) -> bool:
        """Handle ``record`` at once if it needs neither I/O nor state: an event of a team whose
        integration is not active is skipped whatever the candidate's state (DESIGN 2), so its
        outcome record is all there is to do. Returns False, having done nothing, for any other
        record: it goes through its lane and `process`.

        The event is validated in full but read only as far as what identifies it
        (`parse_envelope`): its data is never used. An invalid event, or one whose key does not
        match it, is left to `process`, which dead-letters it with the reason. ``done`` is called
        on the loop once the outcome record is acknowledged (never, if the producer is closed
        first: the offset then stays uncommitted and the event is redelivered).

        Nothing is handed to the producer unless everything else has succeeded, so a False
        return (or an exception) always means the record was not taken.
        """
        # Runs for every event of such a team: kept to plain steps, each cheap.
        key, value = record.key, record.value
        if key is None or value is None or self._failed_outcomes or (
                record.tp.topic == self._topics.replay):
            return False  # a replayed record's outcome carries its replay id: see process
        team_b, sep, candidate_b = key.partition(b":")
        team_id = team_b.decode("utf-8", "replace")  # not UTF-8: no envelope matches it below
        settings = self._settings.get(team_id)
        if not sep or integration_active(settings):
            return False
        try:
            envelope = parse_envelope(value)
        except InvalidEvent:
            return False  # process() dead-letters it, saying why in full
        candidate_id = envelope.candidate_id
        if envelope.team_id.encode() != team_b or candidate_b != candidate_id.encode():
            return False  # likewise: the key must match the event
        decision = inactive_decision(settings.version if settings is not None else None)
        event_type = envelope.type
        now = self._clock()
        lag = (now - envelope.time).total_seconds()
        outcome_value = outcome_without_actions_json(
            event_id=envelope.id, event_type=event_type, team_id=team_id,
            candidate_id=candidate_id, outcome=decision.outcome, reason=decision.reason,
            processed_at=now, policy_version=decision.policy_version, detail=decision.detail)
        try:
            self._publisher.produce(self._topics.outcomes, key=key, value=outcome_value,
                                    on_delivery=self._on_settled_outcome(key, outcome_value, done))
        except KafkaAdapterError:
            return False  # the producer's queue is full: the lane's path retries
        try:  # taken now, whatever happens below: only counting is left
            self._metrics.event_settled(record.tp.topic, event_type, decision.outcome,
                                        decision.reason, lag)
        except Exception:
            log.exception("counting a settled event failed")
        return True

    def _on_settled_outcome(self, key: bytes, value: bytes,
                            done: Callable[[], None]) -> Callable[[KafkaAdapterError | None], None]:
        """The delivery report of a settled event's outcome: ``done`` once it is acknowledged;
        queued to be sent again, in order, when it failed; nothing once the producer is closed."""

        def delivered(error: KafkaAdapterError | None) -> None:
            if error is None:
                done()
            elif not isinstance(error, KafkaClosed):
                self._metrics.outcome_publish_failed()
                self._resend_in_order(key, value, done, error)

        return delivered

    def _resend_in_order(self, key: bytes, value: bytes, done: Callable[[], None],
                         error: KafkaAdapterError) -> None:
        """Queue a settled event's outcome whose delivery failed (librdkafka gave up after its
        delivery timeout: the brokers have been away that long).

        One task sends the queue again, handing the records to the producer in the order the
        failures came (the order they were produced in, per partition). Until the queue is
        through, no event is settled at once and `process` does not start, so new events'
        outcomes do not overtake them. (Records the producer still held, and events already
        being processed, may; outcome records are at least once.)
        """
        self._failed_outcomes.append((key, value, done))
        self._outcomes_flowing.clear()
        if self._resender is None or self._resender.done():
            log.warning("publishing outcome records failed; sending them again in order",
                        topic=self._topics.outcomes, error=str(error))
            self._resender = asyncio.ensure_future(self._resend_failed())
            self._resender.add_done_callback(self._resender_ended)

    async def _resend_failed(self) -> None:
        queue, topic = self._failed_outcomes, self._topics.outcomes
        delay, sent = self._publish_retry_delay, 0
        while queue:
            batch = list(queue)
            queue.clear()
            futures: list[asyncio.Future[tuple[int, int]] | None] = []
            for key, value, _ in batch:  # handed over in order, acknowledged together
                try:
                    futures.append(self._publisher.send_nowait(topic, key=key, value=value))
                except KafkaClosed:
                    return  # shutting down: these stay uncommitted and are redelivered
                except Exception:  # noqa: BLE001 - the queue is full: tried again below
                    futures.append(None)
            results = await asyncio.gather(*(f for f in futures if f is not None),
                                           return_exceptions=True)
            outcomes = iter(results)
            failed = []
            for (key, value, done), future in zip(batch, futures, strict=True):
                result = next(outcomes) if future is not None else None
                if future is None or isinstance(result, BaseException):
                    if isinstance(result, KafkaClosed):
                        return
                    failed.append((key, value, done))
                    continue
                sent += 1
                try:
                    done()
                except Exception:
                    log.exception("completing a settled event failed")
            if failed:
                self._metrics.outcome_publish_failed()
                queue.extendleft(reversed(failed))  # before anything queued meanwhile
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        log.info("outcome records sent again", records=sent)

    def _resender_ended(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("sending outcome records again failed; starting over",
                      error=str(task.exception()))
        if self._failed_outcomes and not task.cancelled():
            self._resender = asyncio.ensure_future(self._resend_failed())
            self._resender.add_done_callback(self._resender_ended)
        elif not self._failed_outcomes:
            self._outcomes_flowing.set()

    # ---- entry point --------------------------------------------------------------------------

    async def process(self, record: InboundRecord) -> ProcessResult:
        """Process one record; DONE once its outcome record is acknowledged by Kafka (and, for
        an event that is not dead-lettered, its done mark written)."""
        if self._failed_outcomes:
            await self._outcomes_flowing.wait()  # outcomes queued again go first (see above)
        return await self._process(record)

    async def _process(self, record: InboundRecord) -> ProcessResult:
        bound = _EventLog(topic=record.tp.topic, partition=record.tp.partition,
                          offset=record.offset, key=record.key_text)
        replay_id = _replay_id(record) if record.tp.topic == self._topics.replay else None
        try:
            event = self._parse(record)
        except InvalidEvent as exc:
            return await self._dead_letter_invalid(record, exc, bound)

        self._metrics.event_consumed(record.tp.topic, event.type)
        bound.add(team=event.team_id, event_id=event.id, event_type=event.type)
        policy = resolve_policy(self._settings.get(event.team_id), event.data.user_id,
                                event.data.campaign_id)
        if not policy.active:
            # Skipped whatever the candidate's state: nothing to read, nothing to remember.
            decision = decide(event, policy, _UNKNOWN)
            delivery = self._publish_outcome(record, event, decision.outcome, decision.reason,
                                             decision=decision, replay_id=replay_id)
            self._metrics.event_processed(event.type, decision.outcome, decision.reason,
                                          self._lag(event))
            await delivery
            return ProcessResult.DONE
        done_key = f"event:{event.team_id}:{event.id}"
        # A replayed or redriven event is decided again even if it was done before (that is
        # what a replay is for); the ledger still keeps each of its effects from repeating.
        if replay_id is None and (mark := await self._store.get_effect(done_key)) is not None and (
                mark.status is EffectStatus.DONE):
            bound.debug("event already processed; skipped")
            self._metrics.event_processed(event.type, Outcome.SKIPPED, Reason.ALREADY_APPLIED,
                                          None)
            return ProcessResult.DONE

        state = await self._store.load_candidate(event.team_id, event.candidate_id)
        decision = decide(event, policy, state)
        outcome, reason = decision.outcome, decision.reason
        job: EffectJob | None = None
        dead_letter_detail: str | None = None
        first_failed_at = self._clock()
        try:
            if decision.actions:
                job = self._job(event, state, self._tenant(policy))
                job, decision = await self._apply_or_push_again(job, decision, policy, bound)
                outcome, reason = decision.outcome, decision.reason
        except (AuthError, TeamCredentialsMissing) as exc:
            self.forget_credentials(policy.subdomain)
            bound.warning("team's Pinpoint credentials refused; team paused, event kept",
                          error=str(exc))
            return ProcessResult.TEAM_PAUSED
        except PinpointError as exc:
            if isinstance(exc, TransientError):
                # Past the call's retry budget: held in its lane and tried again later, never
                # dead-lettered for being transient (the ledger keeps the intent).
                bound.warning("Pinpoint failing; event held for a later try",
                              error=mask_pii(f"{exc.operation}: status {exc.status}"))
                return ProcessResult.RETRY_LATER
            reason = (Reason.PINPOINT_INVALID if isinstance(exc, InvalidRequestError)
                      else Reason.RETRIES_EXHAUSTED)
            outcome = Outcome.DEAD_LETTERED
            dead_letter_detail = error = _refusal_text(exc)
            bound.warning("event dead-lettered", reason=str(reason), error=error)
            # dlq.attempts counts processing attempts (a redrive adds one), not the calls the
            # client's retries made within one attempt: those are in the error text.
            await self._dead_letter(record, reason, error, attempts=1,
                                    first_failed_at=first_failed_at)

        # A dead-lettered event gets no done mark: redriven later (or redelivered), it is tried
        # again, and the ledger still keeps every effect it did apply from repeating.
        delivery = self._publish_outcome(
            record, event, outcome, reason, job=job, decision=decision, detail=dead_letter_detail,
            then_mark=None if outcome is Outcome.DEAD_LETTERED else (done_key, event.team_id),
            replay_id=replay_id)
        self._metrics.event_processed(event.type, outcome, reason, self._lag(event))
        bound.debug("event processed", outcome=str(outcome), reason=str(reason))
        await delivery
        return ProcessResult.DONE

    async def _dead_letter_invalid(self, record: InboundRecord, exc: InvalidEvent,
                                   bound: _EventLog) -> ProcessResult:
        """An event that cannot be read goes to the dead-letter topic at once: no retry can
        make it readable."""
        self._metrics.event_consumed(record.tp.topic, "invalid")
        bound.warning("invalid event dead-lettered", reason=str(exc.reason),
                      error=mask_pii(exc.detail))
        reason = exc.reason.dead_letter_reason
        await self._dead_letter(record, reason, f"{exc.reason}: {exc.detail}", attempts=1)
        delivery = self._publish_outcome(record, None, Outcome.DEAD_LETTERED, reason,
                                         detail=exc.detail)
        self._metrics.event_processed("invalid", Outcome.DEAD_LETTERED, reason, None)
        await delivery
        return ProcessResult.DONE

    async def _apply_or_push_again(self, job: EffectJob, decision: Decision,
                                   policy: EffectivePolicy, bound: _EventLog,
                                   ) -> tuple[EffectJob, Decision]:
        """Apply the decision; if the candidate's record turns out to be gone from Pinpoint
        (deleted or merged away, and no record carries its external reference), decide again
        as for a candidate not yet synced (DESIGN 3) and apply that."""
        try:
            await self._apply_until_not_rate_limited(job, decision, bound)
        except RecordGoneError:
            bound.info("the candidate's record is gone from Pinpoint; deciding again")
            state = CandidateState(pending_notes=job.state.pending_notes)
            decision = decide(job.event, policy, state)
            job = self._job(job.event, state, job.tenant, record_gone=True)
            if decision.actions:
                await self._apply_until_not_rate_limited(job, decision, bound)
        return job, decision

    @staticmethod
    def _job(event: CampaignEvent, state: CandidateState, tenant: TenantCredentials, *,
             record_gone: bool = False) -> EffectJob:
        return EffectJob(event=event, state=state, tenant=tenant,
                         pinpoint_candidate_id=state.pinpoint_candidate_id,
                         record_gone=record_gone)

    def _lag(self, event: CampaignEvent) -> float:
        """Seconds from the event's time to its outcome (end-to-end latency)."""
        return max((self._clock() - event.event_time).total_seconds(), 0.0)

    def _parse(self, record: InboundRecord) -> CampaignEvent:
        if record.value is None:
            raise InvalidEvent(EventErrorReason.INVALID_EVENT, "the record has no value (null)")
        event = parse_event(record.value)
        if record.key_text is None:
            raise InvalidEvent(
                EventErrorReason.INVALID_EVENT,
                "the record has no key, or a key that is not UTF-8: it must be"
                " team_id:candidate_id (per-candidate order depends on it)",
            )
        if record.key_text != event.key:
            raise InvalidEvent(
                EventErrorReason.INVALID_EVENT,
                "the record key does not match data.team_id:data.candidate.id"
                " (per-candidate order depends on it)",
            )
        return event

    def _tenant(self, policy: EffectivePolicy) -> TenantCredentials:
        """The team's credentials, resolved once and kept until Pinpoint refuses them."""
        if not policy.subdomain or not policy.api_key_ref:
            raise TeamCredentialsMissing("the integration has no subdomain or api_key_ref")
        cache_key = (policy.subdomain, policy.api_key_ref)
        tenant = self._tenants.get(cache_key)
        if tenant is not None:
            return tenant
        try:
            key = self._secrets.resolve(policy.api_key_ref)
        except ValueError as exc:  # a ref that names no plain file
            raise TeamCredentialsMissing(str(exc)) from None
        if not key:
            raise TeamCredentialsMissing(f"no secret found for api_key_ref {policy.api_key_ref!r}")
        register_secret(key)  # masked in every log line from now on
        tenant = self._tenants[cache_key] = TenantCredentials(policy.subdomain, key)
        return tenant

    def forget_credentials(self, subdomain: str | None = None) -> None:
        """Resolve keys again on next use (all teams, or one subdomain's)."""
        for cache_key in [k for k in self._tenants if subdomain is None or k[0] == subdomain]:
            del self._tenants[cache_key]

    # ---- effects ------------------------------------------------------------------------------

    async def _apply_until_not_rate_limited(self, job: EffectJob, decision: Decision,
                                            bound: _EventLog) -> None:
        """Apply the decision; a 429 that outlasted the client's deadline is never a failure
        (DESIGN 3): wait and apply again. Effects already done are skipped by the ledger."""
        while True:
            job.reset()
            try:
                await self._executor.apply(job, decision)
            except RateLimitedError as exc:
                wait = max(exc.retry_after or 1.0, 0.5)
                bound.info("still rate limited; waiting before applying again", seconds=wait)
                await asyncio.sleep(wait)
                continue
            return

    # ---- reporting ------------------------------------------------------------------------------

    def _publish_outcome(
        self, record: InboundRecord, event: CampaignEvent | None, outcome: Outcome,
        reason: Reason, *, job: EffectJob | None = None, decision: Decision | None = None,
        detail: str | None = None, then_mark: tuple[str, str] | None = None,
        replay_id: str | None = None,
    ) -> asyncio.Future[object]:
        """Start publishing the event's outcome record; the returned future is done once Kafka
        acknowledged it and, with ``then_mark`` (key, team), the event's done mark is written.

        The record is handed to the producer now, synchronously, so that outcomes of one
        candidate are published in the order of its events."""
        now = self._clock()
        actions = job.actions if job else []
        pinpoint_candidate_id = job.pinpoint_candidate_id if job else None
        if event is not None and decision is not None:
            out = OutcomeRecord.for_decision(event, decision, now, actions, pinpoint_candidate_id)
            if (outcome, reason) != (decision.outcome, decision.reason):
                out = out.model_copy(update={"outcome": outcome, "reason": reason,
                                             "detail": detail})
        else:
            team_id, _, candidate_id = (record.key_text or "").partition(":")
            out = OutcomeRecord(
                event_id=event.id if event else None,
                event_type=event.type if event else None,
                team_id=event.team_id if event else (team_id or None),
                candidate_id=event.candidate_id if event else (candidate_id or None),
                outcome=outcome, reason=reason, processed_at=now, detail=detail,
            )
        if replay_id is not None:
            out = out.model_copy(update={"replay_id": replay_id})
        value = out.to_json()
        result: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def marked(task: asyncio.Future[None]) -> None:
            self._marking.discard(task)
            if result.done():
                return
            if task.cancelled():
                result.cancel()
            elif (exc := task.exception()) is not None:
                result.set_exception(exc)  # the record stays uncommitted
            else:
                result.set_result(None)

        def mark_and_finish() -> None:
            if result.done():
                return
            if then_mark is None:
                result.set_result(None)
                return
            done_key, team_id = then_mark
            marking = asyncio.ensure_future(
                self._store.mark_done(done_key, team_id=team_id, kind="event", fence=None))
            self._marking.add(marking)
            marking.add_done_callback(marked)

        def acknowledged(sent: asyncio.Future[tuple[int, int]]) -> None:
            if result.done():
                return
            if sent.cancelled() or isinstance(sent.exception(), KafkaClosed):
                result.cancel()  # shutting down: the record stays uncommitted
            elif sent.exception() is None:
                mark_and_finish()
            else:
                self._metrics.outcome_publish_failed()
                log.warning("publishing failed; retrying", topic=self._topics.outcomes,
                            error=str(sent.exception()))
                retry = asyncio.ensure_future(
                    self._send_with_retry(self._topics.outcomes, record.key, value, None))
                retry.add_done_callback(
                    lambda r: result.cancel() if r.cancelled() or r.exception() is not None
                    else mark_and_finish())

        try:
            # Callbacks rather than a task per outcome: this runs for every event.
            self._publisher.send_nowait(self._topics.outcomes, key=record.key,
                                        value=value).add_done_callback(acknowledged)
        except Exception as exc:  # noqa: BLE001 - the adapter's errors; retried
            failed: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            acknowledged(failed)
        return result

    async def _dead_letter(self, record: InboundRecord, reason: Reason, error: str, *,
                           attempts: int, first_failed_at: datetime | None = None) -> None:
        failed_at = (first_failed_at or self._clock()).isoformat()
        source = (record.tp.topic, str(record.tp.partition), str(record.offset))
        earlier = _dlq_headers(record)
        if earlier:
            # A redriven dead letter failing again: it keeps its original coordinates, first
            # failure and attempt count (the redrive counted this attempt), so the attempt cap
            # of `dlq redrive` holds across redrives.
            source = (earlier.get("dlq.source.topic", source[0]),
                      earlier.get("dlq.source.partition", source[1]),
                      earlier.get("dlq.source.offset", source[2]))
            failed_at = earlier.get("dlq.first_failed_at", failed_at)
            attempts = max(attempts, _int_or(earlier.get("dlq.attempts"), attempts))
        headers = [
            ("dlq.reason", str(reason).encode()),
            ("dlq.error", mask_secrets_inline(mask_pii(error))[:2000].encode()),
            ("dlq.source.topic", source[0].encode()),
            ("dlq.source.partition", source[1].encode()),
            ("dlq.source.offset", source[2].encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.first_failed_at", failed_at.encode()),
        ]
        try:
            await self._send_with_retry(self._topics.dlq, record.key, record.value, headers,
                                        too_large_raises=True)
        except RecordTooLarge as exc:
            # It will never fit whole: a digest goes instead, so the partition moves on.
            digest = dead_letter_digest(record.key, record.value)
            log.warning("dead letter too large for its topic; its digest is sent instead",
                        topic=self._topics.dlq, source_topic=record.tp.topic,
                        partition=record.tp.partition, offset=record.offset,
                        size=len(record.value or b""), error=str(exc))
            await self._send_with_retry(self._topics.dlq, digest.key, digest.value,
                                        [*headers, *digest.headers])
        self._metrics.dead_lettered(str(reason))

    async def _send_with_retry(self, topic: str, key: bytes | None, value: bytes | None,
                               headers: list[tuple[str, bytes]] | None, *,
                               too_large_raises: bool = False) -> None:
        # Kafka being unreachable must not lose the record: retry until it is accepted (the
        # record stays uncommitted meanwhile; a shutdown cancels this and it is redelivered).
        # A record too large is never accepted: with ``too_large_raises`` the caller is told.
        delay = self._publish_retry_delay
        while True:
            try:
                await self._publisher.send(topic, key=key, value=value, headers=headers)
            except KafkaClosed:
                raise  # shutting down: the record stays uncommitted and is redelivered
            except Exception as exc:  # the adapter's errors; retried, never lost
                if too_large_raises and isinstance(exc, RecordTooLarge):
                    raise
                self._metrics.outcome_publish_failed()
                log.warning("publishing failed; retrying", topic=topic, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            return


# ---- helpers --------------------------------------------------------------------------------


def _refusal_text(exc: PinpointError) -> str:
    """The failed call, its status and Pinpoint's detail (masked), with how many calls the
    client's retries made when more than one."""
    calls = int(getattr(exc, "attempts", 1) or 1)
    return mask_pii(f"{exc.operation}: status {exc.status}: {exc.detail or exc}"
                    + (f" (after {calls} calls)" if calls > 1 else ""))


def _replay_id(record: InboundRecord) -> str:
    """The ``replay.id`` header of a record of the replay topic (``"unknown"`` if it has none:
    it still came through a replay)."""
    for name, value in record.headers:
        if name == "replay.id" and value:
            return value.decode("utf-8", "replace")
    return "unknown"


def _dlq_headers(record: InboundRecord) -> dict[str, str]:
    """The ``dlq.*`` headers a redriven dead letter carries (none for any other record)."""
    return {name: value.decode("utf-8", "replace") for name, value in record.headers
            if name.startswith("dlq.") and value is not None}


def _int_or(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
