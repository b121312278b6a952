"""How the attacker's probes (or label-only inputs) are made: one parameter model per method.

These are the single declaration of each method's parameters. The attacker's implementations
declare them as their `Params` (attacker/optimizers, attacker/natural_probes.py,
attacker/label_only/), its CLI derives one flag per field, the evaluation harness's grids hold
them as typed values, and every attack report records the one it used (`AttackReport.probe_method`).
The field `name` says which method a value is for (a discriminated union), so a saved probe set or
report reads back as the same type it was written from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class MethodParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeParams(MethodParams):
    """Parameters every synthetic-probe optimiser has; each extends them (and may change defaults)."""

    threshold: float = Field(0.9995, gt=0, lt=1, description="accept a probe at p_c >= this (the paper's 0.9995)")
    max_queries: int | None = Field(1_000_000, ge=1, description="query cap per probe")


class ZooParams(ProbeParams):
    """The paper code's ZOO (attacker/optimizers/zoo.py)."""

    name: Literal["zoo"] = "zoo"
    nb_parallel: int = Field(1024, ge=1, description="coordinates per iteration (2 queries each)")
    h: float = Field(1e-4, gt=0, lt=0.5, description="finite-difference step")
    lr: float = Field(0.1, gt=0, description="Adam learning rate")
    lr_confident: float = Field(0.02, gt=0, description="learning rate after a try that reached p_c > 0.9")
    max_iter: int = Field(20, ge=1, description="iterations per try")
    tries: int = Field(10, ge=1, description="tries before restarting from noise")
    early_accept: bool = Field(False, description="accept as soon as an iteration reaches the threshold (not the "
                                                  "paper's; less saturated probes)")


class NESParams(ProbeParams):
    """Antithetic NES in a low-resolution input space (attacker/optimizers/nes.py)."""

    name: Literal["nes"] = "nes"
    max_queries: int | None = Field(100_000, ge=1, description="query cap per probe")
    resolution: int = Field(8, ge=1, description="side of the low-resolution grid")
    # 5 pairs and sigma 0.15 (were 10 and 0.05): median 298 instead of 474 queries per probe, chosen on
    # probe seeds (100 + k, c) that `make bench-probing` (seeds (k, c)) never uses
    directions: int = Field(5, ge=1, description="antithetic direction pairs per step")
    sigma: float = Field(0.15, gt=0, le=0.5, description="exploration radius")
    lr: float = Field(0.2, gt=0, description="Adam learning rate")
    patience: int = Field(50, ge=1, description="steps without a new best loss before the grid is refined "
                                                "(or, at full resolution, the search restarts)")


class NaturalParams(MethodParams):
    """Natural probes: public images chosen by the served model's answers (attacker/natural_probes.py).
    Needs the public-data capability."""

    name: Literal["natural"] = "natural"
    pool: int | None = Field(None, ge=1, description="public images asked, one query each: a seeded subset of "
                                                     "this many (default: all the public data)")


class BoundaryParams(MethodParams):
    """The label-only attack's measurement (attacker/label_only/): its inputs, chosen once per run,
    and the distances to the decision boundary measured on them."""

    name: Literal["boundary"] = "boundary"
    pool: int = Field(1000, ge=2, description="candidate inputs, one query each: seeded noise (half uniform, half "
                                              "low-frequency), or a seeded subset of this many public images "
                                              "with --public-data")
    per_class: int = Field(20, ge=1, description="inputs measured per class (as the served version labels the "
                                                 "candidates; a class given fewer gets fewer)")
    directions: int = Field(8, ge=1, description="random unit directions per input")
    max_radius: float = Field(16.0, gt=0, description="longest step searched along a direction (L2 norm, pixels "
                                                      "in [0, 1]); a direction whose label does not change within "
                                                      "it is censored at this value")
    steps: int = Field(10, ge=1, description="binary-search steps per direction: resolution "
                                             "max_radius / 2^(steps + 1)")
    seed: int = Field(0, description="the inputs and the directions come from generators seeded (seed, stream)")

    @property
    def resolution(self) -> float:
        """Half the final bracket: the error of a measured distance, and the smallest one reported."""
        return self.max_radius / 2 ** (self.steps + 1)

    def queries_per_input(self) -> int:
        """The most images one input can cost (every direction's label changes within max_radius)."""
        return 1 + self.directions * (1 + self.steps)


# the methods that make probes (compared by their probabilities); a probe set records one of them
ProbeMethodParams = Annotated[ZooParams | NESParams | NaturalParams, Field(discriminator="name")]
# every method a report can come from: the probe methods and the label-only measurement
AttackMethodParams = Annotated[ZooParams | NESParams | NaturalParams | BoundaryParams, Field(discriminator="name")]
