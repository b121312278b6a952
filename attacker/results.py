"""What `probe`, `snapshot` and `boundary` print on stdout (one JSON object each); `infer` prints
the `AttackReport`. Progress and logs go to stderr."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SnapshotResult(BaseModel):
    version: str = Field(description="the version that answered")
    probes: int = Field(description="accepted probes asked")
    queries: int = Field(description="images sent for this snapshot")


class ProbingResult(BaseModel):
    run: str
    version: str = Field(description="the version the probes were made on")
    made: int = Field(description="probes in the run (accepted or not)")
    accepted: int
    queries: int = Field(description="images sent to make all the probes of the run")
    session_queries: int = Field(description="images sent by this command")
    snapshot: SnapshotResult


class Refusal(BaseModel):
    """Printed (exit status 3) when the served outputs leave this attack nothing to work with."""

    refused: bool = True
    reason: str


class BoundaryResult(BaseModel):
    """What `boundary` prints: one version's distances to the decision boundary (label-only attack)."""

    run: str
    version: str = Field(description="the version measured")
    inputs: int = Field(description="inputs measured")
    directions: int = Field(description="random directions per input")
    source: str = Field(description="where the inputs came from: seeded noise, or the public data's path")
    labels: dict[str, int] = Field(description="inputs per class, as this version labels them")
    censored: float = Field(description="fraction of directions whose label did not change within max_radius")
    queries: int = Field(description="images sent for this measurement")
    selection_queries: int = Field(description="images sent by this command to choose the inputs (the first "
                                               "measurement of a run only)")
    session_queries: int = Field(description="images sent by this command")
    reused: bool = Field(False, description="the version had been measured already; nothing was sent")
    inputs_digest: str
    directions_digest: str
