"""`python -m attacker`: black-box label inference against a model that is unlearning.

    probe     make probes (inputs the model gives one class with high confidence) for every class,
              then snapshot the probed version's answers
    snapshot  record the served version's answers to the probes
    infer     compare two snapshots and rank the classes by their confidence drop
    boundary  label-only outputs: measure the served version's distances to the decision boundary
              along fixed random directions (`infer` then ranks by their change)

Everything goes through the server's public API. Every option is a field of the attacker's
settings (attacker/settings.py) or of an optimiser's parameters; the address and API key may also
come from UIA_ATTACKER_SERVER_URL and UIA_ATTACKER_API_KEY. A run directory keeps the probes,
snapshots and reports; an interrupted `probe` resumes where it stopped. stdout carries one JSON
result (for `infer`, the report); progress goes to stderr.
Exit status: 0 done, 1 error, 3 no ranking possible.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console

from attacker.analysis import analyse
from attacker.calibration import SHADOW_FILE, ShadowCalibration
from attacker.capabilities import CannotAttack, from_answers, from_model_info
from attacker.client import ApiError, BudgetExhausted, InferenceClient, VersionChanged
from attacker.label_only import BoundaryInputsConfig, BoundaryParams, infer_boundaries, run_boundary, uses_boundaries
from attacker.natural_probes import NATURAL, make_natural_probes
from attacker.optimizers import OPTIMIZERS, ProbeOptimizer
from attacker.probes import PROBES_FILE, PROBING_FILE, ProbeSet, StaleProbes
from attacker.probing import make_probes
from attacker.public_data import load_public_images
from attacker.report import print_ranking, write_report
from attacker.results import BoundaryResult, ProbingResult, Refusal, SnapshotResult
from attacker.settings import AttackerSettings, InferConfig, ProbingConfig
from attacker.snapshots import Snapshot, list_snapshots, load_snapshot, probe_digest, take_snapshot
from shared.classes import class_index
from shared.cli import add_model_flags, flag_values
from shared.schemas import AttackReport

console = Console(stderr=True)
NO_RANKING = 3


# ---------------------------------------------------------------- flags, derived from the models
def add_optimizer_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per optimiser parameter. A parameter several optimisers share (threshold, lr, ...)
    is one flag whose help gives each optimiser's default; the others sit in their optimiser's group."""
    owners: dict[str, list[str]] = {}
    for method, cls in OPTIMIZERS.items():
        for name in cls.Params.model_fields:
            owners.setdefault(name, []).append(method)
    shared = tuple(name for name, methods in owners.items() if len(methods) > 1)
    notes = {name: "; ".join(f"{m}: default {OPTIMIZERS[m].Params.model_fields[name].default}" for m in owners[name])
             for name in shared}
    first = next(iter(OPTIMIZERS.values())).Params
    add_model_flags(parser.add_argument_group("probe optimisers (shared parameters)"), first, only=shared,
                    notes=notes, show_defaults=False)
    for method, cls in OPTIMIZERS.items():
        add_model_flags(parser.add_argument_group(f"{method} optimiser"), cls.Params, skip=shared)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attacker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {"probe": "generate probes against the served model (resumable)",
                "snapshot": "record the served version's answers to the probes",
                "infer": "rank classes by confidence drop between two versions",
                "boundary": "label-only: measure the served version's distances to the decision boundary"}
    for name, help_ in commands.items():
        p = sub.add_parser(name, help=help_)
        add_model_flags(p.add_argument_group("the API and the run"), AttackerSettings,
                        aliases={"server_url": ("--server",)})
        if name == "probe":
            add_model_flags(p.add_argument_group("probing"), ProbingConfig)
            p.add_argument("--fresh", dest="restart", action="store_const", const="always",
                           help="discard probes already in the run directory (--restart always)")
            add_optimizer_flags(p)
        elif name == "infer":
            add_model_flags(p.add_argument_group("inference"), InferConfig)
        elif name == "boundary":
            add_model_flags(p.add_argument_group("inputs (chosen on the first measurement of a run)"),
                            BoundaryInputsConfig)
            add_model_flags(p.add_argument_group("boundary distance"), BoundaryParams)
            p.add_argument("--fresh", action="store_true",
                           help="discard the run's boundary inputs and measurements and choose new inputs")
    return parser


def build_optimizer(args: argparse.Namespace, method: str) -> ProbeOptimizer:
    cls = OPTIMIZERS[method]
    return cls(cls.Params(**flag_values(args, cls.Params)))


# ---------------------------------------------------------------- commands
def resolve_classes(names: list[str] | None, classes: list[str]) -> list[int] | None:
    try:
        return [class_index(name, classes) for name in names] if names else None
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


def discard_probes(run: Path) -> None:
    """A new probe set: the old one's snapshots and reports would not belong to it."""
    for name in (PROBING_FILE, PROBES_FILE, "report.json", "report.md", "report-chart.png"):
        (run / name).unlink(missing_ok=True)
    shutil.rmtree(run / "snapshots", ignore_errors=True)


def cmd_probe(args, settings: AttackerSettings, client: InferenceClient) -> ProbingResult:
    config = ProbingConfig(**flag_values(args, ProbingConfig))
    if config.restart == "always":
        discard_probes(settings.run)
    try:
        return make_probe_set(config, args, settings, client)
    except StaleProbes as exc:
        if config.restart != "stale":
            raise
        console.print(f"[yellow]{exc}: discarding them and starting again (--restart stale)[/]")
        discard_probes(settings.run)
        return make_probe_set(config, args, settings, client)


def make_probe_set(config: ProbingConfig, args, settings: AttackerSettings, client: InferenceClient) -> ProbingResult:
    run = settings.run
    targets = resolve_classes(config.classes, client.model_info().classes)
    start = time.perf_counter()
    if config.method == NATURAL:
        if settings.public_data is None:
            raise ValueError("--method natural needs the public-data capability: pass --public-data")
        if targets is not None:
            raise ValueError("natural probes are chosen for every class at once: drop --classes")
        public = load_public_images(settings.public_data, client.model_info().input_shape)
        probe_set = make_natural_probes(client, run, public, config.per_class, config.seed, console)
    else:
        optimizer = build_optimizer(args, config.method)
        probe_set = make_probes(client, run, optimizer, config.per_class, config.seed, targets, console)
    images, _ = probe_set.accepted()
    console.print(f"{len(images)} accepted probes of {len(probe_set.results)} in {run}; "
                  f"{probe_set.queries:,} queries in all ({client.total_queries:,} this session, "
                  f"{time.perf_counter() - start:.0f} s)")
    snapshot = take_snapshot(client, probe_set)
    console.print(f"snapshot of {snapshot.version} saved")
    return ProbingResult(run=str(run), version=probe_set.version, made=len(probe_set.results),
                         accepted=len(images), queries=probe_set.queries, session_queries=client.total_queries,
                         snapshot=snapshot_result(snapshot, len(images)))


def snapshot_result(snapshot: Snapshot, probes: int) -> SnapshotResult:
    return SnapshotResult(version=snapshot.version, probes=probes, queries=snapshot.queries)


def cmd_snapshot(args, settings: AttackerSettings, client: InferenceClient) -> SnapshotResult:
    probe_set = ProbeSet.load(settings.run)
    snapshot = take_snapshot(client, probe_set)
    console.print(f"snapshot of {snapshot.version}: {snapshot.queries} queries")
    return snapshot_result(snapshot, len(probe_set.accepted()[0]))


def ensure_snapshot(client: InferenceClient, probe_set: ProbeSet, version: str) -> Snapshot:
    """The snapshot of `version` for the current probe set: saved, or taken now if it is served."""
    if version in list_snapshots(probe_set.run_dir):
        snapshot = load_snapshot(probe_set.run_dir, version)
        if snapshot.probe_digest == probe_digest(probe_set.accepted()[0]):
            return snapshot
    served = client.model_info().version
    if served != version:
        raise SystemExit(f"error: no snapshot of version {version} for these probes, and the server serves "
                         f"{served} now")
    return take_snapshot(client, probe_set)


def cmd_infer(args, settings: AttackerSettings, client: InferenceClient) -> AttackReport:
    config = InferConfig(**flag_values(args, InferConfig))
    start = time.perf_counter()
    if uses_boundaries(settings.run, from_model_info(client.model_info()).can_rank):
        ignored = [f"--{name}" for name in ("statistic", "shadow") if flag_values(args, InferConfig).get(name)]
        report = infer_boundaries(client, settings.run, config, ignored, console.print)
        return publish_report(settings, report, start)
    probe_set = ProbeSet.load(settings.run)
    before = ensure_snapshot(client, probe_set, config.before or probe_set.version)
    if config.after:
        after = ensure_snapshot(client, probe_set, config.after)
    else:
        if config.wait:
            console.print(f"waiting for the server to replace version {before.version} ...")
            client.wait_for_new_version(before.version, config.poll, config.wait_timeout)
        served = client.model_info().version
        if served == before.version:
            raise SystemExit(f"error: the server still serves {served}; pass --wait to wait for a new version")
        after = ensure_snapshot(client, probe_set, served)
    caps = from_model_info(client.model_info())
    for snapshot in (before, after):
        caps = from_answers(snapshot.probabilities, caps)
    shadow = None
    if config.shadow:
        path = settings.run / SHADOW_FILE
        if not path.exists():
            raise ValueError(f"--shadow: no {path}; make it with python -m attacker.shadow --run {settings.run}")
        shadow = ShadowCalibration.model_validate_json(path.read_text())
    return publish_report(settings, analyse(probe_set, before, after, config.statistic, config.top, caps, shadow),
                          start)


def publish_report(settings: AttackerSettings, report: AttackReport, start: float) -> AttackReport:
    report = report.model_copy(update={"wall_seconds": round(time.perf_counter() - start, 1)})
    paths = write_report(settings.run, report)
    print_ranking(report, console)
    console.print("report: " + "  ".join(str(p) for p in paths.values()))
    return report


def cmd_boundary(args, settings: AttackerSettings, client: InferenceClient) -> BoundaryResult:
    given = {**flag_values(args, BoundaryInputsConfig), **flag_values(args, BoundaryParams)}
    return run_boundary(client, settings.run, given, settings.public_data, args.fresh, console.print)


COMMANDS = {"probe": cmd_probe, "snapshot": cmd_snapshot, "infer": cmd_infer, "boundary": cmd_boundary}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = AttackerSettings(**flag_values(args, AttackerSettings))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    log = lambda message: console.print(f"[yellow]{message}[/]")  # noqa: E731
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    with InferenceClient(settings.server_url, api_key=api_key, max_budget_wait=settings.max_budget_wait,
                         log=log, shared_memory=settings.shared_memory, model_name=settings.model_name) as client:
        try:
            result: BaseModel = COMMANDS[args.command](args, settings, client)
        except VersionChanged as exc:
            raise SystemExit(f"error: the server replaced version {exc.expected} by {exc.got} during the "
                             f"measurement. The probes made so far are saved in {settings.run}, but probes and "
                             "snapshots must each come from one version: probe again with --fresh "
                             "(and snapshot the old version before the next change).") from None
        except BudgetExhausted as exc:
            raise SystemExit(f"error: {exc}. Everything made so far is saved in {settings.run}: run the same "
                             f"command again in {exc.retry_after:.0f} s to continue.") from None
        except CannotAttack as exc:
            console.print(f"[bold red]the attack cannot run:[/] {exc}")
            print(Refusal(reason=str(exc)).model_dump_json(indent=2), flush=True)
            raise SystemExit(NO_RANKING) from None
        except (ApiError, ValueError, FileNotFoundError, TimeoutError) as exc:
            raise SystemExit(f"error: {exc}") from None
    print(result.model_dump_json(indent=2), flush=True)
    if isinstance(result, AttackReport) and not result.rankable:
        raise SystemExit(NO_RANKING)


if __name__ == "__main__":
    main()
