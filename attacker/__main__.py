"""`python -m attacker`: black-box label inference against a model that is unlearning.

    probe     make probes (inputs the model gives one class with high confidence) for every class,
              then snapshot the probed version's answers
    snapshot  record the served version's answers to the probes
    infer     compare two snapshots and rank the classes by their confidence drop

Everything goes through the server's public API; the address may come from UIA_SERVER_URL and an
API key from UIA_API_KEY. A run directory keeps the probes, snapshots and reports; an
interrupted `probe` resumes where it stopped. Exit status: 0 done, 1 error, 3 no ranking possible.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from rich.console import Console

from attacker.analysis import analyse
from attacker.capabilities import CannotAttack, from_answers, from_model_info
from attacker.client import ApiError, BudgetExhausted, InferenceClient, VersionChanged
from attacker.inference import STATISTICS
from attacker.optimizers import LowResNES, Zoo
from attacker.probes import PROBES_FILE, PROBING_FILE, ProbeSet
from attacker.probing import make_probes
from attacker.report import print_ranking, write_report
from attacker.snapshots import Snapshot, list_snapshots, load_snapshot, probe_digest, take_snapshot

console = Console(stderr=True)
NO_RANKING = 3


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=os.environ.get("UIA_SERVER_URL", "http://127.0.0.1:8000"),
                   help="server base URL (default: $UIA_SERVER_URL or %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("UIA_API_KEY"), help="API key (default $UIA_API_KEY)")
    p.add_argument("--run", type=Path, default=Path("runs/attacker"), help="run directory (default %(default)s)")
    p.add_argument("--max-budget-wait", type=float, default=0.0,
                   help="on 429, wait up to this many seconds as Retry-After asks; longer: stop (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attacker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("probe", help="generate probes against the served model (resumable)")
    add_common(p)
    p.add_argument("--method", choices=["zoo", "nes"], default="zoo",
                   help="zoo: the paper's (default); nes: low-resolution NES, ~100x fewer queries")
    p.add_argument("--per-class", type=int, default=20, help="probes per class (default 20, the paper's)")
    p.add_argument("--threshold", type=float, default=0.9995, help="accept a probe at p_c >= this (default 0.9995)")
    p.add_argument("--max-queries", type=int, help="query cap per probe (default zoo 1,000,000, nes 100,000)")
    p.add_argument("--classes", nargs="*", help="only these classes (names or indices); default all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="discard probes already in the run directory")
    z = p.add_argument_group("zoo (defaults: the paper's)")
    z.add_argument("--nb-parallel", type=int, default=1024, help="coordinates per iteration (default 1024)")
    z.add_argument("--max-iter", type=int, default=20, help="iterations per try (default 20)")
    z.add_argument("--tries", type=int, default=10, help="tries before restarting from noise (default 10)")
    z.add_argument("--lr", type=float, help="Adam learning rate (default zoo 0.1, nes 0.2)")
    z.add_argument("--early-accept", action="store_true",
                   help="accept as soon as an iteration reaches the threshold (not the paper's; less saturated)")
    n = p.add_argument_group("nes")
    n.add_argument("--resolution", type=int, default=8, help="side of the low-resolution grid (default 8)")
    n.add_argument("--directions", type=int, default=10, help="antithetic direction pairs per step (default 10)")
    n.add_argument("--sigma", type=float, default=0.05, help="exploration radius (default 0.05)")

    p = sub.add_parser("snapshot", help="record the served version's answers to the probes")
    add_common(p)

    p = sub.add_parser("infer", help="rank classes by confidence drop between two versions")
    add_common(p)
    p.add_argument("--before", help="version before unlearning (default: the version the probes were made on)")
    p.add_argument("--after", help="version after unlearning (default: the one served now)")
    p.add_argument("--wait", action="store_true", help="wait until the server serves a new version, then snapshot it")
    p.add_argument("--wait-timeout", type=float, help="give up waiting after this many seconds")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between version checks while waiting")
    p.add_argument("--statistic", choices=sorted(STATISTICS), default="logodds",
                   help="logodds (default; robust to saturated probes), beta (the paper's), logit, zlogit: "
                        "see docs/attack.md")
    p.add_argument("--top", type=int, help="how many classes were removed (default: estimated from the gaps)")
    return parser


def resolve_classes(names: list[str] | None, classes: list[str]) -> list[int] | None:
    if not names:
        return None
    out = []
    for name in names:
        if name in classes:
            out.append(classes.index(name))
        elif name.isdigit() and int(name) < len(classes):
            out.append(int(name))
        else:
            raise SystemExit(f"error: unknown class {name!r}; the model's classes are {', '.join(classes)}")
    return out


def build_optimizer(args):
    if args.method == "zoo":
        return Zoo(threshold=args.threshold, max_queries=args.max_queries or 1_000_000, nb_parallel=args.nb_parallel,
                   max_iter=args.max_iter, tries=args.tries, lr=args.lr or 0.1, early_accept=args.early_accept)
    return LowResNES(threshold=args.threshold, max_queries=args.max_queries or 100_000, resolution=args.resolution,
                     directions=args.directions, sigma=args.sigma, lr=args.lr or 0.2)


def cmd_probe(args, client: InferenceClient) -> None:
    if args.fresh:  # a new probe set: its snapshots and reports would not belong to it
        for name in (PROBING_FILE, PROBES_FILE, "report.json", "report.md", "report-chart.png"):
            (args.run / name).unlink(missing_ok=True)
        shutil.rmtree(args.run / "snapshots", ignore_errors=True)
    optimizer = build_optimizer(args)
    optimizer.check_params()
    targets = resolve_classes(args.classes, client.model_info().classes)
    start = time.perf_counter()
    probe_set = make_probes(client, args.run, optimizer, args.per_class, args.seed, targets, console)
    images, _ = probe_set.accepted()
    console.print(f"{len(images)} accepted probes of {len(probe_set.results)} in {args.run}; "
                  f"{probe_set.queries:,} queries in all ({client.total_queries:,} this session, "
                  f"{time.perf_counter() - start:.0f} s)")
    snapshot = take_snapshot(client, probe_set)
    console.print(f"snapshot of {snapshot.version} saved")


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


def cmd_infer(args, client: InferenceClient) -> int:
    start = time.perf_counter()
    probe_set = ProbeSet.load(args.run)
    before = ensure_snapshot(client, probe_set, args.before or probe_set.version)
    if args.after:
        after = ensure_snapshot(client, probe_set, args.after)
    else:
        if args.wait:
            console.print(f"waiting for the server to replace version {before.version} ...")
            client.wait_for_new_version(before.version, args.poll, args.wait_timeout)
        served = client.model_info().version
        if served == before.version:
            raise SystemExit(f"error: the server still serves {served}; pass --wait to wait for a new version")
        after = ensure_snapshot(client, probe_set, served)
    caps = from_model_info(client.model_info())
    for snapshot in (before, after):
        caps = from_answers(snapshot.probabilities, caps)
    report = analyse(probe_set, before, after, args.statistic, args.top, caps)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    paths = write_report(args.run, report)
    print_ranking(report, Console())
    console.print("report: " + "  ".join(str(p) for p in paths.values()))
    return 0 if report["rankable"] else NO_RANKING


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log = lambda message: console.print(f"[yellow]{message}[/]")  # noqa: E731
    with InferenceClient(args.server, api_key=args.api_key, max_budget_wait=args.max_budget_wait, log=log) as client:
        try:
            if args.command == "probe":
                cmd_probe(args, client)
            elif args.command == "snapshot":
                snapshot = take_snapshot(client, ProbeSet.load(args.run))
                console.print(f"snapshot of {snapshot.version}: {snapshot.queries} queries")
            elif (status := cmd_infer(args, client)) != 0:
                raise SystemExit(status)
        except VersionChanged as exc:
            raise SystemExit(f"error: the server replaced version {exc.expected} by {exc.got} during the "
                             f"measurement. The probes made so far are saved in {args.run}, but probes and "
                             "snapshots must each come from one version: probe again with --fresh "
                             "(and snapshot the old version before the next change).") from None
        except BudgetExhausted as exc:
            raise SystemExit(f"error: {exc}. Everything made so far is saved in {args.run}: run the same "
                             f"command again in {exc.retry_after:.0f} s to continue.") from None
        except CannotAttack as exc:
            console.print(f"[bold red]the attack cannot run:[/] {exc}")
            raise SystemExit(NO_RANKING) from None
        except (ApiError, ValueError, FileNotFoundError, TimeoutError) as exc:
            raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
