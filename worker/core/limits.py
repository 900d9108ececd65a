"""Limits of the campaign event contract (`worker/core/events.py`), in a module of their own so
that the fast check of events (`worker/core/_event_check.py`) states the same numbers."""

from __future__ import annotations

from typing import Final

MAX_EVENT_BYTES: Final = 1_048_576
"""Largest accepted record value (1 MiB, Kafka's default maximum message size)."""
EVENT_RECORD_HEADROOM: Final = 16_384
"""Room beside an event's value for its key, headers and Kafka's record framing: the events
topic the worker creates accepts records up to ``MAX_EVENT_BYTES`` plus this."""
EVENTS_TOPIC_MAX_BYTES: Final = MAX_EVENT_BYTES + EVENT_RECORD_HEADROOM
"""``max.message.bytes`` of the events topic the worker creates."""
DEAD_LETTER_HEADROOM: Final = 65_536
"""Room a dead letter adds to its event's record: the ``dlq.*`` headers (the error text is cut
at 2,000 characters, up to 8,000 bytes of UTF-8) with a wide margin."""
MAX_DEAD_LETTER_BYTES: Final = EVENTS_TOPIC_MAX_BYTES + DEAD_LETTER_HEADROOM
"""``max.message.bytes`` of the dead-letter topic the worker creates, and the largest record
its producer sends: any record the events topic accepted fits, with its ``dlq.*`` headers.
Larger records (an events topic configured above it) are dead-lettered as a digest."""
MAX_NESTING: Final = 32
"""Deepest nesting of JSON objects and arrays a valid event may have (it needs 4 levels);
unknown extra attributes nesting deeper are tolerated up to the parser's recursion limit."""
MAX_ID: Final = 256
"""Longest id (event, team, user, campaign, candidate, job)."""
MAX_SHORT_TEXT: Final = 2_048
"""Longest name, title, e-mail, phone, URL, subject or variable value."""
MAX_LONG_TEXT: Final = 100_000
"""Longest step body or reply snippet."""
MAX_ITEMS: Final = 200
"""Most items in a list (e-mails, phones, changed fields, a list variable's values)."""
MAX_ENTRIES: Final = 500
"""Most entries in a map (social profiles, variables, tagged fields)."""
