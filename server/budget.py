"""Query budgets per API key, counted in images, over fixed time windows persisted in SQLite.

Invariant: a caller never gets more than its limit of images in one window, whatever the number
of threads or processes charging at once and across restarts, crashes (kill -9) and redeploys.
Each charge is one atomic conditional UPSERT: it either opens a new window, adds to the current
one, or (over the limit) changes nothing. SQLite runs in WAL mode with `synchronous=NORMAL`: a
committed charge survives the process dying; only an operating-system crash may lose the last
ones.

A caller whose request would take it past its budget gets a 429 with `Retry-After` (the seconds
until its window resets) and nothing is charged. Windows are wall-clock times (they must mean the
same thing to the next process); the clock is injectable so that tests never wait for a window.
Keys are stored as SHA-256 digests, never in clear.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

ANONYMOUS = "anonymous"
BUDGET_FILE = "budgets.sqlite3"

_SCHEMA = """CREATE TABLE IF NOT EXISTS windows (
    caller TEXT PRIMARY KEY,  -- sha256 of the API key
    start REAL NOT NULL,      -- wall-clock start of the current window, seconds since the epoch
    used INTEGER NOT NULL     -- images charged in that window
)"""

# One statement per charge. A new caller gets a row only if the request fits; an existing one gets
# a fresh window if its window is over (or lies in the future: the wall clock stepped back), else
# the images are added, and the row changes only if the result stays within the limit (the DO
# UPDATE's WHERE). RETURNING tells which happened: a row back means charged.
_CHARGE = """INSERT INTO windows (caller, start, used) SELECT :caller, :now, :images WHERE :images <= :limit
ON CONFLICT (caller) DO UPDATE SET
    start = CASE WHEN :now - start >= :window OR :now < start THEN :now ELSE start END,
    used = CASE WHEN :now - start >= :window OR :now < start THEN :images ELSE used + :images END
WHERE (CASE WHEN :now - windows.start >= :window OR :now < windows.start THEN 0 ELSE windows.used END)
      + :images <= :limit
RETURNING used"""


class BudgetExceeded(Exception):
    def __init__(self, retry_after: int, detail: str):
        super().__init__(detail)
        self.retry_after, self.detail = retry_after, detail


def _digest(caller: str) -> str:
    return hashlib.sha256(caller.encode()).hexdigest()


class QueryBudget:
    """`limits`: caller -> images per window (None: unlimited, never touches the database)."""

    def __init__(self, path: Path, limits: dict[str, int | None], window_s: float,
                 clock: Callable[[], float] = time.time):
        self.path, self.limits, self.window_s, self.clock = Path(path), limits, window_s, clock
        self._local = threading.local()  # one connection per thread: sqlite3 connections are not shared
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._connection().execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # autocommit (isolation_level=None): each statement is its own transaction; a writer that
            # finds the database locked waits up to `timeout` seconds instead of failing
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _window_over(self, start: float, now: float) -> bool:
        """The window that began at `start` is over (or lies in the future: the clock stepped back).
        The same rule as _CHARGE's CASE, for the reads that explain or report a window."""
        return now - start >= self.window_s or now < start

    def charge(self, caller: str, images: int) -> int | None:
        """Charge `images` to `caller`; returns what is left (None: unlimited) or raises BudgetExceeded."""
        limit = self.limits.get(caller)
        if limit is None:
            return None
        now = self.clock()
        key = _digest(caller)
        connection = self._connection()
        row = connection.execute(_CHARGE, {"caller": key, "now": now, "images": images, "limit": limit,
                                           "window": self.window_s}).fetchone()
        if row is not None:
            return limit - row[0]
        current = connection.execute("SELECT start, used FROM windows WHERE caller = ?", (key,)).fetchone()
        start, used = current if current is not None else (now, 0)
        if self._window_over(start, now):  # a fresh window would not hold the request either
            start, used = now, 0
        retry = min(max(1, math.ceil(start + self.window_s - now)), math.ceil(self.window_s))
        raise BudgetExceeded(retry, f"this request of {images} images would pass the budget of {limit} "
                                    f"images per {self.window_s:g} s ({used} used); "
                                    f"the window resets in {retry} s")

    def remaining(self, caller: str) -> int | None:
        """What `caller` may still use in its current window (None: unlimited); changes nothing."""
        limit = self.limits.get(caller)
        if limit is None:
            return None
        now = self.clock()
        row = self._connection().execute("SELECT start, used FROM windows WHERE caller = ?",
                                         (_digest(caller),)).fetchone()
        if row is None or self._window_over(row[0], now):
            return limit
        return limit - row[1]

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
