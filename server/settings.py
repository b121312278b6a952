"""Server settings, from the command line or the environment (prefix ``UIA_SERVER_``).

Nested and structured values take JSON or ``__``-separated names, e.g.
``UIA_SERVER_DEFENSES='{"top_k": 1}'`` or ``UIA_SERVER_DEFENSES__PRUNE_RATE=0.5``, and
``UIA_SERVER_API_KEYS='{"alice-key": 100000, "bob-key": null}'`` (images per window; null: no limit).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.schemas import DeploymentOptions


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UIA_SERVER_", env_nested_delimiter="__", extra="ignore")

    store_dir: Path = Field(Path("runs/server-store"), description="where model versions persist")
    admin_token: SecretStr | None = Field(None, description="bearer token of the admin routes; unset = admin off")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    model_name: str = Field("classifier", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                            description="the model's name in the Open Inference Protocol routes")

    # limits
    max_images_per_request: int = Field(4096, ge=1)
    max_body_bytes: int = Field(64 * 2**20, ge=1024, description="largest inference request body")
    max_upload_bytes: int = Field(1024 * 2**20, ge=1024, description="largest model upload body")
    request_timeout_s: float = Field(120.0, gt=0, description="an inference request running longer gets a 503")

    # query budgets, counted in images
    api_keys: dict[str, int | None] = Field(default_factory=dict, description="API key -> images per window")
    allow_anonymous: bool = Field(True, description="serve requests without an X-API-Key header")
    anonymous_budget: int | None = Field(None, ge=0, description="images per window for all anonymous callers")
    budget_window_s: int = Field(3600, ge=1, description="length of a budget window in seconds; the windows "
                                 "persist in <store_dir>/budgets.sqlite3 across restarts")

    # Triton's system shared-memory extension: same-host clients pass tensors through /dev/shm
    allow_shared_memory: bool = Field(False, description="serve /v2/systemsharedmemory and accept inputs and "
                                      "outputs that name a registered region; off: those routes are absent")
    max_shared_memory_regions: int = Field(64, ge=1, description="registered regions per caller (each holds an "
                                           "open file descriptor)")

    # defenses applied to deployments whose request names no options
    defenses: DeploymentOptions = Field(default_factory=DeploymentOptions)

    # compute
    inference_workers: int = Field(1, ge=1, description="threads that run forward passes")
    torch_threads: int | None = Field(None, ge=1, description="intra-op threads of torch; default: torch's")
    device: str = "auto"
