"""Helpers for server tests: upload a model version through the admin API, encode batches."""

from __future__ import annotations

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
