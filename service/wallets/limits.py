"""A per-process limit on token requests by client address: codes are 256-bit, so this only
keeps a flood from costing the database (several processes each keep their own count)."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    def __init__(self, limit: int = 30, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> float | None:
        """None if the request may go on, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self.max_clients and client not in self._seen:
                self._seen.clear()  # bounded memory under a spray of addresses
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return times[0] + self.window - now
            times.append(now)
            return None
