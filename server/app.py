"""The app factory: settings (and a clock, for tests) in, FastAPI app out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server import errors
from server.body_guard import BodyGuard, BodyPolicy
from server.budget import BUDGET_FILE, QueryBudget
from server.deps import AppState
from server.metrics import Metrics, MetricsMiddleware
from server.model_store import ModelStore
from server.openapi import build_openapi
from server.pool import InferencePool
from server.routes import admin, health, inference, oip_v2, shm
from server.serving import Deployer
from server.settings import ServerSettings
from server.shm import SharedMemoryRegistry
from shared.http import bearer_matches
from shared.runtime import configure_threads, select_device

DESCRIPTION = """Serves probability vectors of the deployed model version, and public metadata.
Never weights, logits or gradients. The same model answers the Open Inference Protocol v2 under /v2."""

log = logging.getLogger(__name__)


def create_app(settings: ServerSettings | None = None, clock: Callable[[], float] = time.time) -> FastAPI:
    """`clock`: wall-clock seconds, for the budget windows (tests pass a fake one)."""
    settings = settings or ServerSettings()
    _warn_about(settings)
    configure_threads(settings.torch_threads)
    metrics = Metrics()
    store = ModelStore(settings.store_dir)
    deployer = Deployer(store, select_device(settings.device), settings.defenses)
    restored = deployer.restore()
    if restored is not None:
        metrics.served_version(restored.version)
    budget = QueryBudget(store.root / BUDGET_FILE, settings.budget_window_s, clock)
    pool = InferencePool(settings.inference_workers)
    shared_memory = (SharedMemoryRegistry(settings.max_shared_memory_regions, settings.max_shared_memory_regions_total)
                     if settings.allow_shared_memory else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool.start()
        yield
        pool.shutdown()
        budget.close()
        if shared_memory is not None:
            shared_memory.close()

    app = FastAPI(title="Unlearning inversion: MLaaS inference server", version="1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.uia = AppState(settings, store, deployer, budget, metrics, pool, shared_memory)
    errors.install(app)
    routers = [health.router, inference.router, oip_v2.router, admin.router]
    if shared_memory is not None:  # off by default, like Triton's: the routes are then absent
        routers.insert(3, shm.router)
    for router in routers:
        app.include_router(router)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics: aggregates of all callers",
             response_class=Response)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, settings)
        return app.openapi_schema

    app.openapi = openapi

    def body_policy(scope) -> BodyPolicy:
        """The operator's authenticated uploads may be large and are not pooled; every other body,
        an unauthenticated upload included (it is read before the route refuses it), is an
        inference body's size and counts against the pool."""
        if scope["path"].startswith("/admin/"):
            authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if bearer_matches(authorization.decode("latin-1"), settings.admin_token):
                return BodyPolicy(settings.max_upload_bytes, pooled=False)
        return BodyPolicy(settings.max_body_bytes, pooled=True)

    app.add_middleware(BodyGuard, policy=body_policy, pool_bytes=settings.buffered_body_bytes,
                       timeout_s=settings.body_timeout_s, min_rate=settings.body_min_rate)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _warn_about(settings: ServerSettings) -> None:
    """Settings that do less than they seem to: said once, at start-up."""
    if settings.allow_anonymous and not settings.serves_anonymous:
        log.warning("anonymous access is off: API keys have budgets and anonymous callers none "
                    "(set UIA_SERVER_ANONYMOUS_BUDGET to serve them, per client network)")
    if settings.allow_shared_memory and not settings.api_keys:
        log.warning("shared memory is on but no API key is configured: only API keys may use it")
