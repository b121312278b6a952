"""Liveness and readiness."""

from fastapi import APIRouter

from server.deps import StateDep
from server.errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="A model version is deployed and answering",
            responses={503: {"description": "no model deployed yet"}})
def readyz(state: StateDep) -> dict[str, str]:
    current = state.deployer.current
    if current is None:
        raise ApiError(503, "not_ready", "no model version is deployed yet", {"Retry-After": "5"})
    return {"status": "ready", "version": current.version}
