"""`make bench-recovery`: the server operator's white-box feature recovery, and what stops it.

Scenario (cpu profile by default): the developer pretrains on D0 and fine-tunes θ in the
paper-code regime; one image x of the fine-tuning set (seeded choice) is deleted, and θ_u is
made by each of the cases below. The operator runs `recovery` on the two stored versions — the
label read from ∇*, not given — and the evaluation side scores the recovered image against x.

  approximate   gradient ascent on x, one step (METHOD.md's approximate unlearning)
  exact         retraining from the pretrained weights without x (the paper-code replay)
  noise         approximate, with N(0, σ²) added to the unlearning gradient (parameter obfuscation),
                one case per σ of --sigma
  finetune      approximate, then fine-tuned on held-out public data (the fine-tuning defense)
  prune         approximate, but the operator holds only pruned copies of both versions (what
                the server would hold if it stored the pruned weights it serves; ours stores the
                uploads unpruned, so in our system pruning is no defense against the operator)
  random        no recovery: a uniform random image, scored the same way (the floor); a mid-gray
                image is reported beside it, a floor that knows images are smooth

When the label read from ∇* is wrong, the case is run again with the true label given, and both
are reported. This benchmark is the glue that knows the truth: it imports the developer (to make
the versions) and the evaluation side (to score); `recovery` itself sees only the two versions.

The cpu profile runs 1,500 iterations × 2 restarts per case (the paper: 10,000 × 5, `--profile
paper` with the paper's ConvNet, for GPUs). Ends with the line
`psnr_approximate=<dB> psnr_exact=<dB> psnr_random=<dB>`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field

from developer.config import UnlearningConfig
from developer.factory import developer_from_settings
from developer.settings import DeveloperSettings
from developer.training import evaluate
from devtools.processes import ROOT
from evaluation.image_grids import GridRow, comparison_grid
from evaluation.image_metrics import ImageScores, gray_images, random_images, score_images
from recovery.attack import recover
from recovery.config import PROFILES, RecoveryConfig
from recovery.outputs import read_images, write_outputs
from recovery.result import RecoveryResult
from server.defenses import prune_global
from shared.artifacts import load_version, save_version
from shared.runtime import configure_threads, select_device

ALL_CASES = ("approximate", "exact", "noise", "finetune", "prune")


@dataclass
class Case:
    name: str
    title: str
    before: Path
    after: Path
    test_accuracy: float  # of θ_u as deployed: what the defense costs the developer


@dataclass
class Prepared:
    cases: list[Case]
    true: torch.Tensor  # (1, C, H, W) in [0, 1]: the deleted image
    label: int
    classes: list[str]
    original_accuracy: float


class CaseReport(BaseModel):
    name: str
    title: str
    label_true: str
    label_inferred: str = Field(description="read from the last layer of ∇* by the recovery")
    scores: ImageScores = Field(description="the recovery with the inferred label (what the operator gets)")
    label_given_scores: ImageScores | None = Field(None, description="rerun with the true label, when the "
                                                                     "inferred one was wrong")
    cosine_distance: float
    seconds: float
    test_accuracy: float = Field(description="of θ_u as deployed (the pruned copy for 'prune')")


class BenchReport(BaseModel):
    device: str
    profile: str
    regime: str
    original_accuracy: float
    config: RecoveryConfig
    cases: list[CaseReport]
    random: ImageScores
    gray: ImageScores
    prepare_seconds: float


def recovery_job(before: str, after: str, config_json: str, labels: list[int] | None, device: str, threads: int,
                 out_dir: str, desc: str) -> str:
    """One recovery, in this process or a worker; returns the RecoveryResult JSON (images on disk)."""
    configure_threads(threads)
    inversion, result = recover(Path(before), Path(after), RecoveryConfig.model_validate_json(config_json),
                                labels=labels, device=select_device(device), desc=desc)
    return write_outputs(Path(out_dir), inversion, result).model_dump_json()


def make_cases(args: argparse.Namespace, out: Path) -> Prepared:
    """Train θ and each θ_u (cached in the developer's work directory under `out`)."""
    settings = DeveloperSettings(workdir=out / "developer", seed=args.seed, profile=args.profile,
                                 regime=args.regime, pretrain_epochs=args.pretrain_epochs,
                                 train_limit=args.train_limit, device=args.device, threads=args.train_threads)
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the result line
        dev = developer_from_settings(settings)
        original = dev.finetune()
        rng = np.random.default_rng([args.seed, 0x12])
        sample = int(rng.choice(dev.finetune_indices))
        forget = dev.forget_set(sample_ids=[sample])
        approximate = dev.unlearn(forget, UnlearningConfig(method="approximate"))
        ds = dev.splits.dataset
        accuracy = lambda model: evaluate(model, ds.test_x, ds.test_y, dev.splits.test, dev.device)  # noqa: E731

        def developer_case(name: str, title: str, config: UnlearningConfig) -> Case:
            version = approximate if config == UnlearningConfig(method="approximate") else dev.unlearn(forget, config)
            return Case(name, title, original.path, version.path, accuracy(version.load()))

        cases = []
        for name in args.cases:
            if name == "approximate":
                cases.append(developer_case(name, "approximate", UnlearningConfig(method="approximate")))
            elif name == "exact":
                cases.append(developer_case(name, "exact (retrain)", UnlearningConfig(method="exact")))
            elif name == "noise":
                cases += [developer_case(f"noise-{sigma:g}", f"approximate + noise σ={sigma:g}",
                                         UnlearningConfig(method="approximate", noise_sigma=sigma))
                          for sigma in args.sigmas]
            elif name == "finetune":
                cases.append(developer_case(name, f"approximate + fine-tune on {args.finetune_samples} public",
                                            UnlearningConfig(method="approximate",
                                                             finetune_samples=args.finetune_samples)))
            elif name == "prune":
                before, after = out / "pruned" / "before", out / "pruned" / "after"
                for source, target in ((original.path, before), (approximate.path, after)):
                    model, meta = load_version(source)
                    save_version(target, prune_global(model, args.prune_rate), meta)
                cases.append(Case(name, f"approximate, both pruned {args.prune_rate:g}", before, after,
                                  accuracy(load_version(after)[0])))
    true = torch.from_numpy(ds.train_x[sample]).permute(2, 0, 1)[None].float() / 255.0
    return Prepared(cases, true, int(ds.train_y[sample]), list(dev.classes), accuracy(original.load()))


def run_jobs(jobs: list[tuple], workers: int) -> list[str]:
    if workers <= 1:
        return [recovery_job(*job) for job in jobs]
    # spawn: CUDA cannot be shared with forked children
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(recovery_job, *zip(*jobs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                        help="developer profile and recovery profile together (paper: ConvNet, 10,000 x 5)")
    parser.add_argument("--iterations", type=int, help="override the recovery profile's iterations")
    parser.add_argument("--restarts", type=int, help="override the recovery profile's restarts")
    parser.add_argument("--cases", default=",".join(ALL_CASES), help=f"comma-separated subset of {ALL_CASES}")
    parser.add_argument("--sigma", default="0.01,0.1,1", help="noise defense: σ of the gradient noise, one case "
                                                                "per comma-separated value")
    parser.add_argument("--finetune-samples", type=int, default=1000, help="fine-tuning defense: public samples")
    parser.add_argument("--prune-rate", type=float, default=0.2, help="pruning: fraction of weights zeroed")
    parser.add_argument("--regime", default="paper-code",
                        help="developer fine-tuning regime (paper-code, report, long): how θ and exact θ_u "
                             "are trained")
    parser.add_argument("--pretrain-epochs", type=int, help="override the developer profile's pretraining epochs")
    parser.add_argument("--train-limit", type=int, help="train on a seeded subset of this many images")
    parser.add_argument("--seed", type=int, default=0, help="data, training, the deleted sample and the recovery")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-threads", type=int, default=2, help="torch threads while training")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per recovery (one image's tiny kernels gain nothing from more)")
    parser.add_argument("--jobs", type=int, default=1, help="recoveries run in parallel processes (GPU: 2-4)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-recovery")
    args = parser.parse_args()
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    args.sigmas = [float(v) for v in args.sigma.split(",") if v.strip()]
    unknown = set(args.cases) - set(ALL_CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {ALL_CASES}")
    overrides = {k: v for k, v in {"iterations": args.iterations, "restarts": args.restarts}.items() if v}
    config = PROFILES[args.profile].model_copy(update={**overrides, "seed": args.seed})
    config = RecoveryConfig.model_validate(config.model_dump())
    device = select_device(args.device)

    start = time.perf_counter()
    prepared = make_cases(args, args.out)
    cases, true, label, classes = prepared.cases, prepared.true, prepared.label, prepared.classes
    prepare_s = time.perf_counter() - start
    print(f"versions ready in {prepare_s:.0f} s; recovering 1 image of class {classes[label]} per case "
          f"({config.iterations} iterations x {config.restarts} restarts, {device})", file=sys.stderr)

    jobs = [(str(c.before), str(c.after), config.model_dump_json(), None, str(device), args.threads,
             str(args.out / c.name), c.name) for c in cases]
    results = [RecoveryResult.model_validate_json(raw) for raw in run_jobs(jobs, args.jobs)]
    images = {c.name: read_images(Path(r.outputs.images)) for c, r in zip(cases, results)}
    reports = [CaseReport(name=c.name, title=c.title, label_true=classes[label],
                          label_inferred=r.labels.inferred_names[0], scores=score_images(true, images[c.name]),
                          cosine_distance=r.final_cosine_distance, seconds=r.seconds,
                          test_accuracy=c.test_accuracy) for c, r in zip(cases, results)]
    # a wrong label sinks the recovery; the rerun with the true label shows what the label costs
    wrong = [(i, c) for i, (c, r) in enumerate(zip(cases, results)) if r.labels.inferred[0] != label]
    given_jobs = [(str(c.before), str(c.after), config.model_dump_json(), [label], str(device), args.threads,
                   str(args.out / f"{c.name}-given"), f"{c.name} (label given)") for _, c in wrong]
    for (i, _), raw in zip(wrong, run_jobs(given_jobs, args.jobs)):
        given = RecoveryResult.model_validate_json(raw)
        reports[i].label_given_scores = score_images(true, read_images(Path(given.outputs.images)))
    random = random_images(true, args.seed)
    report = BenchReport(device=str(device), profile=args.profile, regime=args.regime,
                         original_accuracy=prepared.original_accuracy, config=config, cases=reports,
                         random=score_images(true, random), gray=score_images(true, gray_images(true)),
                         prepare_seconds=round(prepare_s, 1))
    (args.out / "bench.json").write_text(report.model_dump_json(indent=2))
    rows = [GridRow("true", true)] + [GridRow(c.title, images[c.name], c.scores) for c in reports]
    grid = comparison_grid(rows + [GridRow("random", random, report.random)], args.out / "recovery-grid.png")

    print(f"\n{args.profile} profile, {args.regime} regime, on {device}: 1 image of class {classes[label]}, "
          f"{config.iterations} iterations x {config.restarts} restarts per case; test accuracy of θ "
          f"{report.original_accuracy:.4f}; grid: {grid}")
    print("| case | test accuracy of θ_u | label read from ∇* | PSNR (dB) | SSIM | MSE | PSNR, label given | "
          "1 − cos | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in reports:
        mark = "right" if c.label_inferred == c.label_true else "wrong"
        given = f"{c.label_given_scores.psnr:.2f}" if c.label_given_scores else "(same)"
        print(f"| {c.title} | {c.test_accuracy:.4f} | {c.label_inferred} ({mark}) | {c.scores.psnr:.2f} | "
              f"{c.scores.ssim:.3f} | {c.scores.mse:.4f} | {given} | {c.cosine_distance:.4f} | {c.seconds:.0f} s |")
    for name, scores in (("random image", report.random), ("mid-gray image", report.gray)):
        print(f"| {name} | – | – | {scores.psnr:.2f} | {scores.ssim:.3f} | {scores.mse:.4f} | – | – | – |")
    psnr = {c.name: c.scores.psnr for c in reports}
    print(f"psnr_approximate={psnr.get('approximate', float('nan')):.2f} "
          f"psnr_exact={psnr.get('exact', float('nan')):.2f} psnr_random={report.random.psnr:.2f}")


if __name__ == "__main__":
    main()
