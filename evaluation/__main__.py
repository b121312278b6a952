"""`python -m evaluation CONFIG.toml`: run a grid through the real system and score it.

Cases already done (in --workdir) are not recomputed; an interrupted grid continues. Tables,
figures and summary.json go to --out; stdout carries one line,
`top1_p_ge_0.1=… top1_p_0.003=… auc=… tpr_at_5pct_fpr=… null_high_rate=… wall_s=…` (top-1 of the
single-class exact cases without a defense; the detection at p ≥ 0.1 against every null update;
the share of null updates labelled `high`; scored seeds only, under the grid's protocol); progress
goes to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from rich.console import Console

from devtools.processes import ROOT
from evaluation.protocol import load_grid
from evaluation.executors import ExecutorConfig
from evaluation.orchestrate import evaluate
from evaluation.summary import GridSummary
from shared.cli import add_model_flags, flag_values
from shared.logs import setup_logging


def main(argv: list[str] | None = None) -> GridSummary:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the grid (TOML), e.g. evaluation/configs/cpu.toml")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "evaluation",
                        help="checkpoints, probe sets and case results, shared by every grid")
    parser.add_argument("--out", type=Path, help="tables and figures (default: <workdir>/<grid name>)")
    add_model_flags(parser.add_argument_group("where it runs"), ExecutorConfig)
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    console = Console(stderr=True)
    try:
        where = ExecutorConfig(**flag_values(args, ExecutorConfig))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    config = load_grid(args.config)
    # SIGTERM ends the grid like Ctrl-C: the workers' server processes are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = "python -m evaluation " + " ".join(sys.argv[1:] if argv is None else argv)
    summary = evaluate(config, args.workdir, where, args.out, command, console)
    print(summary.line(), flush=True)
    return summary


if __name__ == "__main__":
    main()
