"""Deletion requests and the developer's deployment state, persisted as JSON files.

    <workdir>/service/requests/<sequence>-<id>.json   one `DeletionStatus` per request
    <workdir>/service/state.json                       deployed version and its directory,
                                                       every sample id forgotten so far
    <workdir>/service.lock                             held by the running service
    <workdir>/service-archive/<UTC time>/              the history `reset` set aside

Every write is atomic. Requests are processed in sequence order; after a restart, those still
queued or interrupted mid-unlearning are processed again, so a restart loses none, and the
deployed version stays the last one carried out: deletions stay deleted. Only `archive()` (the
`reset` command, with the service stopped) starts the story again from the original model.
"""

from __future__ import annotations

import fcntl
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from shared.atomic import write_json
from shared.schemas import DeletionRequest, DeletionStatus


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class DeploymentState(BaseModel):
    version: str
    path: str
    forgotten: list[int] = Field(default_factory=list, description="train-set indices removed so far")


class StoreInUse(RuntimeError):
    """Another process (the running service) holds the store."""


class RequestStore:
    @classmethod
    def of_workdir(cls, workdir: Path) -> RequestStore:
        """The service's store in a developer work directory (the layout above)."""
        return cls(Path(workdir) / "service")

    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests_dir = self.root / "requests"
        self.requests_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- who may change it
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store against other processes (an advisory lock beside it, released when the
        holder exits, however it exits); raises `StoreInUse` at once if another one holds it."""
        path = self.root.with_name(self.root.name + ".lock")
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreInUse(f"{self.root} is in use by another process (the deletion-request service?)") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def archive(self) -> Path | None:
        """Set the history and deployment state aside (under <workdir>/service-archive/): the next
        start of the service deploys the original model again. Only while no service runs on it."""
        with self.exclusive():
            if not self.all() and self.read_state() is None:
                return None
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
            target = self.root.with_name(self.root.name + "-archive") / stamp
            target.parent.mkdir(parents=True, exist_ok=True)
            self.root.rename(target)
            self.requests_dir.mkdir(parents=True)  # an empty store again, for this object's later use
            return target

    # ---------------------------------------------------------------- requests
    def _files(self) -> list[Path]:
        return sorted(self.requests_dir.glob("*.json"))

    def add(self, request: DeletionRequest) -> DeletionStatus:
        with self._lock:
            sequence = len(self._files()) + 1
            stamp = now()
            status = DeletionStatus(id=uuid.uuid4().hex[:16], sequence=sequence, state="queued", request=request,
                                    created_at=stamp, updated_at=stamp)
            self._write(status)
            return status

    def _path(self, status: DeletionStatus) -> Path:
        return self.requests_dir / f"{status.sequence:08d}-{status.id}.json"

    def _write(self, status: DeletionStatus) -> None:
        write_json(self._path(status), status.model_dump(mode="json", by_alias=True))

    def update(self, status: DeletionStatus, **changes) -> DeletionStatus:
        with self._lock:
            status = status.model_copy(update={**changes, "updated_at": now()})
            self._write(status)
            return status

    def all(self) -> list[DeletionStatus]:
        return [DeletionStatus.model_validate_json(p.read_bytes()) for p in self._files()]

    def get(self, request_id: str) -> DeletionStatus | None:
        matches = list(self.requests_dir.glob(f"*-{request_id}.json")) if request_id.isalnum() else []
        return DeletionStatus.model_validate_json(matches[0].read_bytes()) if matches else None

    def pending(self) -> list[DeletionStatus]:
        return [s for s in self.all() if s.state in ("queued", "unlearning")]

    # ---------------------------------------------------------------- deployment state
    def read_state(self) -> DeploymentState | None:
        path = self.root / "state.json"
        return DeploymentState.model_validate(json.loads(path.read_text())) if path.exists() else None

    def write_state(self, state: DeploymentState) -> None:
        write_json(self.root / "state.json", state.model_dump())
