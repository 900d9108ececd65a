"""SettingsCache: versions, tombstones, invalid documents, key mismatches, the listener."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.core.settings import TeamSettings
from worker.runtime.settings_cache import SettingsCache, SettingsChange

pytestmark = pytest.mark.unit


def doc(team_id: str = "acme", version: int = 1, **extra: Any) -> bytes:
    """A valid settings document's bytes."""
    body: dict[str, Any] = {
        "schema_version": 1, "team_id": team_id, "version": version,
        "integration": {"active": True, "subdomain": team_id, "api_key_ref": f"{team_id}-key"},
    }
    body.update(extra)
    return json.dumps(body).encode()


def test_first_document_is_applied() -> None:
    """A team's first valid document becomes its settings."""
    cache = SettingsCache()
    assert cache.apply("acme", doc(version=3)) is SettingsChange.APPLIED
    settings = cache.get("acme")
    assert settings is not None
    assert settings.version == 3
    assert cache.teams() == 1
    assert cache.get("other") is None


def test_newer_and_equal_versions_replace() -> None:
    """A higher version replaces; an equal one (a re-publish) is applied too."""
    cache = SettingsCache()
    cache.apply("acme", doc(version=1))
    assert cache.apply("acme", doc(version=2, sync={"sync_upon": "replied"})) \
        is SettingsChange.APPLIED
    assert cache.apply("acme", doc(version=2, sync={"sync_upon": "interested"})) \
        is SettingsChange.APPLIED
    settings = cache.get("acme")
    assert settings is not None
    assert settings.sync.sync_upon.value == "interested"


def test_lower_version_is_ignored() -> None:
    """A version lower than the held one changes nothing."""
    cache = SettingsCache()
    cache.apply("acme", doc(version=5))
    with capture_logs() as logs:
        assert cache.apply("acme", doc(version=4)) is SettingsChange.STALE_IGNORED
    settings = cache.get("acme")
    assert settings is not None
    assert settings.version == 5
    assert logs[-1]["event"] == "settings_stale"
    assert logs[-1]["held_version"] == 5


def test_tombstone_removes_the_team() -> None:
    """A null value removes the team; a later document may bring it back at any version."""
    cache = SettingsCache()
    cache.apply("acme", doc(version=7))
    assert cache.apply("acme", None) is SettingsChange.REMOVED
    assert cache.get("acme") is None
    assert cache.teams() == 0
    assert cache.apply("acme", doc(version=1)) is SettingsChange.APPLIED


def test_tombstone_for_unknown_team_is_harmless() -> None:
    """Removing a team that has no settings reports removed and changes nothing."""
    cache = SettingsCache()
    assert cache.apply("ghost", None) is SettingsChange.REMOVED
    assert cache.teams() == 0


@pytest.mark.parametrize("raw", [
    b"{not json", b"\xff\xfe", b"[]",
    json.dumps({"team_id": "acme", "version": 9, "sync": {"sync_upon": "never"}}).encode(),
    json.dumps({"team_id": "acme", "version": 9, "integration": {"active": True}}).encode(),
])
def test_invalid_document_keeps_previous(raw: bytes) -> None:
    """An invalid document is logged with its reason and ignored; the held settings stay."""
    cache = SettingsCache()
    cache.apply("acme", doc(version=2))
    with capture_logs() as logs:
        assert cache.apply("acme", raw) is SettingsChange.INVALID_IGNORED
    settings = cache.get("acme")
    assert settings is not None
    assert settings.version == 2
    assert logs[-1]["event"] == "settings_invalid"
    assert logs[-1]["log_level"] == "warning"
    assert logs[-1]["kept_version"] == 2
    assert logs[-1]["reason"]


def test_invalid_log_holds_no_secret_values() -> None:
    """The invalid-settings log line never carries the document's values."""
    cache = SettingsCache()
    raw = json.dumps({"team_id": "acme", "version": 1,
                      "integration": {"active": True, "subdomain": "acme",
                                      "api_key_ref": "../../sekrit-value"}}).encode()
    with capture_logs() as logs:
        assert cache.apply("acme", raw) is SettingsChange.INVALID_IGNORED
    assert "sekrit-value" not in repr(logs)


def test_key_must_match_document_team() -> None:
    """A document whose team_id is not the record key is ignored."""
    cache = SettingsCache()
    cache.apply("acme", doc("acme", version=1))
    with capture_logs() as logs:
        assert cache.apply("acme", doc("globex", version=9)) \
            is SettingsChange.TEAM_MISMATCH_IGNORED
    settings = cache.get("acme")
    assert settings is not None
    assert (settings.team_id, settings.version) == ("acme", 1)
    assert cache.get("globex") is None
    assert logs[-1]["event"] == "settings_team_mismatch"


def test_listener_sees_each_change() -> None:
    """The listener is called with old and new settings on apply and remove, not on ignores."""
    seen: list[tuple[str, int | None, int | None]] = []

    def listener(team_id: str, old: TeamSettings | None, new: TeamSettings | None) -> None:
        seen.append((team_id, old.version if old else None, new.version if new else None))

    cache = SettingsCache(listener)
    cache.apply("acme", doc(version=1))
    cache.apply("acme", doc(version=2))
    cache.apply("acme", doc(version=1))
    cache.apply("acme", b"junk")
    cache.apply("acme", None)
    cache.apply("acme", None)
    assert seen == [("acme", None, 1), ("acme", 1, 2), ("acme", 2, None)]
    assert cache.changes[SettingsChange.APPLIED] == 2
    assert cache.changes[SettingsChange.REMOVED] == 2


def test_reader_thread_sees_consistent_settings() -> None:
    """Readers on another thread only ever see whole documents while a writer applies."""
    cache = SettingsCache()
    stop = threading.Event()
    bad: list[object] = []

    def read() -> None:
        while not stop.is_set():
            settings = cache.get("acme")
            if settings is not None and settings.team_id != "acme":
                bad.append(settings)

    reader = threading.Thread(target=read)
    reader.start()
    for version in range(300):
        cache.apply("acme", doc(version=version))
    stop.set()
    reader.join()
    assert not bad
    settings = cache.get("acme")
    assert settings is not None
    assert settings.version == 299
