"""`make bench-attack`: the attacker's best method where the paper's attack fails.

The `long` regime (all of D_u, 3 epochs, lr 0.01, momentum 0.9), each of the 10 classes removed
at p = 0.25, 0.5 and 0.9 by exact unlearning, against a live server, through the evaluation
harness (evaluation/configs/attack-long.toml names the method and the attacker's capabilities).
A held-apart seed chooses the statistic; only the other seed is scored. Beside the attacker, the
white-box ceiling on the same cases: how often the last layer of θ_u − θ names the class (its bias
change; evaluation/white_box.py). Ends with
`long_top1_p_ge_0.25=<top-1 accuracy> ceiling_top1_p_ge_0.25=<the same of the ceiling>
high_precision=<share of 'high' rankings that were right>`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from devtools.processes import ROOT
from evaluation.executors import ExecutorConfig
from evaluation.orchestrate import evaluate
from evaluation.protocol import load_grid
from shared.cli import add_model_flags, flag_values
from evaluation.summary import value

console = Console(stderr=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "evaluation" / "configs" / "attack-long.toml")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "evaluation")
    add_model_flags(parser.add_argument_group("where it runs"), ExecutorConfig)
    parser.add_argument("--out", type=Path, help="tables and figures (default: <workdir>/<grid name>)")
    args = parser.parse_args()
    config = load_grid(args.config)
    summary = evaluate(config, args.workdir, ExecutorConfig(**flag_values(args, ExecutorConfig)), args.out,
                       "python benchmarks/bench_attack.py " + " ".join(sys.argv[1:]), console)
    console.print(((args.out or args.workdir / config.name) / "results.md").read_text())
    print(f"long_top1_p_ge_0.25={value(summary.top1_p_ge_0_25)} "
          f"ceiling_top1_p_ge_0.25={value(summary.ceiling_top1_p_ge_0_25)} "
          f"high_precision={value(summary.high_precision)}", flush=True)


if __name__ == "__main__":
    main()
