"""The app factory: settings in, FastAPI app out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.body_limit import BodyLimitMiddleware
from server.budget import ANONYMOUS, QueryBudget
from server.deps import AppState
from server import errors
from server.metrics import Metrics, MetricsMiddleware
from server.model_store import ModelStore
from server.routes import admin, health, inference, oip_v2
from server.serving import Deployer
from server.settings import ServerSettings
from shared.runtime import configure_threads, select_device
from shared.schemas import PredictRequest
from shared.schemas.oip import InferenceRequest

DESCRIPTION = """Serves probability vectors of the deployed model version, and public metadata.
Never weights, logits or gradients. The same model answers the Open Inference Protocol v2 under /v2."""


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    configure_threads(settings.torch_threads)
    metrics = Metrics()
    store = ModelStore(settings.store_dir)
    deployer = Deployer(store, select_device(settings.device), settings.defenses)
    restored = deployer.restore()
    if restored is not None:
        metrics.served_version(restored.version)
    limits = {**settings.api_keys, ANONYMOUS: settings.anonymous_budget}
    budget = QueryBudget(limits, settings.budget_window_s)

    def new_pool() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(settings.inference_workers, thread_name_prefix="inference")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.inference_pool is None:  # a second start of the same app (tests)
            app.state.inference_pool = new_pool()
        yield
        app.state.inference_pool.shutdown(wait=True)
        app.state.inference_pool = None

    app = FastAPI(title="Unlearning inversion: MLaaS inference server", version="1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.uia = AppState(settings, store, deployer, budget, metrics)
    app.state.inference_pool = new_pool()
    errors.install(app)
    for router in (health.router, inference.router, oip_v2.router, admin.router):
        app.include_router(router)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict:
        """The generated schema plus the request bodies the raw-body routes document by reference."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (PredictRequest, InferenceRequest):
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    def limit_for(path: str) -> int:
        return settings.max_upload_bytes if path.startswith("/admin/") else settings.max_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
