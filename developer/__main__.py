"""`python -m developer`: train, fine-tune, unlearn and push model versions, or run as a service.

Every stage is cached in the work directory by the hash of its configuration: running a
command again with the same settings reuses the checkpoint instead of training again. The
service's deletion history persists there too, across restarts; `reset` (with the service
stopped) sets it aside, so that the service's next start deploys the original model again.

Every option is a field of the developer's settings (developer/settings.py) and may also come
from the environment as UIA_DEVELOPER_<OPTION> (unlearning options as
UIA_DEVELOPER_UNLEARNING__<OPTION>), e.g. UIA_DEVELOPER_SERVER_URL and UIA_DEVELOPER_SERVER_TOKEN
for the server versions are pushed to. stdout carries one JSON result; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import httpx

from developer.factory import developer_from_settings
from developer.pipeline import TrainedVersion
from developer.push import PushError, push_version
from developer.requests_store import RequestStore, StoreInUse
from developer.results import PublicDataResult, ResetResult, VersionResult
from developer.settings import (DeletionClientSettings, DeveloperSettings, PushTarget, ServiceConfig,
                                TrainingConfig)
from shared.artifacts import read_metadata
from shared.cli import add_model_flags, flag_values
from shared.logs import quiet_health_checks, setup_logging
from shared.schemas import DeletionRequest, DeletionStatus, UnlearningConfig

log = logging.getLogger("developer")
HAS_REQUESTS = 4  # `status --require-none`: the service already holds deletion requests


# ---------------------------------------------------------------- flags, all derived from the settings
def add_training(p: argparse.ArgumentParser) -> None:
    add_model_flags(p.add_argument_group("configuration"), TrainingConfig)


def add_unlearning(p: argparse.ArgumentParser) -> None:
    add_model_flags(p.add_argument_group("unlearning (method and developer-side defenses)"), UnlearningConfig,
                    aliases={"noise_sigma": ("--sigma",)})


def add_push(p: argparse.ArgumentParser, optional: bool) -> None:
    g = p.add_argument_group("push")
    if optional:
        g.add_argument("--push", action="store_true", help="upload the version to the server and deploy it")
    add_model_flags(g, PushTarget, aliases={"server_url": ("--server",), "server_token": ("--token",)})
    g.add_argument("--no-deploy", action="store_true", help="upload only; do not deploy")


def add_forget(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to forget")
    g.add_argument("--class", dest="classes", action="append", help="class, by name or index (repeatable)")
    g.add_argument("--proportion", type=float, action="append",
                   help="proportion of that class's training samples, in (0, 1] (one per --class)")
    g.add_argument("--ids", help="comma-separated sample ids of D_u (train-set indices)")
    g.add_argument("--ids-file", type=Path, help="a file of sample ids of D_u, one per line")


def add_client(p: argparse.ArgumentParser) -> None:
    add_model_flags(p.add_argument_group("the deletion-request service"), DeletionClientSettings,
                    aliases={"url": ("--developer",)})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m developer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="info", help="logging level (default info)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="train the public model on D0")
    add_training(p)
    p = sub.add_parser("finetune", help="fine-tune the pretrained model on D_u: the original model")
    add_training(p)
    add_push(p, optional=True)
    p = sub.add_parser("unlearn", help="unlearn samples from the original model (one request, not cumulative)")
    add_training(p)
    add_forget(p)
    add_unlearning(p)
    add_push(p, optional=True)
    p = sub.add_parser("export-public", help="write the public data D0 as an .npz (what the attacker's "
                                             "--public-data reads); never D_u")
    add_training(p)
    p.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    p = sub.add_parser("push", help="upload a version directory to the server")
    p.add_argument("path", type=Path, help="a version directory (holds model.safetensors and metadata.json)")
    add_push(p, optional=False)
    p = sub.add_parser("serve", help="run the deletion-request service (cumulative deletions, one at a time)")
    add_training(p)
    add_unlearning(p)
    add_model_flags(p.add_argument_group("service"), ServiceConfig)
    add_model_flags(p.add_argument_group("push"), PushTarget, aliases={"server_url": ("--server",),
                                                                       "server_token": ("--token",)})
    p = sub.add_parser("reset", help="set the service's deletion history aside (service stopped): its next "
                                     "start deploys the original model again, and the story can be replayed")
    add_model_flags(p.add_argument_group("configuration"), TrainingConfig, only=("workdir",))
    p = sub.add_parser("request", help="send a deletion request to the developer service")
    add_client(p)
    add_forget(p)
    add_unlearning(p)
    p.add_argument("--wait", action="store_true", help="wait until it is deployed or failed")
    p.add_argument("--wait-timeout", type=float, default=3600.0, help="give up waiting after this many seconds")
    p = sub.add_parser("status", help="show deletion requests of the developer service")
    add_client(p)
    p.add_argument("id", nargs="?", help="one request (default: all)")
    p.add_argument("--require-none", action="store_true",
                   help=f"exit with status {HAS_REQUESTS} if the service holds any deletion request: a story "
                        "that starts from the original model can start only then")
    return parser


def settings_from(args: argparse.Namespace) -> DeveloperSettings:
    """Flags over the environment over the defaults, validated as one settings object."""
    given = {**flag_values(args, TrainingConfig), **flag_values(args, PushTarget), **flag_values(args, ServiceConfig)}
    settings = DeveloperSettings(**given)
    return settings.model_copy(update={"unlearning": settings.unlearning.with_overrides(
        flag_values(args, UnlearningConfig))})


# ---------------------------------------------------------------- commands
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


def maybe_push(args, target: PushTarget, path: Path) -> tuple[str | None, bool]:
    """Push when asked; returns (the server pushed to, deployed)."""
    if not getattr(args, "push", True):
        return None, False
    if target.server_token is None:
        raise SystemExit("error: pushing needs the server's admin token: --server-token or "
                         "$UIA_DEVELOPER_SERVER_TOKEN")
    try:
        pushed = push_version(path, target.server_url, target.server_token.get_secret_value(),
                              deploy=not args.no_deploy)
    except PushError as exc:
        raise SystemExit(f"error: {exc}") from None
    log.info("%s %s on %s", "uploaded" if args.no_deploy else "deployed", pushed, target.server_url)
    return target.server_url, not args.no_deploy


def version_result(args, target: PushTarget, version: TrainedVersion, **extra) -> VersionResult:
    pushed_to, deployed = maybe_push(args, target, version.path)
    return VersionResult(version=version.version, path=str(version.path),
                         test_accuracy=version.meta.training.test_accuracy, pushed_to=pushed_to,
                         deployed=deployed, **extra)


def cmd_train(args) -> VersionResult:
    settings = settings_from(args)
    dev = developer_from_settings(settings)
    version = dev.pretrain() if args.command == "pretrain" else dev.finetune()
    return version_result(args, settings, version)


def cmd_unlearn(args) -> VersionResult:
    settings = settings_from(args)
    dev = developer_from_settings(settings)
    targets, ids = forget_spec(args)
    targets = [(dev.class_index(c), p) for c, p in targets]
    forget = dev.forget_set(targets, ids)
    if forget.size == 0:
        raise SystemExit("error: none of these samples is in the training data: nothing to unlearn")
    version = dev.unlearn(forget, settings.unlearning)
    return version_result(args, settings, version, removed_classes=[dev.classes[c] for c, _ in targets],
                          removed=int(forget.size), unlearning=settings.unlearning)


def cmd_export_public(args) -> PublicDataResult:
    if args.out.suffix != ".npz":
        raise SystemExit(f"error: --out must name an .npz file, got {args.out}")
    dev = developer_from_settings(settings_from(args))
    count = dev.export_public(args.out)
    log.info("wrote %d public images (D0) to %s", count, args.out)
    return PublicDataResult(path=str(args.out), images=count, classes=list(dev.classes))


def cmd_push(args) -> VersionResult:
    target = DeveloperSettings(**flag_values(args, PushTarget))  # flags over the environment
    return version_result(args, target, TrainedVersion(args.path, read_metadata(args.path)))


def cmd_reset(args) -> ResetResult:
    store = RequestStore.of_workdir(settings_from(args).workdir)
    requests, state = store.all(), store.read_state()
    try:
        archived = store.archive()
    except StoreInUse as exc:
        raise SystemExit(f"error: {exc}: stop the service first") from None
    if archived is None:
        log.info("no deletion history in %s: nothing to reset", store.root)
    else:
        log.warning("the deletion history (%d requests, version %s deployed) is now in %s: the service's next "
                    "start deploys the original model again", len(requests), state and state.version, archived)
    return ResetResult(archived=str(archived) if archived else None, requests=len(requests),
                       deployed_version=state.version if state else None)


def cmd_serve(args) -> None:
    import uvicorn

    from developer.service import create_app

    settings = settings_from(args)
    quiet_health_checks()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level.lower())


def cmd_client(args) -> DeletionStatus | list[DeletionStatus]:
    client = DeletionClientSettings(**flag_values(args, DeletionClientSettings))
    token = client.api_token.get_secret_value() if client.api_token else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=client.url, headers=headers, timeout=60) as http:
        try:
            if args.command == "request":
                targets, ids = forget_spec(args)
                request = DeletionRequest.model_validate({
                    "unlearning": flag_values(args, UnlearningConfig),
                    **({"classes": [{"class": c, "proportion": p} for c, p in targets]} if targets
                       else {"sample_ids": ids})})
                r = _checked(http.post("/deletion-requests", json=request.model_dump(mode="json", by_alias=True,
                                                                                    exclude_none=True)))
                status = DeletionStatus.model_validate_json(r.content)
                if args.wait:
                    status = wait_for(http, status.id, args.wait_timeout)
                if status.state == "failed":
                    print(status.model_dump_json(indent=2))
                    raise SystemExit(f"error: deletion request {status.id} failed: {status.reason}")
                return status
            if args.id:
                return DeletionStatus.model_validate_json(_checked(http.get(f"/deletion-requests/{args.id}")).content)
            statuses = [DeletionStatus.model_validate(s) for s in _checked(http.get("/deletion-requests")).json()]
            if args.require_none and statuses:
                refuse_story(statuses)
            return statuses
        except httpx.HTTPError as exc:
            raise SystemExit(f"error: cannot reach the developer service at {client.url}: {exc}") from None


def refuse_story(statuses: list[DeletionStatus]) -> None:
    """`status --require-none` with requests: say what the service has done, exit HAS_REQUESTS."""
    print(json.dumps([s.model_dump(mode="json", by_alias=True) for s in statuses], indent=2), flush=True)
    last = statuses[-1]
    print(f"error: the developer service already holds {len(statuses)} deletion request(s), the last {last.id} "
          f"{last.state}{f' as version {last.version}' if last.version else ''}. Deletions stay deleted: the "
          "original model is not served again unless you say so, with the service stopped: "
          "`python -m developer reset` (docs/compose.md: replaying the story)", file=sys.stderr)
    raise SystemExit(HAS_REQUESTS)


def _checked(r: httpx.Response) -> httpx.Response:
    if not r.is_success:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        raise SystemExit(f"error: HTTP {r.status_code}: {detail}")
    return r


def wait_for(http: httpx.Client, request_id: str, timeout: float, poll: float = 1.0) -> DeletionStatus:
    """Until the request is deployed or failed. The service persists its requests, so while it
    restarts (unreachable for a while) the wait goes on: the request continues after the restart."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while True:
        try:
            status = DeletionStatus.model_validate_json(_checked(http.get(f"/deletion-requests/{request_id}")).content)
        except httpx.TransportError as exc:
            log.warning("the developer service does not answer (%s): waiting for it", exc)
        else:
            if status.state in ("deployed", "failed"):
                return status
            state = status.state
        if time.monotonic() > deadline:
            raise SystemExit(f"error: deletion request {request_id} is still {state} after {timeout:.0f} s")
        time.sleep(poll)


COMMANDS = {"pretrain": cmd_train, "finetune": cmd_train, "unlearn": cmd_unlearn, "export-public": cmd_export_public,
            "push": cmd_push, "reset": cmd_reset,
            "serve": cmd_serve, "request": cmd_client, "status": cmd_client}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        result = COMMANDS[args.command](args)
    except (ValueError, OSError) as exc:  # bad settings (pydantic's ValidationError), missing files
        raise SystemExit(f"error: {exc}") from None
    if isinstance(result, list):
        print(json.dumps([r.model_dump(mode="json", by_alias=True) for r in result], indent=2))
    elif result is not None:
        print(result.model_dump_json(indent=None if isinstance(result, VersionResult) else 2, by_alias=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
