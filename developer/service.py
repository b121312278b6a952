"""The developer as a service: `python -m developer serve`.

    POST /deletion-requests        a data owner asks to forget samples; 202 with the request's status
    GET  /deletion-requests/{id}   queued, unlearning, deployed (as version V), or failed (with reason)
    GET  /deletion-requests        all requests, in order
    GET  /healthz                  up; whether the original model is deployed; queue length

Every route but /healthz needs `Authorization: Bearer <UIA_DEVELOPER_API_TOKEN>`. Requests are
checked when they arrive (unknown class, proportion outside (0, 1], ids not in D_u, empty: 422),
persisted, and carried out one at a time by the deletion worker. While it runs, the service holds
its store (`RequestStore.exclusive`): a second service or a `reset` on the same work directory is
refused instead of racing it.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from developer.factory import developer_from_settings
from developer.requests_store import RequestStore
from developer.settings import DeveloperSettings
from developer.worker import DeletionWorker
from shared.http import ApiError, bearer_guard, install_error_handlers
from shared.schemas import DeletionRequest, DeletionStatus, ErrorBody


class DeveloperHealth(BaseModel):
    status: str = "ok"
    deployed_version: str | None = Field(description="the version this service deployed last (None: not yet)")
    forgotten: int = Field(description="training samples forgotten so far")
    pending: int = Field(description="deletion requests queued or in progress")
    startup_error: str | None = Field(None, description="why training or deploying the original failed, if it did")


def create_app(settings: DeveloperSettings | None = None, start_worker: bool = True) -> FastAPI:
    settings = settings or DeveloperSettings()
    developer = developer_from_settings(settings)
    store = RequestStore.of_workdir(settings.workdir)
    worker = DeletionWorker(developer, store, settings)
    _ = developer.splits  # load the data now: requests are validated against it

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with store.exclusive():
            if start_worker and not worker.is_alive():
                worker.start()
            yield
            worker.stop()

    app = FastAPI(title="Unlearning inversion: developer", version="1.0", lifespan=lifespan,
                  description="Receives deletion requests and unlearns them, one at a time, in order.")
    app.state.worker = worker
    install_error_handlers(app)
    guard = bearer_guard(lambda request: settings.api_token, "the deletion-request routes")
    errors = {code: {"model": ErrorBody} for code in (401, 403, 404, 422)}

    @app.get("/healthz", tags=["health"])
    def healthz() -> DeveloperHealth:
        state = store.read_state()
        return DeveloperHealth(deployed_version=state.version if state else None,
                               forgotten=len(state.forgotten) if state else 0, pending=len(store.pending()),
                               startup_error=worker.startup_error)

    @app.post("/deletion-requests", status_code=202, response_model=DeletionStatus, responses=errors,
              dependencies=[Depends(guard)], tags=["deletion requests"])
    def submit(request: DeletionRequest) -> DeletionStatus:
        check(request)
        status = store.add(request)
        worker.submit()
        return status

    @app.get("/deletion-requests", response_model=list[DeletionStatus], dependencies=[Depends(guard)],
             responses=errors, tags=["deletion requests"])
    def list_requests() -> list[DeletionStatus]:
        return store.all()

    @app.get("/deletion-requests/{request_id}", response_model=DeletionStatus, dependencies=[Depends(guard)],
             responses=errors, tags=["deletion requests"])
    def get_request(request_id: str) -> DeletionStatus:
        status = store.get(request_id)
        if status is None:
            raise ApiError(404, "unknown_request", f"no deletion request {request_id!r}")
        return status

    def check(request: DeletionRequest) -> None:
        """Refuse what cannot be carried out, before it is queued."""
        try:
            for target in request.classes or []:
                developer.class_index(target.class_)
        except ValueError as exc:
            raise ApiError(422, "unknown_class", str(exc)) from None
        try:
            developer.forget_set([], request.sample_ids or [])  # the one check that ids are in D_u
        except ValueError as exc:
            raise ApiError(422, "not_in_user_data", str(exc)) from None

    return app
