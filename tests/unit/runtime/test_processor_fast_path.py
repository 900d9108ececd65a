"""EventProcessor.settle_now: an inactive team's event settled at once, without a lane or state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from test_processor import TEAM, TOPICS, TP, Env, FakePublisher

from worker.kafka.errors import KafkaAdapterError, KafkaClosed, KafkaUnavailable, PublishError
from worker.kafka.records import InboundRecord
from worker.runtime.scheduler import ProcessResult
from worker.tools.sample import SampleEvent, malformed_events

pytestmark = pytest.mark.unit

INACTIVE_VERSION = 4


# ---- doubles ------------------------------------------------------------------------------------


class UntouchableStore:
    """A state store the fast path must never use: any use is recorded and fails."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        raise AssertionError(f"the state store was used: {name}")


class HeldPublisher(FakePublisher):
    """Produced records wait for the test to report their delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.produced: list[tuple[str, bytes | None, bytes | None]] = []
        self.pending: list[Callable[[KafkaAdapterError | None], None]] = []
        self.reports = 0

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None,
                headers: list[tuple[str, bytes]] | None = None,
                on_delivery: Callable[[KafkaAdapterError | None], None]) -> None:
        self.produced.append((topic, key, value))
        self.pending.append(on_delivery)

    def deliver(self, error: KafkaAdapterError | None = None) -> None:
        """Report the fate of every record produced so far."""
        pending, self.pending = self.pending, []
        self.reports += 1
        for on_delivery in pending:
            on_delivery(error)


class FullQueuePublisher(FakePublisher):
    """A producer whose queue is full: produce refuses every record."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None,
                headers: list[tuple[str, bytes]] | None = None,
                on_delivery: Callable[[KafkaAdapterError | None], None]) -> None:
        self.refused += 1
        raise KafkaUnavailable("the producer's queue is full")


class Done:
    """The completion callback handed to settle_now: counts its calls, and notes what
    ``watch`` (if given) said at each call."""

    def __init__(self, watch: Callable[[], object] | None = None) -> None:
        self.calls = 0
        self.watch = watch
        self.seen: list[object] = []

    def __call__(self) -> None:
        self.calls += 1
        if self.watch is not None:
            self.seen.append(self.watch())


# ---- helpers ------------------------------------------------------------------------------------


def configure(env: Env, team: str) -> None:
    """Give the team no settings (``none``), inactive settings or active ones."""
    if team == "none":
        env.settings.apply(TEAM, None)
        assert env.settings.get(TEAM) is None
    elif team == "inactive":
        env.set_settings(version=INACTIVE_VERSION, active=False)
    else:
        assert team == "active"


def fast_env(team: str, publisher: FakePublisher | None = None) -> Env:
    """An Env whose team is as given, whose state store must stay untouched."""
    env = Env()
    configure(env, team)
    env.store = UntouchableStore()  # type: ignore[assignment]
    if publisher is not None:
        env.publisher = publisher
    env.processor = env.build()
    return env


async def let_loop_run(rounds: int = 5) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def event_counts(env: Env) -> float:
    """Everything counted in the per-event metrics."""
    total = 0.0
    for family in env.metrics.registry.collect():
        if family.name in ("pinpoint_sync_events_consumed", "pinpoint_sync_events_processed",
                           "pinpoint_sync_decisions"):
            total += sum(s.value for s in family.samples)
    return total


def without_time(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outcome.items() if k != "processed_at"}


async def outcome_of_process(team: str, sample: SampleEvent) -> dict[str, Any]:
    """The outcome record process() publishes for the same event and team settings."""
    env = await Env.create()
    configure(env, team)
    assert await env.process(env.record(sample.key, sample.value)) is ProcessResult.DONE
    [outcome] = env.publisher.outcomes()
    return outcome


def assert_declined(env: Env, record: InboundRecord) -> None:
    """settle_now declines the record and has done nothing at all."""
    done = Done()
    assert env.processor.settle_now(record, done) is False
    assert env.publisher.sent == []
    assert getattr(env.publisher, "produced", []) == []
    assert done.calls == 0
    assert env.pinpoint.calls == []
    assert event_counts(env) == 0


EVENTS: dict[str, dict[str, Any]] = {
    "candidate.added": {},
    "outreach.sent": {"step": {"number": 1, "channel": "sms"}},
    "candidate.replied": {"reply": {"channel": "email", "snippet": "Hi \"there\", ça va? 日本"}},
    "candidate.unsubscribed": {},
}


# ---- settled at once ----------------------------------------------------------------------------


@pytest.mark.parametrize("team", ["none", "inactive"])
@pytest.mark.parametrize("etype", sorted(EVENTS))
async def test_inactive_teams_event_is_settled_like_process_skips_it(
    team: str, etype: str,
) -> None:
    """An event of a team without settings or with the integration off is settled at once:
    one outcome on the outcomes topic under the record's key, equal (but for processed_at) to
    the one process() publishes, skipped as integration_inactive under the settings' version."""
    env = fast_env(team)
    sample = env.event(etype, **EVENTS[etype])
    record = env.record(sample.key, sample.value)
    done = Done()
    assert env.processor.settle_now(record, done) is True
    await let_loop_run()
    [(topic, key, value, headers)] = env.publisher.sent
    assert (topic, key, headers) == (TOPICS.outcomes, sample.key, None)
    outcome = json.loads(value or b"")
    expected = await outcome_of_process(team, sample)
    assert without_time(outcome) == without_time(expected)
    assert (outcome["outcome"], outcome["reason"]) == ("skipped", "integration_inactive")
    assert outcome["policy_version"] == (INACTIVE_VERSION if team == "inactive" else None)
    assert (outcome["event_id"], outcome["event_type"]) == (sample.event_id, sample.type)
    assert (outcome["team_id"], outcome["candidate_id"]) == (TEAM, sample.candidate_id)
    assert outcome["processed_at"].endswith("Z")
    assert done.calls == 1
    assert env.pinpoint.calls == []
    assert env.publisher.dead_letters() == []


@pytest.mark.parametrize("team", ["none", "inactive"])
async def test_done_is_called_once_after_delivery_and_not_before(team: str) -> None:
    """The completion callback is called once the outcome record is acknowledged, not when it
    is handed to the producer, and only once."""
    publisher = HeldPublisher()
    env = fast_env(team, publisher)
    sample = env.event("candidate.added")
    done = Done(watch=lambda: publisher.reports)
    assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    assert [(t, k) for t, k, _ in publisher.produced] == [(TOPICS.outcomes, sample.key)]
    await let_loop_run()
    assert done.calls == 0
    publisher.deliver(None)
    assert done.seen == [1]  # called from the delivery report
    await let_loop_run()
    assert done.calls == 1
    assert publisher.sent == []  # nothing re-sent


@pytest.mark.parametrize("team", ["none", "inactive"])
async def test_settled_event_leaves_the_store_alone_and_counts_once(team: str) -> None:
    """A settled event never touches the state store and is counted once as consumed, once as
    processed (skipped) and once as an integration_inactive decision, with its latency."""
    env = fast_env(team)
    sample = env.event("outreach.sent", step={"number": 2, "channel": "email"})
    assert env.processor.settle_now(env.record(sample.key, sample.value), Done()) is True
    await let_loop_run()
    assert env.store.used == []  # type: ignore[attr-defined]
    etype = sample.type
    assert env.sample("events_consumed_total", {"topic": TP.topic, "event_type": etype}) == 1
    assert env.sample("events_processed_total", {"event_type": etype, "outcome": "skipped"}) == 1
    assert env.sample("decisions_total",
                      {"outcome": "skipped", "reason": "integration_inactive"}) == 1
    assert env.sample("end_to_end_seconds_count", {"event_type": etype}) == 1
    assert event_counts(env) == 3


async def test_every_event_of_an_inactive_team_is_settled_in_order() -> None:
    """Several events of an inactive team's candidates are all settled, their outcomes
    produced in the order of the records."""
    env = fast_env("inactive")
    samples = [env.event("candidate.added", env.gen.candidate(TEAM, i)) for i in range(1, 6)]
    done = Done()
    for sample in samples:
        assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    await let_loop_run()
    assert [o["event_id"] for o in env.publisher.outcomes()] == [s.event_id for s in samples]
    assert [k for _, k, _, _ in env.publisher.sent] == [s.key for s in samples]
    assert done.calls == 5


# ---- declined: left to the lane and process() ---------------------------------------------------


async def test_active_teams_event_is_declined() -> None:
    """An event of a team whose integration is active is not settled: nothing is done."""
    env = fast_env("active")
    sample = env.event("candidate.added")
    assert_declined(env, env.record(sample.key, sample.value))


@pytest.mark.parametrize(("has_key", "has_value"), [(False, True), (True, False),
                                                   (False, False)],
                         ids=["no-key", "no-value", "neither"])
@pytest.mark.parametrize("team", ["none", "inactive"])
async def test_record_without_key_or_value_is_declined(
    team: str, has_key: bool, has_value: bool,
) -> None:
    """A record without a key or without a value is not settled."""
    env = fast_env(team)
    sample = env.event("candidate.added")
    assert_declined(env, env.record(sample.key if has_key else None,
                                    sample.value if has_value else None))


@pytest.mark.parametrize("team", ["none", "inactive"])
@pytest.mark.parametrize("key", [b"acme", b"acme\xff:cand-000001", b"\xff\xfe:cand-000001",
                                 b"acme:cand-000001\xff"],
                         ids=["no-colon", "team-not-utf8", "only-bytes", "candidate-not-utf8"])
async def test_bad_key_is_declined(team: str, key: bytes) -> None:
    """A key without ':' or that is not UTF-8 is not settled, even for a valid event."""
    env = fast_env(team)
    sample = env.event("candidate.added")
    assert sample.key == b"acme:cand-000001"
    assert_declined(env, env.record(key, sample.value))


@pytest.mark.parametrize("team", ["none", "inactive"])
@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["not-json", "not-utf8", "unknown-type",
                                                    "no-candidate"])
async def test_bad_envelope_is_declined_then_dead_lettered(team: str, index: int) -> None:
    """A value that is not JSON or whose envelope is invalid is not settled; process() then
    dead-letters it with its original bytes."""
    env = fast_env(team)
    key, value = malformed_events(TEAM)[index]
    record = env.record(key, value)
    assert_declined(env, record)
    assert await env.process(record) is ProcessResult.DONE
    [(dl_key, dl_value, headers)] = env.publisher.dead_letters()
    assert (dl_key, dl_value) == (key, value)
    assert headers["dlq.reason"] in {"undecodable", "invalid_event"}


@pytest.mark.parametrize("team", ["none", "inactive"])
@pytest.mark.parametrize("other", ["team", "candidate"])
async def test_event_not_matching_its_key_is_declined(team: str, other: str) -> None:
    """An event whose data.team_id or candidate id is not the key's is not settled; process()
    then dead-letters it."""
    env = fast_env(team)
    mine = env.event("candidate.added")
    cand = env.gen.candidate("globex", 1) if other == "team" else env.gen.candidate(TEAM, 2)
    theirs = env.event("candidate.added", cand)
    assert theirs.key != mine.key
    record = env.record(mine.key, theirs.value)
    assert_declined(env, record)
    assert await env.process(record) is ProcessResult.DONE
    [(_, _, headers)] = env.publisher.dead_letters()
    assert headers["dlq.reason"] == "invalid_event"


@pytest.mark.parametrize("team", ["none", "inactive"])
async def test_full_producer_queue_is_declined(team: str) -> None:
    """When the producer refuses the outcome (queue full), the event is not settled and not
    counted; process() then publishes its outcome the ordinary way."""
    publisher = FullQueuePublisher()
    env = fast_env(team, publisher)
    sample = env.event("candidate.added")
    record = env.record(sample.key, sample.value)
    done = Done()
    assert env.processor.settle_now(record, done) is False
    assert publisher.refused == 1
    await let_loop_run()
    assert done.calls == 0
    assert publisher.sent == []
    assert event_counts(env) == 0
    assert await env.process(record) is ProcessResult.DONE
    [outcome] = publisher.outcomes()
    assert (outcome["outcome"], outcome["reason"]) == ("skipped", "integration_inactive")


# ---- delivery failures --------------------------------------------------------------------------


@pytest.mark.parametrize("error", [KafkaUnavailable("timed out"), PublishError("refused")],
                         ids=["unavailable", "refused"])
async def test_failed_delivery_is_sent_again_then_done(error: KafkaAdapterError) -> None:
    """A delivery that failed (other than a closed producer) re-sends the same outcome, and
    the completion callback is called once that send succeeded."""
    publisher = HeldPublisher()
    publisher.fail_first = 1  # the first re-send fails too
    env = fast_env("inactive", publisher)
    sample = env.event("candidate.added")
    done = Done(watch=lambda: len(publisher.sent))
    assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    [(_, _, produced_value)] = publisher.produced
    publisher.deliver(error)
    assert done.calls == 0
    async with asyncio.timeout(5):
        while not done.calls:
            await asyncio.sleep(0.001)
    assert done.seen == [1]  # called once the re-send was accepted
    assert publisher.attempts == 2
    assert publisher.sent == [(TOPICS.outcomes, sample.key, produced_value, None)]
    assert env.sample("outcome_publish_failures_total") == 2
    await let_loop_run()
    assert done.calls == 1


async def test_failed_future_delivery_is_sent_again() -> None:
    """With the plain fake producer, a first delivery that fails is followed by a re-send and
    one completion."""
    env = fast_env("none", FakePublisher(fail_first=1))
    sample = env.event("candidate.added")
    done = Done()
    assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    async with asyncio.timeout(5):
        while not done.calls:
            await asyncio.sleep(0.001)
    assert env.publisher.attempts == 2
    assert len(env.publisher.outcomes()) == 1
    assert done.calls == 1


async def test_closed_producer_never_completes() -> None:
    """When delivery reports the producer closed, nothing is re-sent and the completion
    callback is never called (the offset stays uncommitted)."""
    publisher = HeldPublisher()
    env = fast_env("inactive", publisher)
    sample = env.event("candidate.added")
    done = Done()
    assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    publisher.deliver(KafkaClosed("closed"))
    await asyncio.sleep(0.05)
    await let_loop_run()
    assert done.calls == 0
    assert publisher.sent == []
    assert publisher.attempts == 0
    assert env.sample("outcome_publish_failures_total") == 0


async def test_failed_deliveries_are_sent_again_in_order_and_hold_back_the_rest() -> None:
    """Outcomes whose delivery failed are sent again in the order they failed; until they are,
    no event is settled at once and process() does not start, so nothing of the same candidate
    overtakes them; afterwards events settle at once again."""
    publisher = HeldPublisher()
    env = fast_env("inactive", publisher)
    first, second = env.event("candidate.added"), env.event("candidate.interested")
    dones = [Done(), Done()]
    for sample, done in zip((first, second), dones, strict=True):
        assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    publisher.deliver(PublishError("_MSG_TIMED_OUT: delivery timed out"))

    third = env.event("candidate.not_interested")
    assert env.processor.settle_now(env.record(third.key, third.value), Done()) is False
    waiting = asyncio.ensure_future(env.processor.process(env.record(third.key, third.value)))
    async with asyncio.timeout(5):
        while dones[1].calls == 0:
            await asyncio.sleep(0.001)
    # The two failed outcomes went out again, in their order, each completed once.
    sent_ids = [json.loads(v or b"")["event_id"] for t, _, v, _ in publisher.sent
                if t == TOPICS.outcomes]
    assert sent_ids[:2] == [first.event_id, second.event_id]
    assert [d.calls for d in dones] == [1, 1]
    async with asyncio.timeout(5):
        assert await waiting is ProcessResult.DONE
    assert [json.loads(v or b"")["event_id"] for t, _, v, _ in publisher.sent
            if t == TOPICS.outcomes] == [first.event_id, second.event_id, third.event_id]
    fourth = env.event("candidate.unsubscribed")
    assert env.processor.settle_now(env.record(fourth.key, fourth.value), Done()) is True


async def test_a_settings_version_past_64_bits_still_gets_its_outcome() -> None:
    """A settings version too large for the fast JSON encoder: the outcome is built by the
    model instead, and carries the version."""
    publisher = HeldPublisher()
    env = Env()
    env.set_settings(version=2**64 + 5, active=False)
    env.store = UntouchableStore()  # type: ignore[assignment]
    env.publisher = publisher
    env.processor = env.build()
    sample = env.event("candidate.added")
    assert env.processor.settle_now(env.record(sample.key, sample.value), Done()) is True
    _, _, value = publisher.produced[0]
    outcome = json.loads(value or b"")
    assert outcome["policy_version"] == 2**64 + 5
    assert (outcome["outcome"], outcome["reason"]) == ("skipped", "integration_inactive")


async def test_a_resend_that_fails_again_is_tried_again_and_a_closed_producer_stops_it() -> None:
    """Outcomes sent again are retried until the producer takes them, each completed once;
    once the producer reports itself closed, the resending stops and their events stay
    uncompleted."""
    publisher = HeldPublisher()
    env = fast_env("inactive", publisher)
    samples = [env.event("candidate.added"), env.event("candidate.interested")]
    dones = [Done(), Done()]
    for sample, done in zip(samples, dones, strict=True):
        assert env.processor.settle_now(env.record(sample.key, sample.value), done) is True
    publisher.fail_first = publisher.attempts + 1  # the first resend fails once more
    publisher.deliver(PublishError("_MSG_TIMED_OUT: delivery timed out"))
    async with asyncio.timeout(5):
        while not all(d.calls for d in dones):
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    assert [d.calls for d in dones] == [1, 1]
    assert sorted(json.loads(v or b"")["event_id"] for t, _, v, _ in publisher.sent
                  if t == TOPICS.outcomes) == sorted(s.event_id for s in samples)
    assert env.sample("outcome_publish_failures_total") >= 2

    # Now the producer closes while an outcome waits to be sent again.
    later, done = env.event("candidate.unsubscribed"), Done()
    assert env.processor.settle_now(env.record(later.key, later.value), done) is True

    def closed(*_: object, **__: object) -> None:
        raise KafkaClosed("the producer is closed")

    publisher.send_nowait = closed  # type: ignore[method-assign, assignment]
    publisher.deliver(PublishError("_MSG_TIMED_OUT: delivery timed out"))
    await asyncio.sleep(0.05)
    assert done.calls == 0
    resender = env.processor._resender
    assert resender is not None
    assert resender.done()
