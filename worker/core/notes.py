"""The text of a note (a Pinpoint comment) and its reference marker.

A note says what happened, on which channel and step, the subject and a short excerpt, in which
campaign and when, and ends with the marker `SourceWhale ref: sw-<12 hex>`. The reference is a
hash of the team and the event id: stable across redelivery and replay, so the worker can search a
record's comments for it before writing a note again, and never equal for two events.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
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
_OUTREACH_SENT: Final = EventType.OUTREACH_SENT
_REPLIED: Final = EventType.CANDIDATE_REPLIED


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
    """The comment body for `event`, ending with its reference marker.

    It runs for every note decided: the text is built by concatenation rather than from a list
    of lines, and the campaign line, the same for every note of a campaign, is memoized.
    """
    data = event.data
    kind = event.type
    body: str | None = None
    if kind is _OUTREACH_SENT and (step := data.step) is not None:
        channel = step.channel
        text = f"{CHANNEL_LABELS[channel]} {_STEP_VERBS.get(channel, 'sent')} (step {step.number})"
        subject = step.subject
        if subject and subject.strip():
            text = f"{text}\nSubject: {excerpt(subject, 200)}"
        body = step.body
    elif kind is _REPLIED and (reply := data.reply) is not None:
        text = "Replied by " + CHANNEL_LABELS[reply.channel]
        body = reply.snippet
    else:
        text = _HEADLINES[kind]
    key = (data.campaign_name, data.campaign_id)
    campaign = _CAMPAIGN_LINES.get(key)
    if campaign is None:
        campaign = _campaign_line(*key)
    text = f"{text}\n{campaign}"
    if body and (quoted := excerpt(body)):
        text = f'{text}\n"{quoted}"'
    return f"{text}\nWhen: {_utc(event.time)}\n{REF_LABEL}{ref}"


_CAMPAIGN_LINES: Final[dict[tuple[str | None, str], str]] = {}
"""Memo of `_campaign_line`: every note of a campaign has the same campaign line."""
_CAMPAIGN_LINES_LIMIT: Final = 4_096


def _campaign_line(name: str | None, campaign_id: str) -> str:
    """The `Campaign:` line of a note (its name when known, and its id), memoized."""
    if name and name.strip():
        line = f"Campaign: {excerpt(name, 200)} ({campaign_id})"
    else:
        line = f"Campaign: {campaign_id}"
    if len(_CAMPAIGN_LINES) >= _CAMPAIGN_LINES_LIMIT:
        _CAMPAIGN_LINES.clear()
    _CAMPAIGN_LINES[(name, campaign_id)] = line
    return line


def _utc(m: datetime) -> str:
    offset = m.utcoffset()
    if offset:
        m = m - offset
    return "%04d-%02d-%02d %02d:%02d UTC" % (m.year, m.month, m.day, m.hour, m.minute)  # noqa: UP031 - faster than str.format on the hot path
