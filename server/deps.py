"""Request dependencies: the app state, the serving model, the caller, the admin token check, and
the one path every inference route takes (budget, inference pool, metrics).

Routes declare what they need with the `Annotated` aliases (`StateDep`, `ServingDep`,
`CallerDep`), so each dependency is spelled once, here.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from server.budget import ANONYMOUS, BudgetExceeded, QueryBudget
from server.errors import ApiError
from server.metrics import Metrics
from server.model_store import ModelStore
from server.pool import InferencePool
from server.serving import Deployer, ServingModel
from server.settings import ServerSettings
from server.shm import SharedMemoryRegistry
from shared.http import bearer_guard


@dataclass
class AppState:
    settings: ServerSettings
    store: ModelStore
    deployer: Deployer
    budget: QueryBudget
    metrics: Metrics
    pool: InferencePool
    shared_memory: SharedMemoryRegistry | None  # None: the extension is off


def get_state(request: Request) -> AppState:
    return request.app.state.uia


StateDep = Annotated[AppState, Depends(get_state)]


def serving_model(state: StateDep) -> ServingModel:
    """The model version this request will use from start to end."""
    current = state.deployer.current
    if current is None:
        raise ApiError(503, "no_model", "no model version is deployed yet", {"Retry-After": "5"})
    return current


ServingDep = Annotated[ServingModel, Depends(serving_model)]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (optional if anonymous access)")


def caller(key: Annotated[str | None, Depends(_api_key)], state: StateDep) -> str:
    """Who is asking: an API key from the settings, or the anonymous caller."""
    settings = state.settings
    if key is None:
        if not settings.allow_anonymous:
            raise ApiError(401, "unauthorized", "this server needs an X-API-Key header")
        return ANONYMOUS
    if not any(hmac.compare_digest(key.encode(), known.encode()) for known in settings.api_keys):
        raise ApiError(401, "unauthorized", "unknown API key")
    return key


CallerDep = Annotated[str, Depends(caller)]


async def classify(request: Request, state: AppState, serving: ServingModel, decode: Callable[[], np.ndarray],
                   who: str, deliver: Callable[[np.ndarray], None] | None = None) -> tuple[np.ndarray, dict[str, str]]:
    """Decode the images, charge the caller's budget, run the forward pass and `deliver` the
    probabilities (a shared-memory write), in one job on the inference pool; count the images.
    A request that fails to decode is not charged.

    Returns the probabilities and the response headers to add.
    """

    def job() -> tuple[np.ndarray, int | None]:
        images = decode()
        try:
            remaining = state.budget.charge(who, len(images))
        except BudgetExceeded as exc:
            raise ApiError(429, "budget_exceeded", exc.detail, {"Retry-After": str(exc.retry_after)}) from None
        probs = serving.predict(images)
        if deliver is not None:
            deliver(probs)
        return probs, remaining

    probs, remaining = await state.pool.run(job, state.settings.request_timeout_s)
    state.metrics.images.labels(request.scope["route"].path).inc(len(probs))
    headers = {"X-Model-Version": serving.version}
    if remaining is not None:
        headers["X-Budget-Remaining"] = str(remaining)
    return probs, headers


require_admin = bearer_guard(lambda request: get_state(request).settings.admin_token, "admin routes")
