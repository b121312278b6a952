"""Process-wide torch settings: device choice, thread count, seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


def select_device(requested: str = "auto") -> torch.device:
    """`auto`: CUDA when present, else CPU. Anything else is passed to torch.device as is."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but is not available on this machine")
    return device


def configure_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_model_layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move an (N, C, H, W) batch to `device` in channels-last layout (faster convolutions on CPU and GPU)."""
    return x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
