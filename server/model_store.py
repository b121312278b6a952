"""The versioned model store on disk.

    <store>/versions/<version>/model.safetensors
    <store>/versions/<version>/metadata.json
    <store>/deployment.json          the deployed version and its options

Uploads are checked completely (metadata schema, architecture, every tensor's name, shape,
dtype and finiteness, one forward pass) before anything touches the disk, then written
atomically. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import torch

from shared.artifacts import (
    METADATA_FILE,
    STORE_VERSIONS_DIR,
    WEIGHTS_FILE,
    InvalidArtifact,
    load_version,
    model_from_bytes,
    parse_metadata,
    write_version_files,
)
from shared.atomic import write_json
from shared.schemas import ModelMetadata

DEPLOYMENT_FILE = "deployment.json"


class VersionConflict(Exception):
    """A version id already stored with different content."""


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.versions_dir = self.root / STORE_VERSIONS_DIR
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()

    def versions(self) -> list[ModelMetadata]:
        metas = []
        for d in sorted(self.versions_dir.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / METADATA_FILE).exists():
                metas.append(parse_metadata((d / METADATA_FILE).read_bytes()))
        return sorted(metas, key=lambda m: m.created_at)

    def has(self, version: str) -> bool:
        return (self.versions_dir / version / METADATA_FILE).exists()

    def add(self, metadata_json: bytes, weights: bytes) -> tuple[ModelMetadata, bool]:
        """Validate and store a version. Returns (metadata, created); raises InvalidArtifact or VersionConflict."""
        meta = parse_metadata(metadata_json)
        model = model_from_bytes(meta, weights)
        _check_forward(model, meta)
        with self._write_lock:
            target = self.versions_dir / meta.version
            if self.has(meta.version):
                if (target / WEIGHTS_FILE).read_bytes() == weights:
                    return meta, False
                raise VersionConflict(f"version {meta.version} is already stored with different weights")
            write_version_files(target, weights, meta.model_dump_json(indent=2).encode())
        return meta, True

    def load(self, version: str) -> tuple[torch.nn.Module, ModelMetadata]:
        if not self.has(version):
            raise KeyError(version)
        return load_version(self.versions_dir / version)

    def read_deployment(self) -> dict | None:
        path = self.root / DEPLOYMENT_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def write_deployment(self, deployment: dict) -> None:
        write_json(self.root / DEPLOYMENT_FILE, deployment)


@torch.inference_mode()
def _check_forward(model: torch.nn.Module, meta: ModelMetadata) -> None:
    logits = model(torch.rand(2, *meta.input_shape))
    if logits.shape != (2, meta.num_classes):
        raise InvalidArtifact(f"model outputs shape {list(logits.shape)}, expected [2, {meta.num_classes}]")
    if not torch.isfinite(logits).all():
        raise InvalidArtifact("model outputs NaN or infinite logits")
