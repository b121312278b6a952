"""`python -m evaluation CONFIG.toml`: run a grid through the real system and score it.

Cases already done (in --workdir) are not recomputed; an interrupted grid continues. Tables,
figures and summary.json go to --out; stdout carries one line,
`top1_p_ge_0.1=… top1_p_0.003=… wall_s=…` (single-class exact cases without a defense, scored seeds,
the statistic chosen on the calibration seeds); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from rich.console import Console

from devtools.processes import ROOT
from evaluation.grid import load_grid
from evaluation.orchestrate import evaluate
from evaluation.summary import GridSummary
from shared.logs import setup_logging


def main(argv: list[str] | None = None) -> GridSummary:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the grid (TOML), e.g. evaluation/configs/cpu.toml")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "evaluation",
                        help="checkpoints, probe sets and case results, shared by every grid")
    parser.add_argument("--out", type=Path, help="tables and figures (default: <workdir>/<grid name>)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local",
                        help="local: in this process; ray: actors on ray.init() (RAY_ADDRESS for a cluster)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="Ray actors, each with its own server process")
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    console = Console(stderr=True)
    if args.workers < 1:
        raise SystemExit("error: --workers must be at least 1")
    config = load_grid(args.config)
    # SIGTERM ends the grid like Ctrl-C: the workers' server processes are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = "python -m evaluation " + " ".join(sys.argv[1:] if argv is None else argv)
    summary = evaluate(config, args.workdir, args.executor, args.workers, args.out, command, console)
    print(summary.line(), flush=True)
    return summary


if __name__ == "__main__":
    main()
