"""Runtime fault injection: draws the fate of each tenant API request from a FaultConfig."""

from __future__ import annotations

import enum
import random
from collections import deque

from worker.simulator.specs import FaultConfig


class Fate(enum.Enum):
    """What happens to one request before (or after) it is handled."""

    NORMAL = "normal"
    ERROR = "error"
    TIMEOUT = "timeout"
    LOST_RESPONSE = "lost_response"
    RATE_LIMITED = "rate_limited"
    LATE_WRITE = "late_write"


class FaultState:
    """A FaultConfig plus the counters it consumes (429 bursts, scripted outcomes)."""

    def __init__(self, config: FaultConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self.burst_left = config.burst_429
        self.script: deque[int | str] = deque(config.script)

    def latency_seconds(self) -> float:
        """Latency to add to this request."""
        cfg = self.config
        if cfg.latency_ms == 0 and cfg.jitter_ms == 0:
            return 0.0
        return (cfg.latency_ms + self._rng.uniform(0, cfg.jitter_ms)) / 1000.0

    def _scripted(self) -> tuple[Fate, int]:
        item = self.script.popleft()
        if isinstance(item, str):
            return Fate(item), 0
        if item == 429:
            return Fate.RATE_LIMITED, 429
        return (Fate.ERROR, item) if item >= 400 else (Fate.NORMAL, 0)

    def draw(self) -> tuple[Fate, int]:
        """The fate of the next request, and the status code for ERROR."""
        if self.script:
            return self._scripted()
        cfg = self.config
        fate, status = Fate.NORMAL, 0
        if self.burst_left > 0:
            self.burst_left -= 1
            fate, status = Fate.RATE_LIMITED, 429
        elif cfg.error_rate and self._rng.random() < cfg.error_rate:
            fate, status = Fate.ERROR, cfg.error_status
        elif cfg.timeout_rate and self._rng.random() < cfg.timeout_rate:
            fate = Fate.TIMEOUT
        elif cfg.lost_response_rate and self._rng.random() < cfg.lost_response_rate:
            fate = Fate.LOST_RESPONSE
        elif cfg.late_write_rate and self._rng.random() < cfg.late_write_rate:
            fate = Fate.LATE_WRITE
        return fate, status

    def describe(self) -> dict[str, object]:
        """The configuration with the counters still to be consumed."""
        out: dict[str, object] = self.config.model_dump(mode="json")
        out["burst_429_left"] = self.burst_left
        out["script_left"] = list(self.script)
        return out
