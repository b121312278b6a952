"""A snapshot: the served model's answers to every accepted probe, with the version that gave them.

    <run>/snapshots/<version>.npz    probabilities (K, classes)
    <run>/snapshots/<version>.json   version, queries, time
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from attacker.client import InferenceClient
from attacker.probes import ProbeSet
from shared.atomic import atomic_write, write_json
from shared.digest import array_digest


@dataclass
class Snapshot:
    version: str
    probabilities: np.ndarray
    queries: int
    probe_digest: str  # which probe images were asked


def probe_digest(images: np.ndarray) -> str:
    return array_digest(images)


def snapshot_paths(run_dir: Path, version: str) -> tuple[Path, Path]:
    base = Path(run_dir) / "snapshots"
    return base / f"{version}.npz", base / f"{version}.json"


def take_snapshot(client: InferenceClient, probe_set: ProbeSet) -> Snapshot:
    """Query every accepted probe on the version now served (one version for all) and save it."""
    images, _ = probe_set.accepted()
    if len(images) == 0:
        raise ValueError("the run has no accepted probes to snapshot")
    client.pinned_version = None
    version = client.model_info().version
    client.pinned_version = version
    client.phase = f"snapshot {version}"
    before = client.total_queries
    probs, _ = client.predict(images)
    snapshot = Snapshot(version, probs, client.total_queries - before, probe_digest(images))
    npz, meta = snapshot_paths(probe_set.run_dir, version)
    buffer = io.BytesIO()
    np.savez(buffer, probabilities=probs)
    atomic_write(npz, buffer.getvalue())
    write_json(meta, {"version": version, "queries": snapshot.queries, "probes": len(images),
                      "probe_digest": snapshot.probe_digest,
                      "taken_at": datetime.now(timezone.utc).isoformat()})
    return snapshot


def load_snapshot(run_dir: Path, version: str) -> Snapshot:
    npz, meta = snapshot_paths(run_dir, version)
    if not npz.exists():
        raise FileNotFoundError(f"no snapshot of version {version} in {run_dir}")
    info = json.loads(meta.read_text())
    with np.load(npz) as z:
        return Snapshot(version, z["probabilities"], int(info["queries"]), info["probe_digest"])


def list_snapshots(run_dir: Path) -> list[str]:
    """Versions with a snapshot, oldest first."""
    metas = [json.loads(p.read_text()) for p in (Path(run_dir) / "snapshots").glob("*.json")]
    return [m["version"] for m in sorted(metas, key=lambda m: m["taken_at"])]
