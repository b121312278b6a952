"""What a grid cost in wall time over every run of it in one work directory.

A grid resumed after an interruption computes only what is missing, so the last run's wall time
understates the grid's cost, and the cases' summed times leave out what they share (pretraining,
probing, the history the attacker watched). The ledger keeps one entry per run of the grid,
rewritten (atomically) as the run advances, so a run that was killed still counts up to its last
finished task. Its total is what the grid cost on this work directory; work another grid did
first (a model both share) is not in it, and says so by being cheap.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from pydantic import BaseModel, Field

from shared.atomic import atomic_write


def ledger_path(workdir: Path, name: str) -> Path:
    return Path(workdir) / "ledgers" / f"{name}.json"


class LedgerRun(BaseModel):
    started: str
    seconds: float = 0.0
    computed_cases: int = Field(0, description="cases this run computed (the rest were done before)")


class GridLedger(BaseModel):
    runs: list[LedgerRun] = Field(default_factory=list)

    @property
    def seconds(self) -> float:
        return round(sum(run.seconds for run in self.runs), 1)


class LedgerWriter:
    """Opens a new entry for this run of grid `name` in `workdir`, and updates it on `advance`."""

    def __init__(self, workdir: Path, name: str):
        self.path = ledger_path(workdir, name)
        self.ledger = GridLedger.model_validate_json(self.path.read_text()) if self.path.exists() else GridLedger()
        self.run = LedgerRun(started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        self.ledger.runs.append(self.run)
        self.start = time.perf_counter()
        self._write()

    def advance(self, computed_cases: int = 0) -> None:
        self.run.seconds = round(time.perf_counter() - self.start, 1)
        self.run.computed_cases += computed_cases
        self._write()

    def _write(self) -> None:
        atomic_write(self.path, self.ledger.model_dump_json(indent=1).encode())


def grid_seconds(workdir: Path, name: str) -> float | None:
    """Every recorded run of the grid in `workdir`, summed; None when none was recorded."""
    path = ledger_path(workdir, name)
    return GridLedger.model_validate_json(path.read_text()).seconds if path.exists() else None
