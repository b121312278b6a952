"""`python -m developer`: train, fine-tune, unlearn and push model versions.

Every stage is cached in the work directory by the hash of its configuration: running a
command again with the same settings reuses the checkpoint instead of training again.
Server address and admin token may come from UIA_SERVER_URL and UIA_ADMIN_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from developer.config import PROFILES, REGIMES, DataConfig
from developer.pipeline import Developer, ForgetRequest, TrainedVersion
from developer.push import PushError, push_version
from shared.runtime import configure_threads, select_device


def add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument("--workdir", type=Path, default=Path("runs/developer"), help="checkpoints (default %(default)s)")
    g.add_argument("--dataset", default="cifar10-offline",
                   help="cifar10-offline (bundled), cifar10, cifar100, mnist, fashion-mnist, stl10, "
                        "or an ImageFolder directory with train/ and test/")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                   help="cpu: small CNN (default); paper: ConvNet width 64, 120 epochs (for GPUs)")
    g.add_argument("--regime", choices=sorted(REGIMES), default="paper-code",
                   help="fine-tuning regime of the original and unlearned models (default %(default)s)")
    g.add_argument("--pretrain-epochs", type=int, help="override the profile's pretraining epochs")
    g.add_argument("--width", type=int, help="override the profile's network width")
    g.add_argument("--train-limit", type=int, help="use a seeded subset of this many train images")
    g.add_argument("--test-limit", type=int, help="evaluate on a seeded subset of this many test images")
    g.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    g.add_argument("--threads", type=int, help="torch intra-op threads")


def add_push(p: argparse.ArgumentParser, optional: bool) -> None:
    g = p.add_argument_group("push")
    if optional:
        g.add_argument("--push", action="store_true", help="upload the version to the server and deploy it")
    g.add_argument("--server", default=os.environ.get("UIA_SERVER_URL", "http://127.0.0.1:8000"),
                   help="server base URL (default: $UIA_SERVER_URL or %(default)s)")
    g.add_argument("--token", default=os.environ.get("UIA_ADMIN_TOKEN"), help="admin token (default $UIA_ADMIN_TOKEN)")
    g.add_argument("--no-deploy", action="store_true", help="upload only; do not deploy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m developer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="train the public model on D0")
    add_common(p)
    p = sub.add_parser("finetune", help="fine-tune the pretrained model on D_u: the original model")
    add_common(p)
    add_push(p, optional=True)
    p = sub.add_parser("unlearn", help="exact unlearning: retrain the fine-tune without X")
    add_common(p)
    p.add_argument("--class", dest="classes", action="append", required=True,
                   help="class to unlearn from, by name or index (repeat for several)")
    p.add_argument("--proportion", type=float, action="append", required=True,
                   help="proportion of that class's fine-tuning samples to remove, in (0, 1] (one per --class)")
    add_push(p, optional=True)
    p = sub.add_parser("push", help="upload a version directory to the server")
    p.add_argument("path", type=Path, help="a version directory (holds model.safetensors and metadata.json)")
    add_push(p, optional=False)
    return parser


def make_developer(args) -> Developer:
    profile = PROFILES[args.profile]
    updates = {}
    if args.pretrain_epochs is not None:
        updates["pretrain_epochs"] = args.pretrain_epochs
    if args.width is not None:
        updates["architecture"] = profile.architecture.model_copy(update={"width": args.width})
    profile = profile.model_validate({**profile.model_dump(), **updates})
    data = DataConfig(dataset=args.dataset, seed=args.seed, train_limit=args.train_limit, test_limit=args.test_limit)
    configure_threads(args.threads)
    return Developer(args.workdir, data, profile, REGIMES[args.regime], select_device(args.device))


def class_index(name: str, classes: tuple[str, ...]) -> int:
    if name in classes:
        return classes.index(name)
    if name.isdigit() and int(name) < len(classes):
        return int(name)
    raise SystemExit(f"error: unknown class {name!r}; classes are: {', '.join(classes)}")


def report(version: TrainedVersion, extra: dict | None = None) -> None:
    summary = {"version": version.version, "path": str(version.path),
               "test_accuracy": version.meta.training.get("test_accuracy"), **(extra or {})}
    print(json.dumps(summary))


def maybe_push(args, path: Path) -> None:
    if not getattr(args, "push", True):
        return
    if not args.token:
        raise SystemExit("error: pushing needs the admin token: --token or $UIA_ADMIN_TOKEN")
    try:
        pushed = push_version(path, args.server, args.token, deploy=not args.no_deploy)
    except PushError as exc:
        raise SystemExit(f"error: {exc}") from None
    action = "uploaded" if args.no_deploy else "deployed"
    print(f"{action} {pushed} on {args.server}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "push":
        maybe_push(args, args.path)
        return
    dev = make_developer(args)
    try:
        if args.command == "pretrain":
            report(dev.pretrain())
        elif args.command == "finetune":
            version = dev.finetune()
            report(version)
            maybe_push(args, version.path)
        elif args.command == "unlearn":
            if len(args.classes) != len(args.proportion):
                raise SystemExit("error: give one --proportion per --class")
            targets = tuple((class_index(c, dev.splits.classes), p) for c, p in zip(args.classes, args.proportion))
            version = dev.unlearn(ForgetRequest(targets))
            report(version, {"removed_classes": [dev.splits.classes[c] for c, _ in targets]})
            maybe_push(args, version.path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
