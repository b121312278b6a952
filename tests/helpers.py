"""Helpers for server tests: upload a model version through the admin API, encode batches, and
send one request straight through the ASGI app (raw header bytes, a body in timed pieces)."""

from __future__ import annotations

import asyncio

import numpy as np

from shared.artifacts import content_version, weights_to_bytes
from shared.schemas import Float32Batch, ModelMetadata
from tests.conftest import make_meta, make_model

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def versioned(seed: int = 0, **meta_kwargs) -> tuple[ModelMetadata, bytes, object]:
    """A tiny model with a content-derived version id: (metadata, weights bytes, module)."""
    meta = make_meta(**meta_kwargs)
    model = make_model(meta, seed)
    weights = weights_to_bytes(model)
    meta = meta.model_copy(update={"version": content_version(weights, meta)})
    return meta, weights, model


def upload(client, meta: ModelMetadata, weights: bytes, headers=AUTH):
    files = {"metadata": ("metadata.json", meta.model_dump_json().encode(), "application/json"),
             "weights": ("model.safetensors", weights, "application/octet-stream")}
    return client.post("/admin/models", files=files, headers=headers)


def deploy(client, version: str, headers=AUTH, **options):
    return client.put("/admin/deployment", json={"version": version, "options": options}, headers=headers)


def predict_body(images: np.ndarray) -> dict:
    return {"images": Float32Batch.from_array(images).model_dump()}


async def asgi_request(app, path: str, headers: list[tuple[bytes, bytes]], chunks: list[tuple[float, bytes]],
                       more_after: bool = True) -> tuple[int, dict, bytes]:
    """POST `path` through the ASGI app with raw `headers` (bytes, as a socket gives them: no HTTP
    client re-encodes them); `chunks` are (delay before, bytes) pieces of the body, after the last
    of which the client goes silent (`more_after`) or ends the body. Returns (status, headers,
    body) of the answer; an application that raises after answering (a 500) still returns it."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80)}
    pieces = list(chunks)
    answer: dict = {"body": b""}

    async def receive():
        if pieces:
            delay, data = pieces.pop(0)
            await asyncio.sleep(delay)
            return {"type": "http.request", "body": data, "more_body": bool(pieces) or more_after}
        await asyncio.Event().wait()  # silent: the body never ends

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    try:
        await app(scope, receive, send)
    except Exception:
        if "status" not in answer:
            raise
    return answer["status"], answer["headers"], answer["body"]
