"""Request dependencies: the app state, the caller's API key, the admin token check, and the
one path every inference route takes (budget, timeout, worker pool, metrics)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from server.budget import ANONYMOUS, BudgetExceeded, QueryBudget
from server.errors import ApiError
from server.metrics import Metrics
from server.model_store import ModelStore
from server.serving import Deployer, ServingModel
from server.settings import ServerSettings
from shared.http import bearer_guard


@dataclass
class AppState:
    settings: ServerSettings
    store: ModelStore
    deployer: Deployer
    budget: QueryBudget
    metrics: Metrics


def get_state(request: Request) -> AppState:
    return request.app.state.uia


def serving_model(state: AppState = Depends(get_state)) -> ServingModel:
    """The model version this request will use from start to end."""
    current = state.deployer.current
    if current is None:
        raise ApiError(503, "no_model", "no model version is deployed yet", {"Retry-After": "5"})
    return current


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (optional if anonymous access)")


def caller(key: str | None = Depends(_api_key), state: AppState = Depends(get_state)) -> str:
    """Who is asking: an API key from the settings, or the anonymous caller."""
    settings = state.settings
    if key is None:
        if not settings.allow_anonymous:
            raise ApiError(401, "unauthorized", "this server needs an X-API-Key header")
        return ANONYMOUS
    if not any(hmac.compare_digest(key.encode(), known.encode()) for known in settings.api_keys):
        raise ApiError(401, "unauthorized", "unknown API key")
    return key


async def classify(request: Request, state: AppState, serving: ServingModel, decode: Callable[[], np.ndarray],
                   who: str) -> tuple[np.ndarray, dict[str, str]]:
    """Decode the images, charge the caller's budget and run the forward pass, in one job on the
    inference pool (one thread hop per request); count the images.

    Returns the probabilities and the response headers to add.
    """

    def job() -> tuple[np.ndarray, int | None]:
        images = decode()
        try:
            remaining = state.budget.charge(who, len(images))
        except BudgetExceeded as exc:
            raise ApiError(429, "budget_exceeded", exc.detail, {"Retry-After": str(exc.retry_after)}) from None
        return serving.predict(images), remaining

    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(request.app.state.inference_pool, job)
    try:
        probs, remaining = await asyncio.wait_for(work, timeout=state.settings.request_timeout_s)
    except TimeoutError:
        raise ApiError(503, "timeout", f"inference took longer than {state.settings.request_timeout_s:g} s",
                       {"Retry-After": "5"}) from None
    state.metrics.images.labels(request.scope["route"].path).inc(len(probs))
    headers = {"X-Model-Version": serving.version}
    if remaining is not None:
        headers["X-Budget-Remaining"] = str(remaining)
    return probs, headers


require_admin = bearer_guard(lambda request: get_state(request).settings.admin_token, "admin routes")
