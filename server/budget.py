"""Query budgets per API key, counted in images, over fixed time windows.

A caller whose request would take it past its budget gets a 429 with `Retry-After` (the
seconds until its window resets) and nothing is charged. Budgets live in memory: a restart
gives every caller a fresh window.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

ANONYMOUS = "anonymous"


@dataclass
class _Window:
    start: float
    used: int = 0


class BudgetExceeded(Exception):
    def __init__(self, retry_after: int, detail: str):
        super().__init__(detail)
        self.retry_after, self.detail = retry_after, detail


class QueryBudget:
    def __init__(self, limits: dict[str, int | None], window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limits, self.window_s, self.clock = limits, window_s, clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def charge(self, caller: str, images: int) -> int | None:
        """Charge `images` to `caller`; returns what is left (None: unlimited) or raises BudgetExceeded."""
        limit = self.limits.get(caller)
        if limit is None:
            return None
        now = self.clock()
        with self._lock:
            window = self._windows.get(caller)
            if window is None or now - window.start >= self.window_s:
                window = self._windows[caller] = _Window(now)
            if window.used + images > limit:
                retry = max(1, math.ceil(window.start + self.window_s - now))
                raise BudgetExceeded(retry, f"this request of {images} images would pass the budget of {limit} "
                                            f"images per {self.window_s:g} s ({window.used} used); "
                                            f"the window resets in {retry} s")
            window.used += images
            return limit - window.used
