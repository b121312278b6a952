"""Request dependencies: the app state and the admin bearer-token check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.errors import ApiError
from server.model_store import ModelStore
from server.serving import Deployer, ServingModel
from server.settings import ServerSettings


@dataclass
class AppState:
    settings: ServerSettings
    store: ModelStore
    deployer: Deployer


def get_state(request: Request) -> AppState:
    return request.app.state.uia


def serving_model(state: AppState = Depends(get_state)) -> ServingModel:
    """The model version this request will use from start to end."""
    current = state.deployer.current
    if current is None:
        raise ApiError(503, "no_model", "no model version is deployed yet", {"Retry-After": "5"})
    return current


_bearer = HTTPBearer(auto_error=False, description="admin token")


def require_admin(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
                  state: AppState = Depends(get_state)) -> None:
    token = state.settings.admin_token
    if token is None:
        raise ApiError(403, "forbidden", "admin routes are disabled: the server has no admin token configured")
    if credentials is None:
        raise ApiError(401, "unauthorized", "admin routes need an 'Authorization: Bearer <token>' header",
                       {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(credentials.credentials.encode(), token.get_secret_value().encode()):
        raise ApiError(403, "forbidden", "the admin token is wrong")
