"""`python -m attacker.shadow`: train shadow models on the attacker's public data and write the
run's shadow calibration (`<run>/shadow.json`), which `python -m attacker infer --null shadow` uses.

Needs the public-data capability (labelled images: --public-data) and torch. It never talks to
the target: it reads the run's probes and trains its own models. stdout: the calibration's
summary as JSON; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from rich.console import Console

from attacker.calibration import SHADOW_FILE, ShadowConfig
from attacker.settings import AttackerSettings
from attacker.shadow.calibrate import calibrate_run
from shared.cli import add_model_flags, flag_values

console = Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m attacker.shadow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(parser.add_argument_group("the run"), AttackerSettings, only=("run", "public_data"))
    add_model_flags(parser.add_argument_group("shadow models"), ShadowConfig)
    parser.add_argument("--threads", type=int, help="torch threads")
    args = parser.parse_args(argv)
    settings = AttackerSettings(**flag_values(args, AttackerSettings))
    config = ShadowConfig(**flag_values(args, ShadowConfig))
    if settings.public_data is None:
        raise SystemExit("error: shadow models need the public-data capability: pass --public-data")
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        result = calibrate_run(settings.run, settings.public_data, config, log=console.print)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    console.print(f"shadow calibration written to {settings.run / SHADOW_FILE} in {time.perf_counter() - start:.0f} s")
    print(json.dumps({"path": str(settings.run / SHADOW_FILE), "describe": result.describe(),
                      "shadow_accuracy": result.shadow_accuracy}, indent=2))


if __name__ == "__main__":
    main()
