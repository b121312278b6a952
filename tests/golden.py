"""Golden fingerprints of attack reports: what a refactoring of the attacker must leave unchanged.

A fingerprint keeps what the attack computed — the versions compared, the ranking, every
statistic's score of every class, the query counts by phase — and nothing that describes it
(notes, labels, wall time), so that a change of wording or of the confidence rule is not a
change of result. `check_golden` compares a fresh fingerprint with the committed one in
tests/golden/; with UIA_WRITE_GOLDEN=1 it writes the file instead (once, on the code whose
results are the reference), and the test then fails so that a written golden is never mistaken
for a passed comparison.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from attacker import raw_ranking
from evaluation.compare import differences  # floats to a relative 1e-9: JSON's rounding only
from shared.schemas import AttackReport

GOLDEN = Path(__file__).parent / "golden"


def fingerprint(report: AttackReport) -> dict:
    """Of every statistic, the scores the two observations give (before a null model standardises
    them), and the ranking by the headline's."""
    if not report.rankable:
        scores, ranking = {}, None
    else:
        scores = report.raw_statistics or {report.statistic: report.scores, **report.other_statistics}
        ranking = raw_ranking(report)
    return {"versions": [report.versions.before, report.versions.after], "rankable": report.rankable,
            "statistic": report.statistic, "ranking": ranking,
            "queries": [report.queries.probing, report.queries.snapshot_before, report.queries.snapshot_after],
            "probes_per_class": report.probes_per_class, "scores": scores}


def check_golden(name: str, fingerprints: dict) -> None:
    """Every fingerprint of the golden file must be among `fingerprints`, and equal (cases added
    since, null updates say, are not compared)."""
    path = GOLDEN / f"{name}.json"
    fresh = json.loads(json.dumps(fingerprints))  # the form it is stored in
    if os.environ.get("UIA_WRITE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
        raise AssertionError(f"wrote {path}: run again without UIA_WRITE_GOLDEN to compare")
    expected = json.loads(path.read_text())
    found = differences(expected, {k: v for k, v in fresh.items() if k in expected})
    assert not found, f"{name}: results differ from {path}:\n" + "\n".join(found[:20])
