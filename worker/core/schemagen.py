"""JSON Schemas and the AsyncAPI document of pinpoint-sync's contracts, generated from the models.

`write_schemas(out_dir)` (re)writes `schemas/`; `check_schemas(out_dir)` lists the files that
differ from what the models generate (a unit test keeps the checked-in files in step). Output is
deterministic: sorted where order is free, two-space indented, one trailing newline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from worker.core.enums import Reason
from worker.core.events import EVENT_MODELS, AnyCampaignEvent, CampaignEvent
from worker.core.outcome import OutcomeRecord
from worker.core.settings import TeamSettings
from worker.core.status import TeamStatusRecord

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
ID_BASE: Final = "https://schemas.sourcewhale.com/pinpoint-sync/"

EVENTS_TOPIC: Final = "sourcewhale.campaign-events"
SETTINGS_TOPIC: Final = "sourcewhale.team-settings"
OUTCOMES_TOPIC: Final = "pinpoint-sync.outcomes"
DLQ_TOPIC: Final = "pinpoint-sync.dlq"
REPLAY_TOPIC: Final = "pinpoint-sync.replay"
STATUS_TOPIC: Final = "pinpoint-sync.team-status"
ASYNCAPI_VERSION: Final = "3.1.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"

DLQ_HEADERS: Final = {
    "dlq.reason": "the dead-letter reason code ("
    + ", ".join(
        r.value
        for r in (
            Reason.INVALID_EVENT,
            Reason.UNDECODABLE,
            Reason.PINPOINT_INVALID,
            Reason.RETRIES_EXHAUSTED,
        )
    )
    + ")",
    "dlq.error": "what was wrong: the field(s) and problem, or Pinpoint's error detail",
    "dlq.source.topic": "the topic the record was read from",
    "dlq.source.partition": "its partition (decimal)",
    "dlq.source.offset": "its offset (decimal)",
    "dlq.attempts": "how many times processing was attempted (decimal)",
    "dlq.first_failed_at": "when the first attempt failed (RFC 3339, UTC)",
}
DLQ_OPTIONAL_HEADERS: Final = {
    "dlq.truncated": "only on a dead letter too large for the dead-letter topic: `true`, and "
    "the value is a JSON digest of the original (size, sha256, head_base64) instead of its bytes",
    "dlq.original.size": "with dlq.truncated: the original value's size in bytes (decimal)",
}

REPLAY_HEADERS: Final = {
    "replay.id": "the replay (or redrive) this record belongs to; its outcome carries it as "
    "replay_id",
    "replay.source.topic": "the topic the original record was read from",
    "replay.source.partition": "its partition (decimal)",
    "replay.source.offset": "its offset (decimal)",
}

_DECIMAL: Final = "^(?:0|[1-9][0-9]*)$"
_DECIMAL_HEADERS: Final = frozenset({
    "dlq.source.partition", "dlq.source.offset", "dlq.attempts",
    "replay.source.partition", "replay.source.offset", "dlq.original.size",
})


def _finish(schema: dict[str, Any], name: str, title: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": SCHEMA_DIALECT, "$id": ID_BASE + name}
    if title:
        schema["title"] = title
    out.update(schema)
    return out


def _without_discriminator(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with pydantic's OpenAPI-style `discriminator` removed everywhere.

    JSON Schema has no such keyword (AsyncAPI gives it another meaning, a property name, and
    its parser refuses the OpenAPI object); the `oneOf` stays, and each branch holds its own
    `type` constant, so exactly one branch matches an event.
    """
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "discriminator"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    stripped: dict[str, Any] = strip(schema)
    return stripped


def generate() -> dict[str, dict[str, Any]]:
    """Every schema file: relative path → JSON document."""
    files: dict[str, dict[str, Any]] = {}
    envelope = _without_discriminator(TypeAdapter(AnyCampaignEvent).json_schema())
    envelope["description"] = (
        "A SourceWhale campaign event (CloudEvents 1.0, structured JSON mode); one per record of "
        f'{EVENTS_TOPIC}, record key "{{team_id}}:{{candidate_id}}". The `type` attribute '
        "selects the one schema of `oneOf` that matches. Unknown extra attributes are tolerated."
    )
    files["campaign-event.schema.json"] = _finish(
        envelope, "campaign-event.schema.json", "CampaignEvent"
    )
    generic = CampaignEvent.model_json_schema()
    files["campaign-event-envelope.schema.json"] = _finish(
        generic, "campaign-event-envelope.schema.json", "CampaignEventEnvelope"
    )
    for event_type, model in EVENT_MODELS.items():
        name = f"events/{event_type.value}.schema.json"
        files[name] = _finish(model.model_json_schema(), name)
    files["team-settings.schema.json"] = _finish(
        TeamSettings.model_json_schema(), "team-settings.schema.json"
    )
    files["outcome-record.schema.json"] = _finish(
        OutcomeRecord.model_json_schema(mode="serialization"), "outcome-record.schema.json"
    )
    files["team-status-record.schema.json"] = _finish(
        TeamStatusRecord.model_json_schema(mode="serialization"),
        "team-status-record.schema.json",
    )
    files["asyncapi.json"] = asyncapi()
    return files


def _headers(described: dict[str, str], required: list[str]) -> dict[str, Any]:
    """A Kafka headers schema: every header a UTF-8 string (decimal numbers where counted)."""
    properties: dict[str, Any] = {}
    for name, text in described.items():
        header: dict[str, Any] = {"type": "string", "description": text}
        if name in _DECIMAL_HEADERS:
            header["pattern"] = _DECIMAL
        properties[name] = header
    return {"type": "object", "properties": properties, "required": required}


def _kafka_key(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": description, **extra},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _compacted(topic: str) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic,
            "topicConfiguration": {"cleanup.policy": ["compact"]},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _operation(action: str, channel: str, message: str, summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "summary": summary,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
    }


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI document of the six topics the worker reads and writes."""
    unchanged = "the original record value, bytes unchanged"
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "pinpoint-sync",
            "version": "1.0.0",
            "description": (
                "The event-driven worker that keeps Pinpoint in step with SourceWhale campaign "
                "activity: the topics it reads and writes. Every contract is described in the "
                "project's docs/contracts.md."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {
            "campaignEvents": {
                "address": EVENTS_TOPIC,
                "description": "Campaign events, keyed per candidate; order per key is kept.",
                "messages": {"campaignEvent": {"$ref": "#/components/messages/campaignEvent"}},
            },
            "teamSettings": {
                "address": SETTINGS_TOPIC,
                "description": "Compacted: the latest settings document per team; a tombstone "
                "(null value) removes the integration.",
                "messages": {"teamSettings": {"$ref": "#/components/messages/teamSettings"}},
                "bindings": _compacted(SETTINGS_TOPIC),
            },
            "outcomes": {
                "address": OUTCOMES_TOPIC,
                "description": "One outcome record per processed event, keyed as the event; "
                "published at least once (consumers dedupe on event_id and replay_id).",
                "messages": {"outcome": {"$ref": "#/components/messages/outcome"}},
            },
            "deadLetters": {
                "address": DLQ_TOPIC,
                "description": "Events that could not be processed: the original key and value "
                "bytes unchanged, with the reason and source coordinates in headers.",
                "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
            },
            "replay": {
                "address": REPLAY_TOPIC,
                "description": "Replayed events and redriven dead letters (`pinpoint-sync replay "
                "--apply`, `pinpoint-sync dlq redrive --apply`): the original key and value "
                "bytes unchanged, keyed and partitioned like the events topic; the workers "
                "decide them again and apply them through the ledger.",
                "messages": {"replayed": {"$ref": "#/components/messages/replayed"}},
            },
            "teamStatus": {
                "address": STATUS_TOPIC,
                "description": "Compacted: each team's status (connected, paused and why), "
                "published when it changes. No key, e-mail address or candidate data.",
                "messages": {"teamStatus": {"$ref": "#/components/messages/teamStatus"}},
                "bindings": _compacted(STATUS_TOPIC),
            },
        },
        "operations": {
            "consumeCampaignEvents": _operation(
                "receive", "campaignEvents", "campaignEvent", "The worker applies each event."
            ),
            "consumeTeamSettings": _operation(
                "receive", "teamSettings", "teamSettings", "The worker follows every team's "
                "settings."
            ),
            "publishOutcomes": _operation(
                "send", "outcomes", "outcome", "The worker says what became of each event."
            ),
            "publishDeadLetters": _operation(
                "send", "deadLetters", "deadLetter", "The worker sets aside what it cannot "
                "process."
            ),
            "publishReplay": _operation(
                "send", "replay", "replayed", "The replay and dlq commands send selected "
                "records to be decided again."
            ),
            "consumeReplay": _operation(
                "receive", "replay", "replayed", "The worker decides replayed and redriven "
                "records again."
            ),
            "publishTeamStatus": _operation(
                "send", "teamStatus", "teamStatus", "The worker publishes each team's status."
            ),
        },
        "components": {
            "messages": {
                "campaignEvent": {
                    "name": "CampaignEvent",
                    "contentType": "application/cloudevents+json",
                    "headers": {
                        "type": "object",
                        "properties": {
                            "content-type": {
                                "type": "string",
                                "const": "application/cloudevents+json",
                                "description": "recommended; records without it are accepted",
                            }
                        },
                    },
                    "payload": {"$ref": "campaign-event.schema.json"},
                    "bindings": _kafka_key(
                        "{team_id}:{candidate_id} (UTF-8)", pattern="^[^:]+:.+$"
                    ),
                },
                "teamSettings": {
                    "name": "TeamSettings",
                    "payload": {
                        "oneOf": [
                            {"$ref": "team-settings.schema.json"},
                            {"type": "null", "description": "tombstone"},
                        ]
                    },
                    "bindings": _kafka_key("team_id"),
                },
                "outcome": {
                    "name": "OutcomeRecord",
                    "payload": {"$ref": "outcome-record.schema.json"},
                    "bindings": _kafka_key("the event's key"),
                },
                "deadLetter": {
                    "name": "DeadLetter",
                    "contentType": "application/octet-stream",
                    "headers": _headers({**DLQ_HEADERS, **DLQ_OPTIONAL_HEADERS}, list(DLQ_HEADERS)),
                    "payload": {"description": unchanged},
                    "bindings": _kafka_key("the original record key, unchanged"),
                },
                "replayed": {
                    "name": "ReplayedEvent",
                    "contentType": "application/cloudevents+json",
                    "description": "A replayed event, or a redriven dead letter: then its dlq.* "
                    "headers are kept, with dlq.attempts counting this attempt.",
                    "headers": _headers({**REPLAY_HEADERS, **DLQ_HEADERS, **DLQ_OPTIONAL_HEADERS},
                                       list(REPLAY_HEADERS)),
                    "payload": {
                        "description": unchanged + " (a campaign event, or a dead letter's bytes)"
                    },
                    "bindings": _kafka_key("the original record key, unchanged"),
                },
                "teamStatus": {
                    "name": "TeamStatusRecord",
                    "payload": {"$ref": "team-status-record.schema.json"},
                    "bindings": _kafka_key("team_id"),
                },
            }
        },
    }


def render(document: dict[str, Any]) -> str:
    """The file text of a generated document."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every schema file under `out_dir`; return the paths written."""
    written: list[Path] = []
    for name, document in generate().items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def check_schemas(out_dir: Path) -> list[str]:
    """The schema files (relative to `out_dir`) that are missing, stale, or not generated."""
    expected = {name: render(doc) for name, doc in generate().items()}
    differing = []
    for name, text in expected.items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            differing.append(name)
    if out_dir.is_dir():
        for path in sorted(out_dir.rglob("*.json")):
            name = path.relative_to(out_dir).as_posix()
            if name not in expected:
                differing.append(name)
    return sorted(differing)
