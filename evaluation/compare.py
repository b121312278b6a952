"""`python -m evaluation.compare GRID.toml WORKDIR_A WORKDIR_B`: are two runs of one grid the same,
case for case?

Two work directories that ran the same grid (one on Ray, one locally, say; or on two machines)
must hold the same results: every case's unlearned version (a digest of its weights), the
accuracies, the query counts, the attack report's every score and detection, the operator's
white-box reading. What describes the run and not its result — wall times — is left out. Floats
are compared to a relative 1e-9 (the same operations give the same bits; this absorbs JSON's
rounding only). stdout: `cases=… equal=… differing=… missing=…`; each difference on stderr; the
exit status is 1 unless every case is present in both and equal.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from evaluation.grid import expand
from evaluation.protocol import load_grid
from evaluation.results import CaseResult, ResultStore, case_id
from shared.data import load_dataset

RELATIVE = 1e-9
NOT_RESULTS = {"wall_seconds": True, "case": True, "report": {"wall_seconds"}}


def computed(result: CaseResult) -> dict:
    """What the case computed: the result less its timing (and the case, equal by its id)."""
    return result.model_dump(mode="json", exclude=NOT_RESULTS)


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths; floats within RELATIVE are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in the first" for k in a if k not in b]
        out += [f"{path}/{k}: only in the second" for k in b if k not in a]
        return out + [d for k in a if k in b for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(a, float) and isinstance(b, numbers) and not isinstance(b, bool):
        same = math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-300) or (math.isnan(a) and math.isnan(b))
        return [] if same else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def compare(grid: Path, first: Path, second: Path) -> tuple[int, int, list[str], list[str]]:
    """(cases, equal, the ids of cases that differ, the ids missing from either) — differences
    are printed to stderr as they are found."""
    config = load_grid(grid)
    stores = ResultStore(first), ResultStore(second)
    equal, differing, missing = 0, [], []
    cases = expand(config, list(load_dataset(config.model.dataset).classes))
    for case in cases:
        a, b = (store.get(case) for store in stores)
        if a is None or b is None:
            missing.append(f"{case_id(case)} ({case.label()})")
            continue
        found = differences(computed(a), computed(b))
        if found:
            differing.append(a.case_id)
            print(f"{a.case_id} ({case.label()}): " + "; ".join(found[:5]) + (" ..." if len(found) > 5 else ""),
                  file=sys.stderr)
        else:
            equal += 1
    return len(cases), equal, differing, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the grid both work directories ran")
    parser.add_argument("first", type=Path, help="a work directory (--workdir of python -m evaluation)")
    parser.add_argument("second", type=Path, help="the other")
    args = parser.parse_args(argv)
    cases, equal, differing, missing = compare(args.config, args.first, args.second)
    for name in missing:
        print(f"missing from a work directory: {name}", file=sys.stderr)
    print(f"cases={cases} equal={equal} differing={len(differing)} missing={len(missing)}", flush=True)
    return 0 if equal == cases else 1


if __name__ == "__main__":
    sys.exit(main())
