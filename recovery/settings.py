"""What one `python -m recovery` run is asked to do: one declaration per option, the CLI's flags
derived from it (shared/cli.py), as the other programs' are.

`RecoveryRun` says which two versions, where the output goes and on what hardware; the
optimisation's own parameters are `RecoveryConfig` (recovery/config.py): a named profile's,
with any of them overridden on the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from recovery.config import PROFILES

# the optimisation parameters a user may override on top of the profile's
OVERRIDABLE = ("iterations", "restarts", "lr", "tv_weight", "signed", "seed")


class VersionChoice(BaseModel):
    """The two versions: a server store (with ids), or two version directories."""

    store: Path | None = Field(None, description="a server store directory (<store>/versions/<id>/)")
    before: str | None = Field(None, description="version id of θ in the store (default: the parent of --after)")
    after: str | None = Field(None, description="version id of θ_u in the store (default: the newest version)")
    before_dir: Path | None = Field(None, description="directory of θ (model.safetensors + metadata.json)")
    after_dir: Path | None = Field(None, description="directory of θ_u")


class RecoveryRun(VersionChoice):
    model_config = ConfigDict(extra="forbid")

    out: Path = Field(Path("runs/recovery"), description="output directory")
    profile: Literal[tuple(sorted(PROFILES))] = Field(  # type: ignore[valid-type]
        "cpu", description="cpu: 1,500 iterations x 2 restarts; paper: 10,000 x 5 (METHOD.md)")
    images: int = Field(1, description="how many images to recover at once (a batch; 1 to 64)")
    labels: str | None = Field(None, description="comma-separated class names or indices (default: inferred "
                                                 "from ∇*)")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    threads: int = Field(1, ge=1, description="torch CPU threads (1: one image's small kernels gain nothing from "
                                              "more)")
