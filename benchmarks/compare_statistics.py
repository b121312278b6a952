"""`make bench-statistics`: which label-inference statistic ranks the removed class first.

In process, for speed (no HTTP): the cpu profile's original model for each fine-tuning regime;
probes made by the attacker's own optimiser against it (NES, p_c >= 0.9995, 2 per class; and,
optionally, the paper-faithful ZOO's saturated probes); for each proportion p and each of the 10
classes as the removed one, exact unlearning, then every statistic of attacker/inference.py.
Prints top-1 accuracy (10 cases per cell) and the mean rank of the true class.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from attacker.inference import STATISTICS, class_scores, rank_classes
from attacker.optimizers import OPTIMIZERS
from devtools.processes import ROOT
from developer.factory import developer_from_settings
from developer.settings import DeveloperSettings
from server.serving import build_serving_model
from shared.schemas import DeploymentOptions


def black_box(version, device):
    serving = build_serving_model(version.load(), version.meta, DeploymentOptions(), device)
    return serving.predict


def make_probes(predict, method: str, per_class: int, classes: int, shape) -> tuple[np.ndarray, np.ndarray, list]:
    kwargs = {"early_accept": True} if method == "zoo-early" else {}
    optimizer = OPTIMIZERS["zoo" if method.startswith("zoo") else method](threshold=0.9995, **kwargs)
    images, targets, queries = [], [], []
    for c in range(classes):
        for k in range(per_class):
            result = optimizer.generate(predict, shape, c, np.random.default_rng([7, c, k]))
            if result.accepted:
                images.append(result.image)
                targets.append(c)
            queries.append(result.queries)
    return np.stack(images), np.array(targets), queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="*", default=["paper-code", "long"])
    parser.add_argument("--proportions", nargs="*", type=float, default=[0.5, 0.1, 0.01])
    parser.add_argument("--probes", nargs="*", default=["nes"], choices=["nes", "zoo", "zoo-early"])
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "statistics")
    args = parser.parse_args()

    rows = []
    for regime in args.regimes:
        dev = developer_from_settings(DeveloperSettings(workdir=args.workdir, regime=regime))
        original = dev.finetune()
        before_model = black_box(original, dev.device)
        classes = len(dev.classes)
        for method in args.probes:
            start = time.perf_counter()
            images, targets, queries = make_probes(before_model, method, args.per_class, classes,
                                                   original.meta.input_shape)
            print(f"{regime}/{method}: {len(images)} probes, median {np.median(queries):,.0f} queries, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            before = before_model(images)
            for p in args.proportions:
                ranks = {name: [] for name in STATISTICS}
                for c in range(classes):
                    unlearned = dev.unlearn(dev.forget_set([(c, p)]))
                    after = black_box(unlearned, dev.device)(images)
                    for name in STATISTICS:
                        ranks[name].append(rank_classes(class_scores(name, before, after, targets, classes)).index(c))
                for name, r in ranks.items():
                    r = np.array(r)
                    rows.append((regime, method, p, name, float((r == 0).mean()), float(r.mean() + 1)))
                    print(f"  p={p:g} {name:8s} top-1 {np.mean(r == 0):.1f} mean rank {r.mean() + 1:.1f}",
                          flush=True)
    print("\n| regime | probes | p | statistic | top-1 accuracy | mean rank of the truth |")
    print("|---|---|---|---|---|---|")
    for regime, method, p, name, acc, mean_rank in rows:
        print(f"| {regime} | {method} | {p:g} | {name} | {acc:.1f} | {mean_rank:.1f} |")


if __name__ == "__main__":
    main()
