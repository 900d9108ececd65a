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

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
ID_BASE: Final = "https://schemas.sourcewhale.com/pinpoint-sync/"

EVENTS_TOPIC: Final = "sourcewhale.campaign-events"
SETTINGS_TOPIC: Final = "sourcewhale.team-settings"
OUTCOMES_TOPIC: Final = "pinpoint-sync.outcomes"
DLQ_TOPIC: Final = "pinpoint-sync.dlq"

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


def _finish(schema: dict[str, Any], name: str, title: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": SCHEMA_DIALECT, "$id": ID_BASE + name}
    if title:
        schema["title"] = title
    out.update(schema)
    return out


def generate() -> dict[str, dict[str, Any]]:
    """Every schema file: relative path → JSON document."""
    files: dict[str, dict[str, Any]] = {}
    envelope = TypeAdapter(AnyCampaignEvent).json_schema()
    envelope["description"] = (
        "A SourceWhale campaign event (CloudEvents 1.0, structured JSON mode); one per record of "
        f'{EVENTS_TOPIC}, record key "{{team_id}}:{{candidate_id}}". Unknown extra attributes '
        "are tolerated."
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
    files["asyncapi.json"] = asyncapi()
    return files


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the four topics."""
    key_string = {"type": "string"}
    headers = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text}
            for name, text in {**DLQ_HEADERS, **DLQ_OPTIONAL_HEADERS}.items()
        },
        "required": list(DLQ_HEADERS),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "pinpoint-sync",
            "version": "1.0.0",
            "description": (
                "The event-driven worker that keeps Pinpoint in step with SourceWhale campaign "
                "activity: the topics it reads and writes."
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
            },
            "outcomes": {
                "address": OUTCOMES_TOPIC,
                "description": "One outcome record per processed event, keyed as the event.",
                "messages": {"outcome": {"$ref": "#/components/messages/outcome"}},
            },
            "deadLetters": {
                "address": DLQ_TOPIC,
                "description": "Events that could not be processed: the original key and value "
                "bytes unchanged, with the reason and source coordinates in headers.",
                "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
            },
        },
        "operations": {
            "consumeCampaignEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/campaignEvents"},
                "messages": [{"$ref": "#/channels/campaignEvents/messages/campaignEvent"}],
            },
            "consumeTeamSettings": {
                "action": "receive",
                "channel": {"$ref": "#/channels/teamSettings"},
                "messages": [{"$ref": "#/channels/teamSettings/messages/teamSettings"}],
            },
            "publishOutcomes": {
                "action": "send",
                "channel": {"$ref": "#/channels/outcomes"},
                "messages": [{"$ref": "#/channels/outcomes/messages/outcome"}],
            },
            "publishDeadLetters": {
                "action": "send",
                "channel": {"$ref": "#/channels/deadLetters"},
                "messages": [{"$ref": "#/channels/deadLetters/messages/deadLetter"}],
            },
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
                    "bindings": {
                        "kafka": {
                            "key": {
                                **key_string,
                                "pattern": "^[^:]+:.+$",
                                "description": "{team_id}:{candidate_id} (UTF-8)",
                            },
                            "bindingVersion": "0.5.0",
                        }
                    },
                },
                "teamSettings": {
                    "name": "TeamSettings",
                    "payload": {
                        "oneOf": [
                            {"$ref": "team-settings.schema.json"},
                            {"type": "null", "description": "tombstone"},
                        ]
                    },
                    "bindings": {
                        "kafka": {
                            "key": {**key_string, "description": "team_id"},
                            "bindingVersion": "0.5.0",
                        }
                    },
                },
                "outcome": {
                    "name": "OutcomeRecord",
                    "payload": {"$ref": "outcome-record.schema.json"},
                    "bindings": {
                        "kafka": {
                            "key": {**key_string, "description": "the event's key"},
                            "bindingVersion": "0.5.0",
                        }
                    },
                },
                "deadLetter": {
                    "name": "DeadLetter",
                    "contentType": "application/octet-stream",
                    "headers": headers,
                    "payload": {"description": "the original record value, bytes unchanged"},
                    "bindings": {
                        "kafka": {
                            "key": {
                                **key_string,
                                "description": "the original record key, unchanged",
                            },
                            "bindingVersion": "0.5.0",
                        }
                    },
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
