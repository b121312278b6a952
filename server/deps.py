"""Request dependencies: the app state, the serving model, the caller, the admin token check, and
the one path every inference route takes (budget, inference pool, metrics).

Routes declare what they need with the `Annotated` aliases (`StateDep`, `ServingDep`,
`CallerDep`, `TenantDep`), so each dependency is spelled once, here. `CallerDep` admits anonymous
callers when the settings serve them; `TenantDep` only API keys (the OpenAPI schema tells the two
apart by which one a route depends on: `server.openapi`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from server.budget import BudgetExceeded, QueryBudget
from server.callers import Caller, client_network
from server.errors import ApiError
from server.metrics import Metrics
from server.model_store import ModelStore
from server.pool import InferencePool
from server.serving import Deployer, ServingModel
from server.settings import ServerSettings
from server.shm import CallerRegions, NoRegions, SharedMemoryRegistry
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

# One header, two security schemes, so that the OpenAPI schema can say where a key is optional:
# `server.openapi` adds the anonymous alternative to operations of the first only.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="API key (optional while the server serves anonymous callers)")
_tenant_key = APIKeyHeader(name="X-API-Key", scheme_name="TenantAPIKey", auto_error=False,
                           description="API key (always needed: anonymous callers cannot use these routes)")
ApiKey = Annotated[str | None, Depends(_api_key)]
TenantKey = Annotated[str | None, Depends(_tenant_key)]


def _known(key: str, settings: ServerSettings) -> str:
    if not any(hmac.compare_digest(key.encode(), known.encode()) for known in settings.api_keys):
        raise ApiError(401, "unauthorized", "unknown API key")
    return key


def _network(request: Request) -> str:
    return client_network(request.client.host if request.client is not None else None)


def caller(key: ApiKey, request: Request, state: StateDep) -> Caller:
    """Who is asking: a tenant (a key of the settings), or an anonymous client if they are served."""
    settings = state.settings
    if key is not None:
        return Caller(_known(key, settings), _network(request))
    if not settings.serves_anonymous:
        why = ("anonymous access is off" if not settings.allow_anonymous else
               "anonymous access is off while API keys have budgets and anonymous callers none")
        raise ApiError(401, "unauthorized", f"this server needs an X-API-Key header ({why})")
    return Caller(None, _network(request))


def tenant(key: TenantKey, request: Request, state: StateDep) -> Caller:
    """An API key's holder: anonymous callers are refused (they cannot be told apart)."""
    if key is None:
        raise ApiError(401, "unauthorized", "this route needs an X-API-Key header: anonymous callers cannot "
                                            "use shared memory")
    return Caller(_known(key, state.settings), _network(request))


CallerDep = Annotated[Caller, Depends(caller)]
TenantDep = Annotated[Caller, Depends(tenant)]


def regions_of(state: AppState, who: Caller) -> CallerRegions | NoRegions:
    """The shared-memory regions an inference request of `who` may name."""
    if state.shared_memory is None:
        return NoRegions(ApiError(400, "invalid_input", "this server does not accept shared-memory tensors: the "
                                                        "system shared-memory extension is off"))
    if who.key is None:
        return NoRegions(ApiError(401, "unauthorized", "shared-memory tensors need an X-API-Key header: anonymous "
                                                       "callers cannot use shared memory"))
    return state.shared_memory.for_caller(who.key)


async def classify(request: Request, state: AppState, serving: ServingModel, decode: Callable[[], np.ndarray],
                   who: Caller, deliver: Callable[[np.ndarray], None] | None = None
                   ) -> tuple[np.ndarray, dict[str, str]]:
    """Decode the images, charge the caller's budget, run the forward pass and `deliver` the
    probabilities (a shared-memory write), in one job on the inference pool; count the images.
    A request that fails to decode is not charged.

    Returns the probabilities and the response headers to add.
    """

    def job() -> tuple[np.ndarray, int | None]:
        images = decode()
        try:
            remaining = state.budget.charge(who.identity, who.budget(state.settings), len(images))
        except BudgetExceeded as exc:
            state.metrics.refused(who.label)
            raise ApiError(429, "budget_exceeded", exc.detail, {"Retry-After": str(exc.retry_after)}) from None
        probs = serving.predict(images)
        if deliver is not None:
            deliver(probs)
        return probs, remaining

    probs, remaining = await state.pool.run(job, state.settings.request_timeout_s)
    state.metrics.classified(request.scope["route"].path, who.label, len(probs))
    headers = {"X-Model-Version": serving.version}
    if remaining is not None:
        headers["X-Budget-Remaining"] = str(remaining)
    return probs, headers


require_admin = bearer_guard(lambda request: get_state(request).settings.admin_token, "admin routes")
