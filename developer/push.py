"""Upload a trained version to the server's admin API and deploy it.

Only ``model.safetensors`` and ``metadata.json`` leave the developer; the deletion details in
the same directory never do.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from shared.artifacts import METADATA_FILE, WEIGHTS_FILE
from shared.schemas import DeploymentOptions


class PushError(RuntimeError):
    pass


def _check(response: httpx.Response, what: str) -> dict:
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise PushError(f"{what} failed: HTTP {response.status_code}: {detail}")


def push_version(path: Path, server_url: str, token: str, deploy: bool = True,
                 options: DeploymentOptions | None = None, timeout: float = 300.0) -> str:
    """Upload the version in directory `path`; deploy it if asked. Returns the version id."""
    path = Path(path)
    headers = {"Authorization": f"Bearer {token}"}
    files = {
        "metadata": (METADATA_FILE, (path / METADATA_FILE).read_bytes(), "application/json"),
        "weights": (WEIGHTS_FILE, (path / WEIGHTS_FILE).read_bytes(), "application/octet-stream"),
    }
    with httpx.Client(base_url=server_url, headers=headers, timeout=timeout) as client:
        try:
            meta = _check(client.post("/admin/models", files=files), "upload")
            if deploy:
                body = {"version": meta["version"]}
                if options is not None:  # else the server applies its configured defenses
                    body["options"] = options.model_dump()
                _check(client.put("/admin/deployment", json=body), "deploy")
        except httpx.HTTPError as exc:
            raise PushError(f"cannot reach the server at {server_url}: {exc}") from None
    return meta["version"]
