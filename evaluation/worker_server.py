"""The server process one grid worker owns: its own store, its own admin token, started on first
use and stopped with the worker. Versions go up and are deployed over the admin API, exactly as
the developer pushes them; the attacker's side gets a client of the public API and nothing else."""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
from pathlib import Path

from attacker import InferenceClient
from developer.pipeline import TrainedVersion
from developer.push import push_version
from devtools.processes import ServerProcess
from shared.schemas import DeploymentOptions


class WorkerServer:
    def __init__(self, workdir: Path, threads: int | None):
        self.workdir, self.threads = Path(workdir), threads
        self.process: ServerProcess | None = None
        self._dir: Path | None = None

    def _ensure(self) -> ServerProcess:
        if self.process is None:
            (self.workdir / "servers").mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="server-", dir=self.workdir / "servers"))
            env = {"UIA_SERVER_TORCH_THREADS": str(self.threads)} if self.threads else {}
            self.process = ServerProcess(self._dir / "store", token=secrets.token_hex(16), extra_env=env)
            self.process.start(timeout=120)
            atexit.register(self.stop)
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def deploy(self, version: TrainedVersion, options: DeploymentOptions) -> None:
        server = self._ensure()
        push_version(version.path, server.url, server.token, deploy=False)  # identical re-uploads are no-ops
        with server.admin() as admin:
            admin.put("/admin/deployment", json={"version": version.version, "options": options.model_dump()}
                      ).raise_for_status()

    def client(self) -> InferenceClient:
        """A client of the public API, as any user has."""
        return InferenceClient(self._ensure().url)
