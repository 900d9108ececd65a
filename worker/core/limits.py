"""Limits of the campaign event contract (`worker/core/events.py`), in a module of their own so
that the fast check of events (`worker/core/_event_check.py`) states the same numbers."""

from __future__ import annotations

from typing import Final

MAX_EVENT_BYTES: Final = 1_048_576
"""Largest accepted record value (1 MiB, Kafka's default maximum message size)."""
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
