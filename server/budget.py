"""Query budgets, counted in images over a sliding window, persisted in SQLite.

Invariant: within any span of time shorter than W·(1 − 1/SLOTS) (W: the window), a caller gets
at most its limit of images; whatever the number of threads or processes charging at once, across
restarts, crashes (kill -9) and redeploys, and whatever the wall clock does.

How: a caller's images are recorded in slots of W/SLOTS seconds (keyed by the slot's wall-clock
start). A slot counts against the limit until the clock is W past its start, so an image leaves the
window between W − W/SLOTS and W after it was charged, a slot at a time. Fixed windows let a
caller spend its limit just before a boundary and again just after (twice the limit in a moment);
here nothing comes back all at once. A slot that lies ahead of the clock (the wall clock stepped
back) still counts, until the clock has passed it by W: a clock going back never opens a fresh
window, it only delays the refill. Windows are wall-clock times because the next process must read
them the same way; the clock is injectable so that tests never wait.

Each charge is one atomic statement: an INSERT ... SELECT whose WHERE sums the caller's window and
adds the images only if the total stays within the limit (else it inserts nothing), and whose
RETURNING reports the new total. SQLite runs in WAL mode with `synchronous=NORMAL`: a committed
charge survives the process dying; only an operating-system crash may lose the last ones. Callers
are stored as SHA-256 digests of their identities, never in clear.

A request that would take its caller past the budget gets a 429 with `Retry-After` (the seconds
until enough of the window has left for it) and nothing is charged.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

BUDGET_FILE = "budgets.sqlite3"
SLOTS = 60  # slots per window: an image leaves the window at most W/60 early
PRUNE_EVERY = 1024  # charges between two deletions of slots that left every window

_SCHEMA = """CREATE TABLE IF NOT EXISTS budget_slots (
    caller TEXT NOT NULL,    -- sha256 of the caller's identity
    start REAL NOT NULL,     -- wall-clock start of the slot, seconds since the epoch
    used INTEGER NOT NULL,   -- images charged in that slot
    PRIMARY KEY (caller, start)
) WITHOUT ROWID"""

_IN_WINDOW = "caller = :caller AND start > :now - :window"  # slots ahead of the clock included
_CHARGE = f"""INSERT INTO budget_slots (caller, start, used)
SELECT :caller, :slot, :images
WHERE (SELECT COALESCE(SUM(used), 0) FROM budget_slots WHERE {_IN_WINDOW}) + :images <= :limit
ON CONFLICT (caller, start) DO UPDATE SET used = used + excluded.used
RETURNING (SELECT SUM(used) FROM budget_slots WHERE {_IN_WINDOW})"""
_WINDOW = f"SELECT start, used FROM budget_slots WHERE {_IN_WINDOW} ORDER BY start"
_PRUNE = "DELETE FROM budget_slots WHERE start <= :now - :window"


class BudgetExceeded(Exception):
    def __init__(self, retry_after: int, detail: str):
        super().__init__(detail)
        self.retry_after, self.detail = retry_after, detail


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


class QueryBudget:
    """Budgets of callers named by identity strings; the limit (images per window, None: no limit,
    never touches the database) comes with each call."""

    def __init__(self, path: Path, window_s: float, clock: Callable[[], float] = time.time):
        self.path, self.window_s, self.clock = Path(path), float(window_s), clock
        self.slot_s = self.window_s / SLOTS
        self._local = threading.local()  # one connection per thread: sqlite3 connections are not shared
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._charges = itertools.count()
        connection = self._connection()
        connection.execute(_SCHEMA)
        connection.execute(_PRUNE, {"now": self.clock(), "window": self.window_s})

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

    def _params(self, identity: str, now: float) -> dict:
        return {"caller": _digest(identity), "now": now, "window": self.window_s}

    def charge(self, identity: str, limit: int | None, images: int) -> int | None:
        """Charge `images` to the caller; returns what is left (None: unlimited) or raises BudgetExceeded."""
        if limit is None:
            return None
        now = self.clock()
        params = {**self._params(identity, now), "images": images, "limit": limit,
                  "slot": math.floor(now / self.slot_s) * self.slot_s}
        connection = self._connection()
        row = connection.execute(_CHARGE, params).fetchone()
        if next(self._charges) % PRUNE_EVERY == PRUNE_EVERY - 1:  # housekeeping, not part of the charge
            connection.execute(_PRUNE, params)
        if row is not None:
            return limit - row[0]
        slots = connection.execute(_WINDOW, params).fetchall()
        used = sum(n for _, n in slots)
        retry = self._retry_after(slots, limit - images, now)
        raise BudgetExceeded(retry, f"this request of {images} images would pass the budget of {limit} images "
                                    f"per {self.window_s:g} s ({used} used); enough of the window "
                                    f"leaves it in {retry} s")

    def _retry_after(self, slots: list[tuple[float, int]], room: int, now: float) -> int:
        """Seconds until the images in the window are at most `room`: slots leave it oldest first,
        each W after its start. A request larger than the whole budget never fits: one window."""
        used = sum(n for _, n in slots)
        if room < 0:
            return math.ceil(self.window_s)
        if used <= room:  # another process's slots left meanwhile
            return 1
        for start, n in slots:
            used -= n
            if used <= room:
                return max(1, math.ceil(start + self.window_s - now))
        return math.ceil(self.window_s)  # not reached: once every slot has left, used is 0

    def remaining(self, identity: str, limit: int | None) -> int | None:
        """What the caller may still use now (None: unlimited); changes nothing."""
        if limit is None:
            return None
        slots = self._connection().execute(_WINDOW, self._params(identity, self.clock())).fetchall()
        return max(0, limit - sum(n for _, n in slots))

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
