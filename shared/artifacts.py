"""The on-disk and on-the-wire format of a model version.

A version is two files: ``model.safetensors`` (the state dict; never pickle) and
``metadata.json`` (`ModelMetadata`). A directory is written atomically: both files go into a
temporary sibling directory which is then renamed into place, so a crash leaves either the
whole version or nothing.

Loading checks the weights against the architecture the metadata names: every tensor present,
no extra tensor, each with the expected shape and dtype, every value finite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from shared.models import build_model, expected_state_shapes
from shared.models.registry import Classifier
from shared.schemas import ModelMetadata

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
STORE_VERSIONS_DIR = "versions"  # a model store (the server's) keeps each version as <store>/versions/<id>/


class InvalidArtifact(ValueError):
    """Weights or metadata that do not make a valid model version; the message says why."""


def weights_to_bytes(model: torch.nn.Module) -> bytes:
    state = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    return save_safetensors(state)


def content_version(weights: bytes, meta: ModelMetadata) -> str:
    """A version id derived from the weights and the architecture: same model, same id."""
    digest = hashlib.sha256(weights)
    digest.update(meta.model_dump_json(include={"architecture", "input_shape", "classes", "normalization"}).encode())
    return "m-" + digest.hexdigest()[:12]


def parse_metadata(raw: bytes | str) -> ModelMetadata:
    try:
        return ModelMetadata.model_validate_json(raw)
    except ValueError as exc:
        raise InvalidArtifact(f"metadata is not valid: {exc}") from None


def model_from_bytes(meta: ModelMetadata, weights: bytes) -> Classifier:
    """Build the architecture of `meta` and load `weights` into it, checking every tensor."""
    try:
        state = load_safetensors(weights)
    except (SafetensorError, ValueError, OSError) as exc:
        raise InvalidArtifact(f"weights are not a valid safetensors file: {exc}") from None
    expected = expected_state_shapes(meta)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise InvalidArtifact(f"weights do not match architecture {meta.architecture.name} "
                              f"(width {meta.architecture.width}): missing {missing[:5]}, unexpected {extra[:5]}")
    for name, (shape, dtype) in expected.items():
        tensor = state[name]
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise InvalidArtifact(f"tensor {name} is {tensor.dtype} {list(tensor.shape)}, "
                                  f"architecture needs {dtype} {list(shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise InvalidArtifact(f"tensor {name} holds NaN or infinite values")
    model = build_model(meta)
    model.load_state_dict(state, strict=True)
    return model.eval()


def save_version(directory: Path, model: torch.nn.Module, meta: ModelMetadata) -> Path:
    """Write a version directory atomically; returns its path. An existing one is replaced."""
    return write_version_files(directory, weights_to_bytes(model), meta.model_dump_json(indent=2).encode())


def write_version_files(directory: Path, weights: bytes, metadata_json: bytes) -> Path:
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for name, data in ((WEIGHTS_FILE, weights), (METADATA_FILE, metadata_json)):
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        if directory.exists():
            shutil.rmtree(directory)
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_metadata(directory: Path) -> ModelMetadata:
    return parse_metadata((Path(directory) / METADATA_FILE).read_bytes())


def load_version(directory: Path) -> tuple[Classifier, ModelMetadata]:
    directory = Path(directory)
    meta = read_metadata(directory)
    return model_from_bytes(meta, (directory / WEIGHTS_FILE).read_bytes()), meta

