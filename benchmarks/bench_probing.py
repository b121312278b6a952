"""`make bench-probing`: queries per accepted probe, paper-faithful ZOO against low-resolution NES.

Both optimisers run against the same live server (the real server process, serving the cpu
profile's original model), in one run, at the same acceptance threshold (p_c >= 0.9995), for
the same classes, one probe per class each. ZOO runs as the paper's loop does (10 tries, then
fresh noise) up to 500,000 queries per probe; a probe that hits the cap counts at the cap (a
lower bound on ZOO's cost, so the ratio is conservative).

The last line is machine-readable:
``query_ratio=<ZOO median / NES median> acceptance=<fraction of NES probes accepted>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from attacker.client import InferenceClient
from attacker.optimizers import LowResNES, Zoo
from developer.results import VersionResult
from devtools.processes import ROOT, ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=4, help="classes 0..n-1, one probe each (default 4)")
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
                    for c in range(args.classes):
                        start = time.perf_counter()
                        r = optimizer.generate(client.probabilities, info.input_shape, c, np.random.default_rng([0, c]))
                        rows.append((r.queries if r.accepted else max(r.queries, args.zoo_cap), r.accepted,
                                     time.perf_counter() - start, r.confidence))
                        print(f"  {name} class {info.classes[c]}: {'accepted' if r.accepted else 'NOT accepted'} "
                              f"p={r.confidence:.5f} in {r.queries:,} queries, {rows[-1][2]:.0f} s", flush=True)
                    results[name] = rows
        finally:
            server.stop()

    print(f"\nthreshold p_c >= {args.threshold}, {args.classes} classes x 1 probe, against the live server")
    print("| method | median queries | p90 queries | accepted | wall time per probe (median) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        q = np.array([r[0] for r in rows])
        print(f"| {name} | {np.median(q):,.0f} | {np.percentile(q, 90):,.0f} | {sum(r[1] for r in rows)}/{len(rows)} "
              f"| {np.median([r[2] for r in rows]):.1f} s |")
    zoo, nes = (np.median([r[0] for r in rows]) for rows in results.values())
    acceptance = np.mean([r[1] for r in results["nes (low-res)"]])
    print(f"query_ratio={zoo / nes:.1f} acceptance={acceptance:.2f}")


if __name__ == "__main__":
    main()
