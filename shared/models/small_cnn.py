"""A small, fast CNN: the CPU default.

Three blocks of Conv3x3 + BatchNorm + ReLU + MaxPool(2) with channels w, 2w, 4w, then Linear.
At width 16 (the cpu profile) on 32x32 inputs: 34 k parameters; it trains at ~3,000 img/s on two
cores, against ~10 img/s for the ConvNet at width 64.
"""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Sequential):
    def __init__(self, width: int = 32, num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32)):
        channels, height, width_px = input_shape
        side_h, side_w = height // 8, width_px // 8
        if side_h < 1 or side_w < 1:
            raise ValueError(f"SmallCNN needs inputs of at least 8x8 pixels, got {height}x{width_px}")
        layers: list[nn.Module] = []
        c_in = channels
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        super().__init__(*layers, nn.Flatten(), nn.Linear(c_in * side_h * side_w, num_classes))
