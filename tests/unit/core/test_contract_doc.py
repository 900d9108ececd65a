"""docs/contracts.md names every value of the published enums and every header of the topics."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest

from worker.core.enums import ActionKind, ActionStatus, Channel, EventType, Outcome, Reason
from worker.core.schemagen import DLQ_HEADERS, REPLAY_HEADERS, asyncapi
from worker.core.status import TeamStatus

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[3] / "docs" / "contracts.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("enum", [Outcome, Reason, ActionKind, ActionStatus, TeamStatus,
                                  EventType, Channel])
def test_every_enum_value_is_documented(enum: type[Enum]) -> None:
    """Each value a record may carry appears, quoted as code, in docs/contracts.md."""
    missing = [m.value for m in enum if f"`{m.value}`" not in DOC]
    assert missing == []


def test_every_header_and_topic_is_documented() -> None:
    """Each dlq.* and replay.* header and each topic of the AsyncAPI document is documented."""
    missing = [h for h in (*DLQ_HEADERS, *REPLAY_HEADERS) if f"`{h}`" not in DOC]
    missing += [c["address"] for c in asyncapi()["channels"].values()
                if f"`{c['address']}`" not in DOC]
    assert missing == []


def test_every_command_is_documented() -> None:
    """The command line's commands all have a row, with the exit codes 0, 1 and 2."""
    for command in ("run", "replay", "dlq", "settings", "schemas", "store", "simulator", "dev",
                    "kafka"):
        assert f"| `{command}` |" in DOC, command
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in DOC
