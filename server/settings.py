"""Server settings, from the command line or the environment (prefix ``UIA_SERVER_``).

Nested and structured values take JSON or ``__``-separated names, e.g.
``UIA_SERVER_DEFENSES='{"top_k": 1}'`` or ``UIA_SERVER_DEFENSES__PRUNE_RATE=0.5``, and
``UIA_SERVER_API_KEYS='{"alice-key": 100000, "bob-key": null}'`` (images per window; null: no limit).

Anonymous access never dodges a budget: it is on only while `allow_anonymous` is set and either
no key has a budget or anonymous callers have one of their own (`serves_anonymous`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
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
    max_images_per_request: int = Field(4096, ge=1, description="images in one request; more is a 413")
    max_body_bytes: int = Field(64 * 2**20, ge=1024, description="largest inference request body")
    max_upload_bytes: int = Field(1024 * 2**20, ge=1024, description="largest model upload body (admin)")
    request_timeout_s: float = Field(120.0, gt=0, description="an inference request running longer gets a 503")

    # hostile clients: what a request body may cost before and while it arrives
    max_connections: int = Field(512, ge=2, description="connections and requests served at once (uvicorn's "
                                 "limit_concurrency); more get a 503. Below the process's file limit (1024)")
    max_buffered_body_bytes: int | None = Field(None, ge=1024, description="request bytes held at once, all "
                                                "requests together; a request that would pass it gets a 503. "
                                                "Default: four largest bodies (4 x max_body_bytes)")
    body_timeout_s: float = Field(15.0, gt=0, description="the longest a client may leave a body unfinished "
                                  "without sending; then 408 and the connection closes")
    body_min_rate: int = Field(64 * 1024, ge=1, description="after body_timeout_s, bytes per second a body must "
                               "average (a client trickling slower gets a 408)")

    # query budgets, counted in images
    api_keys: dict[str, int | None] = Field(default_factory=dict, description="API key -> images per window")
    allow_anonymous: bool = Field(True, description="serve requests without an X-API-Key header (only if no key "
                                  "has a budget, or anonymous_budget is set)")
    anonymous_budget: int | None = Field(None, ge=0, description="images per window for each anonymous client "
                                         "network (an IPv4 address, an IPv6 /64)")
    budget_window_s: int = Field(3600, ge=1, description="length of a budget window in seconds; the windows "
                                 "persist in <store_dir>/budgets.sqlite3 across restarts")

    # Triton's system shared-memory extension: same-host clients pass tensors through /dev/shm
    allow_shared_memory: bool = Field(False, description="serve /v2/systemsharedmemory and accept inputs and "
                                      "outputs that name a registered region; off: those routes are absent")
    max_shared_memory_regions: int = Field(64, ge=1, description="registered regions per API key (each holds an "
                                           "open file descriptor)")
    max_shared_memory_regions_total: int = Field(256, ge=1, description="registered regions of all keys together "
                                                 "(open file descriptors); more get a 503")

    # defenses applied to deployments whose request names no options
    defenses: DeploymentOptions = Field(default_factory=DeploymentOptions)

    # compute
    inference_workers: int = Field(1, ge=1, description="threads that run forward passes")
    torch_threads: int | None = Field(None, ge=1, description="intra-op threads of torch; default: torch's")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:1, ...")

    @model_validator(mode="after")
    def _one_body_fits(self) -> ServerSettings:
        if self.max_buffered_body_bytes is not None and self.max_buffered_body_bytes < self.max_body_bytes:
            raise ValueError(f"max_buffered_body_bytes ({self.max_buffered_body_bytes}) must hold at least one "
                             f"body of max_body_bytes ({self.max_body_bytes})")
        return self

    @property
    def buffered_body_bytes(self) -> int:
        return self.max_buffered_body_bytes or 4 * self.max_body_bytes

    @property
    def serves_anonymous(self) -> bool:
        """Anonymous callers are served only if allowed, and never as a way around the keys'
        budgets: when any key has one, only with a budget of their own."""
        budgeted = any(limit is not None for limit in self.api_keys.values())
        return self.allow_anonymous and (self.anonymous_budget is not None or not budgeted)
