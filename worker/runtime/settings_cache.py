"""Every team's settings in memory, fed record by record from the settings topic (DESIGN 5.2).

`SettingsCache.apply` takes one record of the compacted settings topic (key ``team_id``, value
the JSON document or None for a tombstone) and says what it did with a `SettingsChange`:

- a valid document whose ``version`` is at least the held one replaces it (an equal version is
  a harmless re-publish and is applied; only a strictly lower one is stale);
- a tombstone removes the team (its events are then skipped as ``integration_inactive``);
- an invalid document is logged and ignored: the team keeps its previous settings;
- a document whose ``team_id`` differs from the record key is ignored (it would let one team's
  record overwrite another's settings).

Threading: one writer (the settings follower's thread) calls `apply`; readers on the asyncio
thread call `get`. Both take a short lock. The optional ``listener(team_id, old, new)`` is
called on the writer's thread after each change that was applied or removed something, outside
the lock; a listener that touches asyncio state must hop over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from enum import StrEnum

import structlog

from worker.core.errors import InvalidSettings
from worker.core.settings import TeamSettings, parse_settings

log = structlog.get_logger(__name__)

Listener = Callable[[str, TeamSettings | None, TeamSettings | None], None]
Parser = Callable[[bytes], TeamSettings]


class SettingsChange(StrEnum):
    """What `SettingsCache.apply` did with one settings record."""

    APPLIED = "applied"
    """The document is now the team's settings (new team, newer or equal version)."""
    REMOVED = "removed"
    """A tombstone: the team has no settings any more (also when it had none)."""
    STALE_IGNORED = "stale_ignored"
    """The document's version is lower than the held one; the held settings stay."""
    INVALID_IGNORED = "invalid_ignored"
    """The document is invalid; the held settings (if any) stay."""
    TEAM_MISMATCH_IGNORED = "team_mismatch_ignored"
    """The document's ``team_id`` is not the record key; ignored."""


class SettingsCache:
    """Team id → `TeamSettings`, applying records of the settings topic in order."""

    def __init__(self, listener: Listener | None = None, *,
                 parser: Parser = parse_settings) -> None:
        self._settings: dict[str, TeamSettings] = {}
        self._lock = threading.Lock()
        self._listener = listener
        self._parse = parser
        self.changes: Counter[SettingsChange] = Counter()
        """How many records ended in each `SettingsChange` (for metrics and logs)."""

    def apply(self, team_id: str, raw: bytes | None) -> SettingsChange:
        """Apply one record: ``raw`` is the document's bytes, or None for a tombstone."""
        if raw is None:
            with self._lock:
                old = self._settings.pop(team_id, None)
            change = self._count(SettingsChange.REMOVED)
            log.info("settings_removed", team_id=team_id, held=old is not None)
            if old is not None:
                self._notify(team_id, old, None)
            return change
        try:
            settings = self._parse(raw)
        except InvalidSettings as exc:
            with self._lock:
                held = self._settings.get(team_id)
            log.warning("settings_invalid", team_id=team_id, reason=exc.reason.value,
                        detail=exc.detail,
                        kept_version=held.version if held is not None else None)
            return self._count(SettingsChange.INVALID_IGNORED)
        if settings.team_id != team_id:
            log.warning("settings_team_mismatch", team_id=team_id,
                        document_team_id=settings.team_id, version=settings.version)
            return self._count(SettingsChange.TEAM_MISMATCH_IGNORED)
        with self._lock:
            old = self._settings.get(team_id)
            stale = old is not None and settings.version < old.version
            if not stale:
                self._settings[team_id] = settings
        if stale:
            assert old is not None
            log.info("settings_stale", team_id=team_id, version=settings.version,
                     held_version=old.version)
            return self._count(SettingsChange.STALE_IGNORED)
        log.info("settings_applied", team_id=team_id, version=settings.version,
                 active=settings.integration.active,
                 previous_version=old.version if old is not None else None)
        self._notify(team_id, old, settings)
        return self._count(SettingsChange.APPLIED)

    def get(self, team_id: str) -> TeamSettings | None:
        """The team's current settings, or None when it has none.

        Called for every event, without the lock: one dictionary read is atomic, and writers
        replace a team's entry whole (the lock orders writers among themselves)."""
        return self._settings.get(team_id)

    def teams(self) -> int:
        """How many teams have settings."""
        with self._lock:
            return len(self._settings)

    def team_ids(self) -> list[str]:
        """The ids of the teams that have settings, sorted."""
        with self._lock:
            return sorted(self._settings)

    def _count(self, change: SettingsChange) -> SettingsChange:
        self.changes[change] += 1
        return change

    def _notify(self, team_id: str, old: TeamSettings | None, new: TeamSettings | None) -> None:
        if self._listener is not None:
            self._listener(team_id, old, new)
