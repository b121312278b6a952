"""Bearer-token protection for a service's routes, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr

from shared.http.errors import ApiError


def token_matches(given: str, token: SecretStr) -> bool:
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def bearer_matches(authorization: str | None, token: SecretStr | None) -> bool:
    """`Authorization: Bearer <token>` carries `token` (a configured one): the check of `bearer_guard`,
    for code that runs before the routes (the request body's limits)."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    return token is not None and scheme.lower() == "bearer" and token_matches(credentials, token)


def bearer_guard(expected: Callable[[Request], SecretStr | None], what: str = "these routes"):
    """A FastAPI dependency: 401 without a bearer token, 403 with a wrong one, 403 when no token is
    configured (the routes are then off)."""
    scheme = HTTPBearer(auto_error=False, description=f"bearer token of {what}")

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        token = expected(request)
        if token is None:
            raise ApiError(403, "forbidden", f"{what} are disabled: no token is configured")
        if credentials is None:
            raise ApiError(401, "unauthorized", f"{what} need an 'Authorization: Bearer <token>' header",
                           {"WWW-Authenticate": "Bearer"})
        if not token_matches(credentials.credentials, token):
            raise ApiError(403, "forbidden", "the token is wrong")

    return check
