"""Server settings, from the command line or the environment (prefix ``UIA_SERVER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UIA_SERVER_", extra="ignore")

    store_dir: Path = Field(Path("runs/server-store"), description="where model versions persist")
    admin_token: SecretStr | None = Field(None, description="bearer token of the admin routes; unset = admin off")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_images_per_request: int = Field(4096, ge=1)
    max_body_bytes: int = Field(64 * 2**20, ge=1024, description="largest predict request body")
    max_upload_bytes: int = Field(1024 * 2**20, ge=1024, description="largest model upload body")
    inference_workers: int = Field(1, ge=1, description="threads that run forward passes")
    torch_threads: int | None = Field(None, ge=1, description="intra-op threads of torch; default: torch's")
    device: str = "auto"
