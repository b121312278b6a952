"""The probe set of an attack run, saved as it grows so that an interrupted run resumes.

    <run>/probes.npz     images (K, C, H, W) float32, targets, confidence, queries, accepted, slot
    <run>/probing.json   the version probed, the recipe (ProbeSpec: method and parameters), the classes

Probe k of class c is made with the random generator seeded by (seed, c, k), so a resumed
run makes exactly the probes an uninterrupted one would have made.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attacker.optimizers import ProbeResult
from attacker.probe_config import ProbeSetConfig
from shared.atomic import atomic_write, write_json

PROBES_FILE = "probes.npz"
PROBING_FILE = "probing.json"


class StaleProbes(ValueError):
    """The run holds probes made on another version or with other settings: they cannot be resumed."""


@dataclass
class ProbeSet:
    run_dir: Path
    config: ProbeSetConfig
    results: dict[tuple[int, int], ProbeResult] = field(default_factory=dict)

    # ------------------------------------------------------------- persistence
    @classmethod
    def open(cls, run_dir: Path, config: ProbeSetConfig) -> ProbeSet:
        """Resume the probe set in `run_dir` if it was made with the same `config`, else start one."""
        run_dir = Path(run_dir)
        existing = cls.load(run_dir) if cls.exists(run_dir) else None
        if existing is not None:
            if existing.config != config:
                changed = config.differences(existing.config)
                raise StaleProbes(f"{run_dir} holds probes made with other settings ({', '.join(changed)} differ); "
                                 "use another run directory, --fresh, or --restart stale")
            return existing
        probe_set = cls(run_dir, config)
        write_json(run_dir / PROBING_FILE, {"config": config.model_dump(mode="json")})
        return probe_set

    @staticmethod
    def exists(run_dir: Path) -> bool:
        return (Path(run_dir) / PROBING_FILE).exists()

    @classmethod
    def load(cls, run_dir: Path) -> ProbeSet:
        run_dir = Path(run_dir)
        config = ProbeSetConfig.model_validate(json.loads((run_dir / PROBING_FILE).read_text())["config"])
        probe_set = cls(run_dir, config)
        if (run_dir / PROBES_FILE).exists():
            # each array read once: an NpzFile reads (and decompresses) the whole array again on
            # every z[name], and a probe holding a row of it holds that whole copy (1,000 natural
            # probes held 1,000 copies of the 12 MB image array: ~12 GB)
            with np.load(run_dir / PROBES_FILE) as z:
                slots, images, targets = z["slot"], z["images"], z["targets"]
                confidence, queries, accepted = z["confidence"], z["queries"], z["accepted"]
            for i, (c, k) in enumerate(slots):
                probe_set.results[(int(c), int(k))] = ProbeResult(
                    images[i], int(targets[i]), float(confidence[i]), int(queries[i]), bool(accepted[i]))
        return probe_set

    def add(self, cls_index: int, k: int, result: ProbeResult) -> None:
        self.add_all({(cls_index, k): result})

    def add_all(self, results: dict[tuple[int, int], ProbeResult]) -> None:
        """Add probes by (class, k) slot and save the set, once for all of them."""
        self.results.update(results)
        self._save()

    def _save(self) -> None:
        slots = sorted(self.results)
        rs = [self.results[s] for s in slots]
        buffer = io.BytesIO()
        np.savez(buffer, slot=np.array(slots, dtype=np.int64).reshape(-1, 2),
                 images=np.stack([r.image for r in rs]).astype(np.float32),
                 targets=np.array([r.target for r in rs], dtype=np.int64),
                 confidence=np.array([r.confidence for r in rs]), queries=np.array([r.queries for r in rs]),
                 accepted=np.array([r.accepted for r in rs]))
        atomic_write(self.run_dir / PROBES_FILE, buffer.getvalue())

    # ------------------------------------------------------------- views
    @property
    def version(self) -> str:
        return self.config.version

    @property
    def classes(self) -> list[str]:
        return self.config.classes

    def missing(self, targets: list[int]) -> list[tuple[int, int]]:
        return [(c, k) for c in targets for k in range(self.config.spec.per_class) if (c, k) not in self.results]

    def accepted(self) -> tuple[np.ndarray, np.ndarray]:
        """Images and targets of the accepted probes, in slot order."""
        rs = [self.results[s] for s in sorted(self.results) if self.results[s].accepted]
        if not rs:
            return np.empty((0, *self.config.input_shape), np.float32), np.empty(0, np.int64)
        return np.stack([r.image for r in rs]).astype(np.float32), np.array([r.target for r in rs])

    def capabilities(self) -> list[str]:
        """What making these probes took beyond the public API (for the report)."""
        return list(self.config.capabilities)

    @property
    def queries(self) -> int:
        return sum(r.queries for r in self.results.values())
