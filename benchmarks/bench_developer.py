"""`make bench-developer`: wall time and test accuracy of each developer stage, and the paper
profile's training speed.

cpu profile on the bundled CIFAR-10, paper-code regime: pretrain, fine-tune (the original),
exact unlearning and approximate unlearning of 0.5 of class 'cat', each trained from scratch in
a fresh work directory (no cache). Then the paper profile's ConvNet (width 64): training and
inference images/s on this machine's device, over a few batches.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from developer.config import PROFILES, UnlearningConfig
from developer.factory import developer_from_settings
from developer.settings import DeveloperSettings
from shared.models import build_model
from shared.runtime import select_device
from shared.schemas import ModelMetadata


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def paper_profile_speed(device: torch.device, batches: int) -> tuple[float, float]:
    meta = ModelMetadata(version="bench", architecture=PROFILES["paper"].architecture, input_shape=(3, 32, 32),
                         classes=[str(i) for i in range(10)], normalization={"mean": [0.5] * 3, "std": [0.25] * 3},
                         created_at="2026-01-01T00:00:00Z")
    model = build_model(meta).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(128, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,), device=device)

    def train_step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    train_step()
    sync()
    start = time.perf_counter()
    for _ in range(batches):
        train_step()
    sync()
    train = batches * 128 / (time.perf_counter() - start)
    model.eval()
    with torch.inference_mode():
        model(x)
        sync()
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
        sync()
    return train, batches * 128 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--paper-batches", type=int, default=3, help="batches of 128 for the paper profile")
    args = parser.parse_args()
    device = select_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dev = developer_from_settings(DeveloperSettings(workdir=Path(tmp), device=args.device))
        _, load_s = timed(lambda: dev.splits)
        pre, t = timed(dev.pretrain)
        rows.append(("pretrain (D0, 3 epochs)", t, pre.meta.training.test_accuracy))
        original, t = timed(dev.finetune)
        rows.append(("fine-tune: original (paper-code)", t, original.meta.training.test_accuracy))
        forget = dev.forget_set([(dev.class_index("cat"), 0.5)])
        exact, t = timed(lambda: dev.unlearn(forget))
        rows.append((f"exact unlearning ({forget.size} samples)", t, exact.meta.training.test_accuracy))
        approx, t = timed(lambda: dev.unlearn(forget, UnlearningConfig(method="approximate")))
        rows.append((f"approximate unlearning ({approx.record()['steps']} ascent steps)", t,
                     approx.meta.training.test_accuracy))
    print(f"\ncpu profile (SmallCNN width 16) on {device}, data load {load_s:.1f} s; times include the "
          f"test-set evaluation")
    print("| stage | wall time | test accuracy |\n|---|---|---|")
    for name, seconds, accuracy in rows:
        print(f"| {name} | {seconds:.1f} s | {accuracy:.4f} |")
    train, infer = paper_profile_speed(device, args.paper_batches)
    print(f"\npaper profile (ConvNet width 64) on {device}: training {train:,.1f} img/s, "
          f"inference {infer:,.1f} img/s (batch 128)")


if __name__ == "__main__":
    main()
