"""Pre-registration: what a scored run is held to, frozen in a committed file before it runs.

A `Protocol` fixes the attacker — its probe method, statistic, null model and labelling rule —
and lists every seed that a development or calibration run has used: choices were made on those,
so they are never scored. `python -m evaluation.calibrate` writes one from calibration grids;
a grid names it (`protocol = "cpu"`: evaluation/protocols/cpu.json) and then takes its attacker
from it, and the harness refuses to run the grid if one of its scored seeds is among the
protocol's excluded seeds or the calibration seeds of any grid in evaluation/configs/. Every case
result and summary carries the protocol's digest, so a number can always be traced to the
choices it was made under.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field

from evaluation.grid import Attacker, GridConfig, expand
from shared.data import load_dataset
from shared.digest import Frozen

PROTOCOLS = Path(__file__).parent / "protocols"
CONFIGS = Path(__file__).parent / "configs"


class Protocol(Frozen):
    name: str
    frozen_on: str = Field(description="the date it was frozen (before any scored run under it)")
    attacker: Attacker = Field(description="probe method, statistic, null model, labelling rule")
    chosen_on: list[str] = Field(description="the calibration runs the choices were made on (grid, seeds, cases)")
    excluded_seeds: list[int] = Field(description="every seed a development or calibration run used: never scored")
    goals: str = Field("", description="what the rule was fitted to meet, and by what margin")

    @classmethod
    def load(cls, name_or_path: str | Path) -> Protocol:
        path = Path(name_or_path)
        if not path.suffix:
            path = PROTOCOLS / f"{name_or_path}.json"
        if not path.exists():
            raise ValueError(f"no protocol {name_or_path!r} ({path})")
        return cls.model_validate_json(path.read_text())

    def label(self) -> str:
        return f"{self.name} ({self.digest()})"


def calibration_seeds_in(configs: Path = CONFIGS) -> dict[int, list[str]]:
    """Seed -> the grids in `configs` that hold it apart for calibration."""
    seeds: dict[int, list[str]] = {}
    for path in sorted(Path(configs).glob("*.toml")):
        with open(path, "rb") as f:
            for seed in tomllib.load(f).get("calibration_seeds", []):
                seeds.setdefault(seed, []).append(path.name)
    return seeds


def check_fresh(scored_seeds: list[int], protocol: Protocol | None, configs: Path = CONFIGS) -> None:
    """Refuse scored seeds that any choice was made on: a calibration seed of any grid in
    `configs`, or one the protocol excludes."""
    used = sorted(set(scored_seeds) & set(protocol.excluded_seeds if protocol else ()))
    if used:
        raise ValueError(f"seeds {used} were used in development or calibration ({protocol.name}'s excluded "
                         "seeds): a scored run takes fresh seeds")
    held = calibration_seeds_in(configs)
    overlap = {seed: held[seed] for seed in scored_seeds if seed in held}
    if overlap:
        raise ValueError(f"seeds {sorted(overlap)} are calibration seeds of {sorted({g for v in overlap.values() for g in v})}"
                         ": a scored run takes fresh seeds")


def load_grid(path: Path) -> GridConfig:
    """The grid at `path`, under its protocol if it names one, checked through to its cases (class
    names, removals, fresh seeds) before anything starts: a bad file is a clear error, not a
    traceback half-way through a grid."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        config = GridConfig.model_validate(raw)
        protocol = None
        if config.protocol is not None:
            if "attacker" in raw:
                raise ValueError("a grid under a protocol takes its attacker from the protocol: drop [attacker]")
            protocol = Protocol.load(config.protocol)
            config = config.model_copy(update={"attacker": protocol.attacker, "protocol": protocol.label()})
        check_fresh(config.seeds, protocol)
        expand(config, list(load_dataset(config.model.dataset).classes))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {path}: {exc}") from None
    return config
