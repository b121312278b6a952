"""`make bench-probing`: queries per accepted probe, paper-faithful ZOO against low-resolution NES.

Both optimisers run against the same live server (the real server process, serving the cpu
profile's original model), in one run, at the same acceptance threshold (p_c >= 0.9995), for
the same classes, two probes per class each (20 per method by default: enough for a median). ZOO
runs as the paper's loop does (10 tries, then fresh noise) up to 500,000 queries per probe; a
probe that hits the cap counts at the cap (a lower bound on ZOO's cost, so the ratio is
conservative).

A third row, for comparison only, is the attacker with the public-data capability (off by
default): natural probes, the 100 public images per class the model is most confident on out of
3,000 asked (D0, exported by the developer); their cost per probe is 3,000 / the probes kept, and
they are not held to the threshold (their median p_c is printed).

The last line is machine-readable:
``query_ratio=<ZOO median / NES median> acceptance=<fraction of NES probes accepted>``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from attacker import Campaign, InferenceClient, ProbeSpec
from attacker.optimizers import LowResNES, Zoo
from attacker.probes import ProbeSet
from developer.results import VersionResult
from devtools.processes import ROOT, ServerProcess
from shared.schemas import NaturalParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=10, help="classes 0..n-1 (default 10)")
    parser.add_argument("--per-class", type=int, default=2, help="probes per class and method (default 2)")
    parser.add_argument("--threshold", type=float, default=0.9995)
    parser.add_argument("--zoo-cap", type=int, default=500_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "bench-probing")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "store", token="bench-token").start()
        try:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("UIA_")}, "TQDM_DISABLE": "1",
                   "UIA_DEVELOPER_SERVER_URL": server.url, "UIA_DEVELOPER_SERVER_TOKEN": "bench-token"}
            out = subprocess.run([sys.executable, "-m", "developer", "finetune", "--workdir",
                                  str(args.workdir / "developer"), "--push"], cwd=ROOT, env=env, text=True,
                                 capture_output=True, check=True).stdout
            original = VersionResult.model_validate_json(out)
            print(f"served model: {original.version} (cpu profile, test accuracy {original.test_accuracy})")
            methods = {"zoo (paper)": Zoo(threshold=args.threshold, max_queries=args.zoo_cap),
                       "nes (low-res)": LowResNES(threshold=args.threshold)}
            results = {}
            with InferenceClient(server.url) as client:
                info = client.model_info()
                for name, optimizer in methods.items():
                    rows = []
                    for c, k in itertools.product(range(args.classes), range(args.per_class)):
                        start = time.perf_counter()
                        r = optimizer.generate(client.probabilities, info.input_shape, c,
                                               np.random.default_rng([k, c]))
                        rows.append((r.queries if r.accepted else max(r.queries, args.zoo_cap), r.accepted,
                                     time.perf_counter() - start, r.confidence))
                        print(f"  {name} class {info.classes[c]}: {'accepted' if r.accepted else 'NOT accepted'} "
                              f"p={r.confidence:.5f} in {r.queries:,} queries, {rows[-1][2]:.0f} s", flush=True)
                    results[name] = rows
                natural = natural_probes(client, args.workdir, env)
        finally:
            server.stop()

    print(f"\nthreshold p_c >= {args.threshold}, {args.classes} classes x {args.per_class} probes, against the live "
          "server")
    print("| method | median queries | p90 queries | accepted | wall time per probe (median) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        q = np.array([r[0] for r in rows])
        print(f"| {name} | {np.median(q):,.0f} | {np.percentile(q, 90):,.0f} | {sum(r[1] for r in rows)}/{len(rows)} "
              f"| {np.median([r[2] for r in rows]):.1f} s |")
    print(f"| natural (public data, not held to the threshold; median p_c {natural[1]:.4f}) | {natural[0]:,.0f} | – | "
          f"{natural[2]} probes | – |")
    zoo, nes = (np.median([r[0] for r in rows]) for rows in results.values())
    acceptance = np.mean([r[1] for r in results["nes (low-res)"]])
    print(f"query_ratio={zoo / nes:.1f} acceptance={acceptance:.2f}")


def natural_probes(client: InferenceClient, workdir: Path, env: dict) -> tuple[float, float, int]:
    """Queries per natural probe, their median p_c, and how many (the public-data capability)."""
    public = workdir / "public-d0.npz"
    subprocess.run([sys.executable, "-m", "developer", "export-public", "--workdir", str(workdir / "developer"),
                    "--out", str(public)], cwd=ROOT, env=env, capture_output=True, check=True)
    run = workdir / "natural"
    shutil.rmtree(run, ignore_errors=True)
    Campaign(client, run, public_data=public).make_probes(ProbeSpec(method=NaturalParams(pool=3000), per_class=100))
    probe_set = ProbeSet.load(run)
    _, targets = probe_set.accepted()
    confidence = np.median([r.confidence for r in probe_set.results.values()])
    return probe_set.queries / len(targets), float(confidence), len(targets)


if __name__ == "__main__":
    main()
