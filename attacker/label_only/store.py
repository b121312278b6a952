"""A label-only run on disk: its inputs and directions (chosen once), and one measurement per version.

    <run>/boundary.json               the measurement's parameters, the inputs' source, the classes
    <run>/boundary-inputs.npz         inputs (N, C, H, W) and directions (N, K, C, H, W), float32
    <run>/boundaries/<version>.npz    labels (N,), distances (N, K), entered (N, K), censored (N, K)
    <run>/boundaries/<version>.json   version, queries, digests of the inputs and the directions, time

A measurement is only ever compared with one of the same inputs and directions: each records their
digests, and one of other inputs is not found.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attacker.client import InferenceClient, VersionChanged
from attacker.label_only.distance import BoundaryDistance, BoundaryMeasurement
from attacker.label_only.statistics import BOUNDARY_STATISTICS
from shared.atomic import atomic_write, write_json
from shared.digest import array_digest
from shared.schemas import BoundaryParams

BOUNDARY_FILE = "boundary.json"
INPUTS_FILE = "boundary-inputs.npz"
MEASUREMENTS_DIR = "boundaries"


class BoundarySetConfig(BaseModel):
    """The identity of a run's label-only inputs (boundary.json): measurements compare only when it
    is the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="the version whose labels chose the inputs (the first measured)")
    input_shape: tuple[int, int, int]
    classes: list[str]
    source: str = Field(description="'noise', or the public data the inputs were drawn from")
    params: BoundaryParams

    def differences(self, given: BoundaryParams) -> list[str]:
        """The parameters set explicitly in `given` that differ from the run's."""
        return sorted(k for k in given.model_fields_set if getattr(given, k) != getattr(self.params, k))


@dataclass
class BoundarySet:
    run_dir: Path
    config: BoundarySetConfig
    inputs: np.ndarray  # (N, C, H, W) float32
    directions: np.ndarray  # (N, K, C, H, W) float32, unit L2 norm
    selection_queries: int  # images sent to label the pool the inputs were chosen from
    capabilities: list[str]  # what choosing them took beyond the API (public data)

    @property
    def inputs_digest(self) -> str:
        return array_digest(self.inputs)

    @property
    def directions_digest(self) -> str:
        return array_digest(self.directions)

    @property
    def measurer(self) -> BoundaryDistance:
        return BoundaryDistance(self.config.params)

    @staticmethod
    def exists(run_dir: Path) -> bool:
        return (Path(run_dir) / BOUNDARY_FILE).exists()

    @classmethod
    def load(cls, run_dir: Path) -> BoundarySet:
        run_dir = Path(run_dir)
        saved = json.loads((run_dir / BOUNDARY_FILE).read_text())
        with np.load(run_dir / INPUTS_FILE) as z:
            bset = cls(run_dir, BoundarySetConfig.model_validate(saved["config"]), z["inputs"], z["directions"],
                       int(saved["selection_queries"]), list(saved.get("capabilities", [])))
        if bset.directions_digest != saved["directions_digest"] or bset.inputs_digest != saved["inputs_digest"]:
            raise ValueError(f"{run_dir / INPUTS_FILE} does not match {run_dir / BOUNDARY_FILE}: start again with "
                             "--fresh")
        return bset

    def save(self) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, inputs=self.inputs, directions=self.directions)
        atomic_write(self.run_dir / INPUTS_FILE, buffer.getvalue())
        write_json(self.run_dir / BOUNDARY_FILE, {
            "config": self.config.model_dump(mode="json"), "selection_queries": self.selection_queries,
            "capabilities": self.capabilities, "inputs": len(self.inputs), "inputs_digest": self.inputs_digest,
            "directions_digest": self.directions_digest})

    # ------------------------------------------------------------- measurements
    def _paths(self, version: str) -> tuple[Path, Path]:
        base = self.run_dir / MEASUREMENTS_DIR
        return base / f"{version}.npz", base / f"{version}.json"

    def has_measurement(self, version: str) -> bool:
        npz, meta = self._paths(version)
        if not (npz.exists() and meta.exists()):
            return False
        info = json.loads(meta.read_text())  # measured on these very inputs and directions?
        return info.get("inputs_digest") == self.inputs_digest and \
            info.get("directions_digest") == self.directions_digest

    def measured_versions(self) -> list[str]:
        """Every version measured on these inputs and directions."""
        return sorted(v for v in (p.stem for p in (self.run_dir / MEASUREMENTS_DIR).glob("*.json"))
                      if self.has_measurement(v))

    def forget(self, version: str) -> None:
        for path in self._paths(version):
            path.unlink(missing_ok=True)

    def load_measurement(self, version: str) -> BoundaryMeasurement:
        if not self.has_measurement(version):
            raise FileNotFoundError(f"no boundary measurement of version {version} for these inputs in {self.run_dir}")
        npz, meta = self._paths(version)
        with np.load(npz) as z:
            return BoundaryMeasurement(z["labels"], z["distances"], z["entered"], z["censored"],
                                       int(json.loads(meta.read_text())["queries"]))

    def measure(self, client: InferenceClient) -> tuple[str, BoundaryMeasurement]:
        """Measure the version now served (all of it on that one version) and save it."""
        client.pinned_version = None
        version = client.model_info().version
        client.pinned_version = version
        client.phase = f"boundary {version}"
        try:
            m = self.measurer.measure(lambda batch: client.predict(batch)[0].argmax(1), self.inputs, self.directions)
        except VersionChanged as exc:  # half a measurement of each of two versions compares with nothing
            raise ValueError(f"the server replaced version {exc.expected} by {exc.got} during the boundary "
                             "measurement; nothing of it was saved. The run's inputs are kept: run `boundary` "
                             "again to measure the version served now") from None
        npz, meta = self._paths(version)
        buffer = io.BytesIO()
        np.savez(buffer, labels=m.labels, distances=m.distances, entered=m.entered, censored=m.censored)
        atomic_write(npz, buffer.getvalue())
        write_json(meta, {"version": version, "queries": m.queries, "inputs": len(self.inputs),
                          "directions": self.config.params.directions, "inputs_digest": self.inputs_digest,
                          "directions_digest": self.directions_digest, "censored": round(m.censored_fraction, 4),
                          "taken_at": datetime.now(timezone.utc).isoformat()})
        return version, m


def remove_boundary_set(run_dir: Path) -> None:
    """--fresh: new inputs make the old measurements (and a report made from them) meaningless."""
    run_dir = Path(run_dir)
    for name in (BOUNDARY_FILE, INPUTS_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / MEASUREMENTS_DIR, ignore_errors=True)
    report = run_dir / "report.json"
    if report.exists() and json.loads(report.read_text()).get("statistic") in BOUNDARY_STATISTICS:
        for name in ("report.json", "report.md", "report-chart.png"):
            (run_dir / name).unlink(missing_ok=True)
