"""What the two HTTP services (server, developer) share: one error shape and bearer-token auth."""

from shared.http.auth import bearer_guard, bearer_matches
from shared.http.errors import ApiError, describe_errors, error_response, install_error_handlers

__all__ = ["ApiError", "bearer_guard", "bearer_matches", "describe_errors", "error_response", "install_error_handlers"]
