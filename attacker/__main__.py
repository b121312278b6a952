"""`python -m attacker`: black-box label inference against a model that is unlearning.

    probe     make probes (inputs the model gives one class with high confidence) for every class
    snapshot  record the served version's answers to the probes
    infer     compare two snapshots and rank the classes by their confidence drop

Everything goes through the server's public API; the server address may come from
UIA_SERVER_URL. A run directory keeps the probes, snapshots and reports, and an interrupted
`probe` resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console

from attacker.client import ApiError, InferenceClient, VersionChanged
from attacker.inference import class_beta, rank_classes
from attacker.optimizers import OPTIMIZERS, Zoo
from attacker.probes import PROBING_FILE, ProbeSet
from attacker.probing import make_probes
from attacker.report import build_report, print_ranking, write_report
from attacker.snapshots import Snapshot, list_snapshots, load_snapshot, probe_digest, take_snapshot

console = Console(stderr=True)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=os.environ.get("UIA_SERVER_URL", "http://127.0.0.1:8000"),
                   help="server base URL (default: $UIA_SERVER_URL or %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("UIA_API_KEY"), help="API key (default $UIA_API_KEY)")
    p.add_argument("--run", type=Path, default=Path("runs/attacker"), help="run directory (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attacker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("probe", help="generate probes against the served model (resumable)")
    add_common(p)
    p.add_argument("--method", choices=sorted(OPTIMIZERS), default="zoo", help="probe optimiser (default zoo)")
    p.add_argument("--per-class", type=int, default=20, help="probes per class (default 20, the paper's)")
    p.add_argument("--threshold", type=float, default=0.9995, help="accept a probe at p_c >= this (default 0.9995)")
    p.add_argument("--max-queries", type=int, default=1_000_000, help="query cap per probe (default 1,000,000)")
    p.add_argument("--classes", nargs="*", help="only these classes (names or indices); default all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="discard probes already in the run directory")
    z = p.add_argument_group("zoo (defaults: the paper's)")
    z.add_argument("--nb-parallel", type=int, default=1024, help="coordinates per iteration (default 1024)")
    z.add_argument("--max-iter", type=int, default=20, help="iterations per try (default 20)")
    z.add_argument("--tries", type=int, default=10, help="tries before restarting from noise (default 10)")
    z.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (default 0.1)")
    z.add_argument("--early-accept", action="store_true",
                   help="accept as soon as an iteration reaches the threshold (not the paper's; less saturated probes)")

    p = sub.add_parser("snapshot", help="record the served version's answers to the probes")
    add_common(p)

    p = sub.add_parser("infer", help="rank classes by confidence drop between two versions")
    add_common(p)
    p.add_argument("--before", help="version before unlearning (default: the version the probes were made on)")
    p.add_argument("--after", help="version after unlearning (default: the one served now)")
    p.add_argument("--wait", action="store_true", help="wait until the server serves a new version, then snapshot it")
    p.add_argument("--wait-timeout", type=float, help="give up waiting after this many seconds")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between version checks while waiting")
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


def cmd_probe(args, client: InferenceClient) -> None:
    if args.fresh:
        for name in (PROBING_FILE, "probes.npz"):
            (args.run / name).unlink(missing_ok=True)
    optimizer = OPTIMIZERS[args.method](threshold=args.threshold, max_queries=args.max_queries)
    if isinstance(optimizer, Zoo):
        optimizer = Zoo(threshold=args.threshold, max_queries=args.max_queries, nb_parallel=args.nb_parallel,
                        max_iter=args.max_iter, tries=args.tries, lr=args.lr, early_accept=args.early_accept)
    optimizer.check_params()
    targets = resolve_classes(args.classes, client.model_info().classes)
    start = time.perf_counter()
    probe_set = make_probes(client, args.run, optimizer, args.per_class, args.seed, targets, console)
    images, _ = probe_set.accepted()
    console.print(f"{len(images)} accepted probes of {len(probe_set.results)} in {args.run}; "
                  f"{probe_set.queries:,} queries in all ({client.total_queries:,} this session, "
                  f"{time.perf_counter() - start:.0f} s)")
    take_snapshot(client, probe_set)
    console.print(f"snapshot of {probe_set.version} saved")


def ensure_snapshot(client: InferenceClient, probe_set: ProbeSet, version: str) -> Snapshot:
    if version in list_snapshots(probe_set.run_dir):
        return load_snapshot(probe_set.run_dir, version)
    served = client.model_info().version
    if served != version:
        raise SystemExit(f"error: no snapshot of version {version}, and the server serves {served} now")
    return take_snapshot(client, probe_set)


def cmd_infer(args, client: InferenceClient) -> None:
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
    images, targets = probe_set.accepted()
    if {before.probe_digest, after.probe_digest} != {probe_digest(images)}:
        raise SystemExit("error: the snapshots were taken on another probe set; take them again")
    classes = probe_set.classes
    beta = class_beta(before.probabilities, after.probabilities, targets, len(classes))
    ranking = rank_classes(beta)
    report = build_report(
        classes=classes, beta=beta, ranking=ranking,
        probes_per_class=[int((targets == c).sum()) for c in range(len(classes))],
        versions={"before": before.version, "after": after.version},
        queries={"probing": probe_set.queries, "snapshot_before": before.queries, "snapshot_after": after.queries},
        statistic="beta", extra={"optimizer": probe_set.config["optimizer"]})
    json_path, png_path = write_report(args.run, report)
    print_ranking(report, Console())
    console.print(f"report: {json_path}  chart: {png_path}")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    with InferenceClient(args.server, api_key=args.api_key) as client:
        try:
            if args.command == "probe":
                cmd_probe(args, client)
            elif args.command == "snapshot":
                snapshot = take_snapshot(client, ProbeSet.load(args.run))
                console.print(f"snapshot of {snapshot.version}: {snapshot.queries} queries")
            else:
                cmd_infer(args, client)
        except VersionChanged as exc:
            raise SystemExit(f"error: {exc} (mid-measurement). Probes made so far are saved in {args.run}; "
                             "run the command again to continue against the new version.") from None
        except (ApiError, ValueError, FileNotFoundError, TimeoutError) as exc:
            raise SystemExit(f"error: {exc}") from None
    sys.stdout.flush()


if __name__ == "__main__":
    main()
