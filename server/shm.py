"""Triton's system shared-memory extension: regions of POSIX shared-memory objects that same-host
clients register, then name in inference requests instead of sending tensor bytes.

Invariants:
- Regions belong to an API key: one key can neither see nor name another's regions, and a key
  registers objects of its own namespace only (`server.shm_objects`). Anonymous callers have no
  regions: they cannot tell each other apart.
- Every read and write stays inside its region: offsets and sizes are checked against the
  registered region before any I/O, and I/O goes through ``pread``/``pwrite`` on the descriptor,
  never a mapping, so a client that shrinks its object gets a short read (a 400), never a SIGBUS
  in the server.
- Unregistering a region in use is safe: a request holds the region from its start to its end,
  and the descriptor is closed when the last holder lets go.
- The descriptors held are bounded per key and in total.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from server.errors import ApiError
from server.shm_objects import SHM_DIR, Namespaces, open_object
from shared.schemas.oip import SharedMemoryRegionStatus

_IO_CHUNK = 1 << 30  # one pread/pwrite moves at most ~2 GiB on Linux; larger transfers loop


def bad(message: str) -> ApiError:
    return ApiError(400, "invalid_shared_memory", message)


@dataclass
class Region:
    name: str
    key: str
    offset: int
    byte_size: int
    fd: int
    users: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def status(self) -> SharedMemoryRegionStatus:
        return SharedMemoryRegionStatus(name=self.name, key=self.key, offset=self.offset, byte_size=self.byte_size)

    def span(self, offset: int, size: int, what: str) -> int:
        """The object offset of [offset, offset + size) of this region; 400 if it leaves the region."""
        if offset < 0 or size < 0 or offset + size > self.byte_size:
            raise bad(f"{what}: {size} bytes at offset {offset} do not fit region {self.name!r} of "
                      f"{self.byte_size} bytes")
        return self.offset + offset

    def read(self, offset: int, out: np.ndarray, what: str) -> None:
        """Fill the C-contiguous array `out` from the region, starting `offset` bytes into it."""
        position = self.span(offset, out.nbytes, what)
        view = memoryview(out.reshape(-1)).cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(self.fd, [view[done:done + _IO_CHUNK]], position + done)
            if got == 0:
                raise bad(f"{what}: region {self.name!r} ends early: its shared-memory object shrank")
            done += got

    def write(self, offset: int, data: np.ndarray, what: str) -> None:
        position = self.span(offset, data.nbytes, what)
        if os.fstat(self.fd).st_size < position + data.nbytes:  # writing would grow the client's object
            raise bad(f"{what}: region {self.name!r} ends early: its shared-memory object shrank")
        view = memoryview(np.ascontiguousarray(data).reshape(-1)).cast("B")
        done = 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:done + _IO_CHUNK], position + done)

    def _acquire(self) -> bool:
        with self.lock:
            if self.retired:
                return False
            self.users += 1
            return True

    def _release(self) -> None:
        with self.lock:
            self.users -= 1
            close = self.retired and self.users == 0
        if close:
            os.close(self.fd)

    def _retire(self) -> None:
        with self.lock:
            self.retired = True
            close = self.users == 0
        if close:
            os.close(self.fd)


class SharedMemoryRegistry:
    """The registered regions, per API key; thread-safe (routes and inference threads use it).
    `caller` below is always an API key."""

    def __init__(self, max_regions: int, max_total: int, root: Path = SHM_DIR,
                 namespaces: Namespaces | None = None):
        self.max_regions, self.max_total, self.root = max_regions, max_total, root
        self.namespaces = namespaces or Namespaces()
        self._regions: dict[tuple[str, str], Region] = {}
        self._lock = threading.Lock()

    def namespace(self, caller: str) -> str:
        """The prefix of the object names `caller` may register."""
        return self.namespaces.prefix(caller)

    def register(self, caller: str, name: str, key: str, offset: int, byte_size: int) -> None:
        fd = open_object(key, self.namespace(caller), offset + byte_size, self.root)
        try:
            with self._lock:
                if (caller, name) in self._regions:
                    raise ApiError(409, "region_exists", f"a region named {name!r} is already registered; "
                                                         f"unregister it first")
                if sum(1 for owner, _ in self._regions if owner == caller) >= self.max_regions:
                    raise ApiError(409, "too_many_regions", f"{self.max_regions} regions are registered already, "
                                                            f"your limit; unregister some")
                if len(self._regions) >= self.max_total:
                    raise ApiError(503, "server_busy", "the server holds as many shared-memory regions as it may; "
                                                       "retry later or send tensors over HTTP", {"Retry-After": "60"})
                self._regions[caller, name] = Region(name, key, offset, byte_size, fd)
        except BaseException:
            os.close(fd)
            raise

    def unregister(self, caller: str, name: str | None = None) -> None:
        """One region (no error if it is not registered, as in Triton), or all of the caller's."""
        with self._lock:
            names = [n for owner, n in self._regions if owner == caller and (name is None or n == name)]
            retired = [self._regions.pop((caller, n)) for n in names]
        for region in retired:
            region._retire()

    def status(self, caller: str, name: str | None = None) -> list[SharedMemoryRegionStatus]:
        with self._lock:
            regions = [r for (owner, n), r in self._regions.items() if owner == caller and name in (None, n)]
        if name is not None and not regions:
            raise ApiError(404, "unknown_region", f"no shared-memory region named {name!r} is registered")
        return [r.status() for r in sorted(regions, key=lambda r: r.name)]

    @contextmanager
    def use(self, caller: str, name: str) -> Iterator[Region]:
        """Hold region `name` for the duration of the block: unregistering it meanwhile is safe."""
        with self._lock:
            region = self._regions.get((caller, name))
        if region is None or not region._acquire():
            raise bad(f"no shared-memory region named {name!r} is registered")
        try:
            yield region
        finally:
            region._release()

    def close(self) -> None:
        with self._lock:
            callers = {owner for owner, _ in self._regions}
        for caller in callers:
            self.unregister(caller)

    def for_caller(self, caller: str) -> CallerRegions:
        return CallerRegions(self, caller)


@dataclass(frozen=True)
class NoRegions:
    """What an inference request gets when it may name no region (the extension is off, or the
    caller is anonymous): naming one is `error`."""

    error: ApiError

    def read(self, name: str, offset: int, out: np.ndarray, what: str) -> None:
        raise self.error

    def check(self, name: str, offset: int, size: int, what: str) -> None:
        raise self.error

    def write(self, name: str, offset: int, data: np.ndarray, what: str) -> None:
        raise self.error


@dataclass(frozen=True)
class CallerRegions:
    """One API key's regions, as an inference request sees them."""

    registry: SharedMemoryRegistry
    caller: str

    def read(self, name: str, offset: int, out: np.ndarray, what: str) -> None:
        with self.registry.use(self.caller, name) as region:
            region.read(offset, out, what)

    def check(self, name: str, offset: int, size: int, what: str) -> None:
        with self.registry.use(self.caller, name) as region:
            region.span(offset, size, what)

    def write(self, name: str, offset: int, data: np.ndarray, what: str) -> None:
        with self.registry.use(self.caller, name) as region:
            region.write(offset, data, what)
