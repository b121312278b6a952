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
from recovery.config import PROFILES
from recovery.errors import RecoveryInputError
from recovery.outputs import write_outputs
from recovery.versions import read_meta, resolve_in_store
from shared.runtime import configure_threads, select_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recovery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_argument_group("the two versions: a server store, or two version directories")
    where.add_argument("--store", type=Path, help="a server store directory (<store>/versions/<id>/)")
    where.add_argument("--before", help="version id of θ in the store (default: the parent of --after)")
    where.add_argument("--after", help="version id of θ_u in the store (default: the newest version)")
    where.add_argument("--before-dir", type=Path, help="directory of θ (model.safetensors + metadata.json)")
    where.add_argument("--after-dir", type=Path, help="directory of θ_u")
    parser.add_argument("--out", type=Path, default=Path("runs/recovery"), help="output directory")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                        help="cpu: 1,500 iterations x 2 restarts; paper: 10,000 x 5 (METHOD.md)")
    parser.add_argument("--iterations", type=int, help="override the profile's iterations per restart")
    parser.add_argument("--restarts", type=int, help="override the profile's restarts")
    parser.add_argument("--lr", type=float, help="Adam step size (default 0.04)")
    parser.add_argument("--tv", type=float, help="total-variation weight α (default 1e-2)")
    parser.add_argument("--unsigned", action="store_true", help="plain instead of signed gradients")
    parser.add_argument("--images", type=int, default=1, help="how many images to recover at once (batch)")
    parser.add_argument("--labels", help="comma-separated class names or indices (default: inferred from ∇*)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: one image's small kernels gain nothing from more)")
    return parser


def version_dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.store is not None:
        if args.before_dir or args.after_dir:
            raise RecoveryInputError("give either --store (with --before/--after) or --before-dir and --after-dir")
        return resolve_in_store(args.store, args.before, args.after)
    if args.before_dir is None or args.after_dir is None:
        raise RecoveryInputError("give --store, or both --before-dir and --after-dir")
    return args.before_dir, args.after_dir


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        before_dir, after_dir = version_dirs(args)
        overrides = {k: v for k, v in {"iterations": args.iterations, "restarts": args.restarts, "lr": args.lr,
                                       "tv_weight": args.tv}.items() if v is not None}
        overrides.update(seed=args.seed, signed=not args.unsigned)
        config = PROFILES[args.profile].model_validate({**PROFILES[args.profile].model_dump(), **overrides})
        labels = None
        if args.labels:
            labels = parse_labels(args.labels, read_meta(after_dir).classes)
        device = select_device(args.device)
        configure_threads(args.threads)
        inversion, result = recover(before_dir, after_dir, config, num_images=args.images, labels=labels,
                                    device=device)
    except (RecoveryInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = write_outputs(args.out, inversion, result)
    print(f"recovered {result.num_images} image(s) labelled {', '.join(result.labels.used_names)} "
          f"({result.labels.source}); cosine distance {result.final_cosine_distance:.4f}; "
          f"{result.seconds:.1f} s on {result.device}; files in {args.out}", file=sys.stderr)
    print(result.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
