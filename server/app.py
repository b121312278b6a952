"""The app factory: settings in, FastAPI app out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.body_limit import BodyLimitMiddleware
from server.deps import AppState
from server.errors import install_error_handlers
from server.model_store import ModelStore
from server.routes import admin, health, inference
from server.serving import Deployer
from server.settings import ServerSettings
from shared.runtime import configure_threads, select_device


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    configure_threads(settings.torch_threads)
    store = ModelStore(settings.store_dir)
    deployer = Deployer(store, select_device(settings.device))
    deployer.restore()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.inference_pool = ThreadPoolExecutor(settings.inference_workers, thread_name_prefix="inference")
        yield
        app.state.inference_pool.shutdown(wait=True)

    app = FastAPI(title="Unlearning inversion: MLaaS inference server", version="1.0",
                  description="Serves probability vectors of the deployed model version. Never weights, "
                              "logits or gradients.", lifespan=lifespan)
    app.state.uia = AppState(settings, store, deployer)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(inference.router)
    app.include_router(admin.router)

    def limit_for(path: str) -> int:
        return settings.max_upload_bytes if path.startswith("/admin/") else settings.max_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    return app
