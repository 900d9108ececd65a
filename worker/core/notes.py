"""The text of a note (a Pinpoint comment) and its reference marker.

A note says what happened, on which channel and step, the subject and a short excerpt, in which
campaign and when, and ends with the marker `SourceWhale ref: sw-<12 hex>`. The reference is a
hash of the team and the event id: stable across redelivery and replay, so the worker can search a
record's comments for it before writing a note again, and never equal for two events.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from worker.core.enums import Channel, EventType
from worker.core.events import CampaignEvent

EXCERPT_CHARS: Final = 280
"""Longest excerpt of a step body or reply in a note."""
REF_PREFIX: Final = "sw-"
REF_LABEL: Final = "SourceWhale ref: "

CHANNEL_LABELS: Final = {
    Channel.EMAIL: "Email",
    Channel.SMS: "SMS",
    Channel.LINKEDIN_INMAIL: "LinkedIn InMail",
    Channel.LINKEDIN_CONNECTION_REQUEST: "LinkedIn connection request",
    Channel.PHONE_CALL: "Phone call",
    Channel.TASK: "Task",
}
_STEP_VERBS: Final = {Channel.PHONE_CALL: "step done", Channel.TASK: "step done"}
_HEADLINES: Final = {
    EventType.CANDIDATE_INTERESTED: "Marked as interested",
    EventType.CANDIDATE_NOT_INTERESTED: "Marked as not interested",
    EventType.CANDIDATE_UNSUBSCRIBED: "Unsubscribed from SourceWhale outreach",
    EventType.CANDIDATE_ADDED: "Added to a SourceWhale campaign",
    EventType.CANDIDATE_UPDATED: "Details updated in SourceWhale",
}
_TAGS: Final = re.compile(r"<[^>]{0,500}>")


def note_ref(team_id: str, event_id: str) -> str:
    """The short stable reference of an event's note: `sw-` and 12 hex digits."""
    digest = hashlib.sha256(f"{team_id}\x1f{event_id}".encode()).hexdigest()
    return REF_PREFIX + digest[:12]


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of `text` on one line, without markup, at most `limit` characters (with …)."""
    if not text:
        return ""
    if len(text) <= limit and text.isprintable() and "<" not in text and "  " not in text:
        return text.strip()
    head = text[: limit * 8]
    if "<" in head:
        head = _TAGS.sub(" ", head)
    head = " ".join(head.split())
    if len(head) > limit:
        return head[: limit - 1].rstrip() + "…"
    return head


def note_text(event: CampaignEvent, ref: str) -> str:
    """The comment body for `event`, ending with its reference marker."""
    data = event.data
    lines: list[str] = []
    body: str | None = None
    if event.type is EventType.OUTREACH_SENT and data.step is not None:
        step = data.step
        verb = _STEP_VERBS.get(step.channel, "sent")
        lines.append(f"{CHANNEL_LABELS[step.channel]} {verb} (step {step.number})")
        if step.subject and step.subject.strip():
            lines.append(f"Subject: {excerpt(step.subject, 200)}")
        body = step.body
    elif event.type is EventType.CANDIDATE_REPLIED and data.reply is not None:
        lines.append(f"Replied by {CHANNEL_LABELS[data.reply.channel]}")
        body = data.reply.snippet
    else:
        lines.append(_HEADLINES[event.type])
    if data.campaign_name and data.campaign_name.strip():
        lines.append(f"Campaign: {excerpt(data.campaign_name, 200)} ({data.campaign_id})")
    else:
        lines.append(f"Campaign: {data.campaign_id}")
    quoted = excerpt(body)
    if quoted:
        lines.append(f'"{quoted}"')
    lines.append(f"When: {_utc(event)}")
    lines.append(REF_LABEL + ref)
    return "\n".join(lines)


def _utc(event: CampaignEvent) -> str:
    m = event.time
    offset = m.utcoffset()
    if offset:
        m = m - offset
    return "%04d-%02d-%02d %02d:%02d UTC" % (m.year, m.month, m.day, m.hour, m.minute)  # noqa: UP031 - faster than str.format on the hot path
