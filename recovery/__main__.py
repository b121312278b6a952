"""`python -m recovery`: the operator's white-box attack on two stored versions.

    python -m recovery --store runs/server-store                  # newest version vs its parent
    python -m recovery --store S --before V1 --after V2 --images 2 --labels cat,dog
    python -m recovery --before-dir DIR1 --after-dir DIR2 --profile paper --device cuda

stdout carries only the result (RecoveryResult as JSON); the progress bar and messages go to
stderr. Bad input exits with status 2 and a message, before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recovery.attack import parse_labels, recover
from recovery.config import PROFILES, RecoveryConfig
from recovery.errors import RecoveryInputError
from recovery.outputs import write_outputs
from recovery.settings import OVERRIDABLE, RecoveryRun, VersionChoice
from recovery.versions import read_meta, resolve_in_store
from shared.cli import add_model_flags, flag_values
from shared.runtime import configure_threads, select_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recovery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(parser.add_argument_group("the two versions: a server store, or two version directories"),
                    VersionChoice)
    add_model_flags(parser.add_argument_group("the run"), RecoveryRun, skip=tuple(VersionChoice.model_fields))
    add_model_flags(parser.add_argument_group("the optimisation (default: the profile's)"), RecoveryConfig,
                    only=OVERRIDABLE, show_defaults=False)
    return parser


def version_dirs(run: RecoveryRun) -> tuple[Path, Path]:
    if run.store is not None:
        if run.before_dir or run.after_dir:
            raise RecoveryInputError("give either --store (with --before/--after) or --before-dir and --after-dir")
        return resolve_in_store(run.store, run.before, run.after)
    if run.before_dir is None or run.after_dir is None:
        raise RecoveryInputError("give --store, or both --before-dir and --after-dir")
    return run.before_dir, run.after_dir


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = RecoveryRun(**flag_values(args, RecoveryRun))
        before_dir, after_dir = version_dirs(run)
        profile = PROFILES[run.profile]
        config = profile.model_validate({**profile.model_dump(), **flag_values(args, RecoveryConfig)})
        labels = None
        if run.labels:
            labels = parse_labels(run.labels, read_meta(after_dir).classes)
        device = select_device(run.device)
        configure_threads(run.threads)
        inversion, result = recover(before_dir, after_dir, config, num_images=run.images, labels=labels,
                                    device=device)
    except (RecoveryInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = write_outputs(run.out, inversion, result)
    print(f"recovered {result.num_images} image(s) labelled {', '.join(result.labels.used_names)} "
          f"({result.labels.source}); cosine distance {result.final_cosine_distance:.4f}; "
          f"{result.seconds:.1f} s on {result.device}; files in {run.out}", file=sys.stderr)
    print(result.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
