"""The deletion worker: one thread that carries out deletion requests one at a time, in order.

For each request: resolve its samples X within the training data, drop those already forgotten,
unlearn (exact: retrain without everything forgotten so far; approximate: gradient ascent on
the new samples from the deployed model), push and deploy the new version, record the state.
A failure marks the request failed with its reason and leaves the deployment as it was.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from developer.pipeline import Developer, TrainedVersion
from developer.push import push_version
from developer.requests_store import DeploymentState, RequestStore
from developer.settings import DeveloperSettings
from shared.artifacts import read_metadata
from shared.schemas import DeletionRequest, DeletionStatus

log = logging.getLogger("developer.worker")


class DeletionWorker(threading.Thread):
    def __init__(self, developer: Developer, store: RequestStore, settings: DeveloperSettings):
        super().__init__(name="deletion-worker", daemon=True)
        self.developer, self.store, self.settings = developer, store, settings
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.startup_error: str | None = None

    def submit(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        if (state := self.store.read_state()) is not None:
            log.info("resuming: version %s stays deployed (%d samples forgotten, %d requests to carry out); "
                     "deletions stay deleted (`python -m developer reset` replays from the original model)",
                     state.version, len(state.forgotten), len(self.store.pending()))
        try:
            self.ensure_deployed()
        except Exception as exc:  # noqa: BLE001 - reported on /healthz and retried per request
            self.startup_error = f"{type(exc).__name__}: {exc}"
            log.exception("start-up failed")
        self.ready.set()
        while not self.stopping.is_set():
            for status in self.store.pending():
                if self.stopping.is_set():
                    return
                self.process(status)
            self.wake.wait(timeout=5)
            self.wake.clear()

    # ---------------------------------------------------------------- steps
    def ensure_deployed(self) -> DeploymentState:
        """The original model trained (cached) and, on the first start, pushed and deployed. Once
        there is a state, the version it names is the one deployed: a restart never pushes the
        original again."""
        state = self.store.read_state()
        if state is not None:
            return state
        original = self.developer.finetune()
        if self.settings.deploy_original:
            self._push(original)
        state = DeploymentState(version=original.version, path=str(original.path))
        self.store.write_state(state)
        self.startup_error = None
        return state

    def resolve(self, request: DeletionRequest) -> np.ndarray:
        dev = self.developer
        targets = [(dev.class_index(t.class_), t.proportion) for t in request.classes or []]
        return dev.forget_set(targets, request.sample_ids or [])

    def process(self, status: DeletionStatus) -> DeletionStatus:
        status = self.store.update(status, state="unlearning", reason=None)
        try:
            state = self.ensure_deployed()
            forget = self.resolve(status.request)
            forgotten = np.asarray(state.forgotten, dtype=np.int64)
            new = np.setdiff1d(forget, forgotten)
            if new.size == 0:
                note = ("none of the samples is in the training data" if forget.size == 0 else
                        "all of the samples were already forgotten")
                return self.store.update(status, state="deployed", version=state.version, removed=0,
                                         note=f"{note}: the deployed model is unchanged")
            config = self.settings.unlearning.with_overrides(status.request.unlearning)
            base = TrainedVersion(state.path, read_metadata(state.path))
            total = np.union1d(forgotten, new)
            version = self.developer.unlearn(total, config, base=base, new=new)
            self._push(version)
            self.store.write_state(DeploymentState(version=version.version, path=str(version.path),
                                                   forgotten=total.tolist()))
            return self.store.update(status, state="deployed", version=version.version, removed=int(new.size))
        except Exception as exc:  # noqa: BLE001 - every failure becomes the request's reason
            log.exception("deletion request %s failed", status.id)
            return self.store.update(status, state="failed", reason=f"{type(exc).__name__}: {exc}")

    def _push(self, version: TrainedVersion) -> None:
        if self.settings.server_token is None:
            raise RuntimeError("no server admin token configured (UIA_DEVELOPER_SERVER_TOKEN): cannot deploy")
        push_version(version.path, self.settings.server_url, self.settings.server_token.get_secret_value())
