"""What `probe` and `snapshot` print on stdout (one JSON object each); `infer` prints the
`AttackReport`. Progress and logs go to stderr."""

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
