"""The developer's side of a grid worker: one `Developer` per original model, built from the
grid's recipe with the developer's own factory, and the public data D0 of each, as an attacker
given that capability holds it (public in the threat model; never D_u)."""

from __future__ import annotations

from pathlib import Path

from developer.factory import developer_from_settings
from developer.pipeline import Developer, TrainedVersion
from developer.settings import TrainingConfig
from evaluation.grid import Case, OriginalKey


class Developers:
    def __init__(self, workdir: Path, threads: int | None):
        self.workdir, self.threads = Path(workdir), threads
        self._cache: dict[OriginalKey, Developer] = {}

    def __call__(self, key: OriginalKey) -> Developer:
        if key not in self._cache:
            self._cache[key] = developer_from_settings(TrainingConfig(
                **key.recipe.model_dump(), regime=key.regime, seed=key.seed, workdir=self.workdir / "developer",
                threads=self.threads))
        return self._cache[key]

    def public_data(self, key: OriginalKey) -> Path:
        """D0 of this original's split, exported once (cached by the data's configuration)."""
        dev = self(key)
        path = self.workdir / "public" / f"d0-{dev.data.digest()}.npz"
        if not path.exists():
            dev.export_public(path)
        return path

    def unlearned(self, case: Case) -> TrainedVersion:
        """The case's unlearned version: its classes' proportion removed, or, for a null, samples
        spread evenly over the classes (spread) or nothing (a retrain with a fresh order)."""
        dev = self(case.original)
        if case.null == "spread":
            forget = dev.spread_forget_set(case.proportion, case.draw)
        else:
            forget = dev.forget_set([(dev.class_index(name), case.proportion) for name in case.classes])
        return dev.unlearn(forget, case.unlearning())
