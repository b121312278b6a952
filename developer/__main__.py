"""`python -m developer`: train, fine-tune, unlearn and push model versions, or run as a service.

Every stage is cached in the work directory by the hash of its configuration: running a
command again with the same settings reuses the checkpoint instead of training again.
Each option may also come from the environment (UIA_DEVELOPER_<OPTION>); the server's address
and admin token from UIA_SERVER_URL and UIA_ADMIN_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

from developer.config import PROFILES, REGIMES
from developer.factory import developer_from_settings
from developer.pipeline import TrainedVersion
from developer.push import PushError, push_version
from developer.settings import DeveloperSettings

CONFIG_FIELDS = ("workdir", "dataset", "seed", "profile", "regime", "pretrain_epochs", "width", "train_limit",
                 "test_limit", "device", "threads")


def add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument("--workdir", type=Path, help="checkpoints (default runs/developer)")
    g.add_argument("--dataset", help="cifar10-offline (bundled, default), cifar10, cifar100, mnist, fashion-mnist, "
                                     "stl10, or an ImageFolder directory with train/ and test/")
    g.add_argument("--seed", type=int, help="default 0")
    g.add_argument("--profile", choices=sorted(PROFILES), help="cpu: small CNN (default); paper: ConvNet width 64, "
                                                               "the report's 120 epochs (for GPUs)")
    g.add_argument("--regime", choices=sorted(REGIMES), help="fine-tuning regime (default paper-code)")
    g.add_argument("--pretrain-epochs", type=int, help="override the profile's pretraining epochs")
    g.add_argument("--width", type=int, help="override the profile's network width")
    g.add_argument("--train-limit", type=int, help="use a seeded subset of this many train images")
    g.add_argument("--test-limit", type=int, help="evaluate on a seeded subset of this many test images")
    g.add_argument("--device", help="auto (CUDA when present; default), cpu, cuda, ...")
    g.add_argument("--threads", type=int, help="torch intra-op threads")


def add_unlearning(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("unlearning (method and developer-side defenses)")
    g.add_argument("--method", choices=["exact", "approximate"], help="default exact")
    g.add_argument("--reseed", action="store_true", default=None,
                   help="exact: retrain with a fresh data order (default: the original's)")
    g.add_argument("--approx-lr", type=float, help="approximate: ascent step size (default 1e-3)")
    g.add_argument("--approx-epochs", type=int, help="approximate: steps = max(1, epochs*|X|//128) (default 1)")
    g.add_argument("--sigma", dest="noise_sigma", type=float, help="parameter obfuscation: gradient noise (default 0)")
    g.add_argument("--finetune-samples", type=int, help="defense: fine-tune on this many held-out public samples")
    g.add_argument("--finetune-epochs", type=int, help="defense: epochs of that fine-tuning (default 1)")


def add_push(p: argparse.ArgumentParser, optional: bool) -> None:
    g = p.add_argument_group("push")
    if optional:
        g.add_argument("--push", action="store_true", help="upload the version to the server and deploy it")
    g.add_argument("--server", default=os.environ.get("UIA_SERVER_URL", "http://127.0.0.1:8000"),
                   help="server base URL (default: $UIA_SERVER_URL or %(default)s)")
    g.add_argument("--token", default=os.environ.get("UIA_ADMIN_TOKEN"), help="admin token (default $UIA_ADMIN_TOKEN)")
    g.add_argument("--no-deploy", action="store_true", help="upload only; do not deploy")


def add_forget(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to forget")
    g.add_argument("--class", dest="classes", action="append", help="class, by name or index (repeatable)")
    g.add_argument("--proportion", type=float, action="append",
                   help="proportion of that class's training samples, in (0, 1] (one per --class)")
    g.add_argument("--ids", help="comma-separated sample ids of D_u (train-set indices)")
    g.add_argument("--ids-file", type=Path, help="a file of sample ids of D_u, one per line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m developer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="train the public model on D0")
    add_common(p)
    p = sub.add_parser("finetune", help="fine-tune the pretrained model on D_u: the original model")
    add_common(p)
    add_push(p, optional=True)
    p = sub.add_parser("unlearn", help="unlearn samples from the original model (one request, not cumulative)")
    add_common(p)
    add_forget(p)
    add_unlearning(p)
    add_push(p, optional=True)
    p = sub.add_parser("push", help="upload a version directory to the server")
    p.add_argument("path", type=Path, help="a version directory (holds model.safetensors and metadata.json)")
    add_push(p, optional=False)
    p = sub.add_parser("serve", help="run the deletion-request service (cumulative deletions, one at a time)")
    add_common(p)
    add_unlearning(p)
    p.add_argument("--host", help="interface (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8100)")
    p.add_argument("--server", dest="server_url", help="inference server URL (default $UIA_DEVELOPER_SERVER_URL)")
    p.add_argument("--log-level", default="info")
    for name, help_ in (("request", "send a deletion request to the developer service"),
                        ("status", "show deletion requests of the developer service")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--developer", default=os.environ.get("UIA_DEVELOPER_URL", "http://127.0.0.1:8100"),
                       help="developer service URL (default: $UIA_DEVELOPER_URL or %(default)s)")
        p.add_argument("--api-token", default=os.environ.get("UIA_DEVELOPER_API_TOKEN"),
                       help="its bearer token (default $UIA_DEVELOPER_API_TOKEN)")
        if name == "request":
            add_forget(p)
            add_unlearning(p)
            p.add_argument("--wait", action="store_true", help="wait until it is deployed or failed")
        else:
            p.add_argument("id", nargs="?", help="one request (default: all)")
    return parser


def settings_from(args) -> DeveloperSettings:
    overrides = {k: getattr(args, k) for k in CONFIG_FIELDS + ("host", "port", "server_url")
                 if getattr(args, k, None) is not None}
    settings = DeveloperSettings(**overrides)
    settings.unlearning = settings.unlearning.with_overrides(**unlearning_overrides(args))
    return settings


def unlearning_overrides(args) -> dict:
    names = ("method", "reseed", "approx_lr", "approx_epochs", "noise_sigma", "finetune_samples", "finetune_epochs")
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def forget_spec(args) -> tuple[list[tuple[str, float]], list[int]]:
    classes, proportions = args.classes or [], args.proportion or []
    if len(classes) != len(proportions):
        raise SystemExit("error: give one --proportion per --class")
    ids = [int(x) for x in args.ids.split(",") if x.strip()] if args.ids else []
    if args.ids_file:
        ids += [int(line) for line in args.ids_file.read_text().split() if line.strip()]
    if not classes and not ids:
        raise SystemExit("error: say what to forget: --class and --proportion, or --ids / --ids-file")
    return list(zip(classes, proportions)), ids


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
    print(f"{'uploaded' if args.no_deploy else 'deployed'} {pushed} on {args.server}", file=sys.stderr)


def cmd_unlearn(args) -> None:
    settings = settings_from(args)
    dev = developer_from_settings(settings)
    targets, ids = forget_spec(args)
    targets = [(dev.class_index(c), p) for c, p in targets]
    forget = dev.forget_set(targets, ids)
    if forget.size == 0:
        raise SystemExit("error: none of these samples is in the training data: nothing to unlearn")
    version = dev.unlearn(forget, settings.unlearning)
    report(version, {"removed_classes": [dev.classes[c] for c, _ in targets], "removed": int(forget.size),
                     "method": settings.unlearning.method})
    maybe_push(args, version.path)


def cmd_serve(args) -> None:
    import uvicorn

    from developer.service import create_app

    settings = settings_from(args)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level)


def cmd_client(args) -> None:
    headers = {"Authorization": f"Bearer {args.api_token}"} if args.api_token else {}
    with httpx.Client(base_url=args.developer, headers=headers, timeout=60) as http:
        try:
            if args.command == "request":
                targets, ids = forget_spec(args)
                body = {"unlearning": unlearning_overrides(args)}
                if targets:
                    body["classes"] = [{"class": c, "proportion": p} for c, p in targets]
                else:
                    body["sample_ids"] = ids
                r = http.post("/deletion-requests", json=body)
                if r.is_success and args.wait:
                    r = wait_for(http, r.json()["id"])
            else:
                r = http.get(f"/deletion-requests/{args.id}" if args.id else "/deletion-requests")
        except httpx.HTTPError as exc:
            raise SystemExit(f"error: cannot reach the developer service at {args.developer}: {exc}") from None
    if not r.is_success:
        raise SystemExit(f"error: HTTP {r.status_code}: {r.json().get('detail', r.text)}")
    print(json.dumps(r.json(), indent=2))


def wait_for(http: httpx.Client, request_id: str, poll: float = 1.0) -> httpx.Response:
    while True:
        r = http.get(f"/deletion-requests/{request_id}")
        if not r.is_success or r.json()["state"] in ("deployed", "failed"):
            return r
        time.sleep(poll)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "push":
            maybe_push(args, args.path)
        elif args.command in ("request", "status"):
            cmd_client(args)
        elif args.command == "serve":
            cmd_serve(args)
        elif args.command == "unlearn":
            cmd_unlearn(args)
        else:
            dev = developer_from_settings(settings_from(args))
            version = dev.pretrain() if args.command == "pretrain" else dev.finetune()
            report(version)
            if args.command == "finetune":
                maybe_push(args, version.path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
