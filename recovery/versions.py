"""The two model versions a recovery compares, read the way the server stores them.

A version is a directory holding ``model.safetensors`` and ``metadata.json`` (shared.artifacts);
a server store keeps them as ``<store>/versions/<version id>/``. Loading goes through
shared.artifacts, which checks every tensor against the architecture and never unpickles.

Invariant: the pair returned describes one architecture (same network, width, input shape,
classes and normalisation) and differs in at least one trainable parameter; anything else is a
`RecoveryInputError` raised before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from recovery.errors import RecoveryInputError
from shared.artifacts import (METADATA_FILE, STORE_VERSIONS_DIR, WEIGHTS_FILE, InvalidArtifact, load_version,
                              read_metadata)
from shared.schemas import ModelMetadata


@dataclass(frozen=True)
class LoadedVersion:
    path: Path
    meta: ModelMetadata
    model: torch.nn.Module


@dataclass(frozen=True)
class VersionPair:
    before: LoadedVersion
    after: LoadedVersion


def _check_files(directory: Path) -> None:
    for name in (METADATA_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise RecoveryInputError(f"{directory} is not a model version: {name} is missing")


def read_meta(directory: Path) -> ModelMetadata:
    directory = Path(directory)
    _check_files(directory)
    try:
        return read_metadata(directory)
    except InvalidArtifact as exc:
        raise RecoveryInputError(f"{directory}: {exc}") from None


def load_one(directory: Path) -> LoadedVersion:
    directory = Path(directory)
    _check_files(directory)
    try:
        model, meta = load_version(directory)
    except InvalidArtifact as exc:
        raise RecoveryInputError(f"{directory}: {exc}") from None
    return LoadedVersion(directory, meta, model.eval())


def resolve_in_store(store: Path, before: str | None, after: str | None) -> tuple[Path, Path]:
    """Version directories in a server store. `after` defaults to the newest version, `before` to
    the parent its metadata names (the version it was unlearned from)."""
    versions_dir = Path(store) / STORE_VERSIONS_DIR
    if not versions_dir.is_dir():
        raise RecoveryInputError(f"{store} is not a server store: {versions_dir} does not exist")
    if after is None:
        stored = [d for d in versions_dir.iterdir() if (d / METADATA_FILE).is_file() and not d.name.startswith(".")]
        if not stored:
            raise RecoveryInputError(f"the store {store} holds no version")
        after = max(stored, key=lambda d: read_metadata(d).created_at).name
    after_dir = versions_dir / after
    if not (after_dir / METADATA_FILE).is_file():
        raise RecoveryInputError(f"the store {store} holds no version {after!r}")
    if before is None:
        before = read_metadata(after_dir).parent
        if before is None:
            raise RecoveryInputError(f"version {after} names no parent; give the earlier version with --before")
    before_dir = versions_dir / before
    if not (before_dir / METADATA_FILE).is_file():
        raise RecoveryInputError(f"the store {store} holds no version {before!r}")
    return before_dir, after_dir


def load_pair(before_dir: Path, after_dir: Path) -> VersionPair:
    before, after = load_one(before_dir), load_one(after_dir)
    fields = ("architecture", "input_shape", "classes", "normalization")
    a, b = before.meta.model_dump(include=set(fields)), after.meta.model_dump(include=set(fields))
    for field in fields:
        if a[field] != b[field]:
            raise RecoveryInputError(f"the two versions differ in {field} ({a[field]} vs {b[field]}): "
                                     f"a parameter difference needs one architecture")
    if all(torch.equal(p, q) for p, q in zip(before.model.parameters(), after.model.parameters())):
        raise RecoveryInputError(f"versions {before.meta.version} and {after.meta.version} have identical "
                                 f"parameters: there is no difference to recover anything from")
    return VersionPair(before, after)
