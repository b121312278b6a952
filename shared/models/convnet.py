"""The ConvNet of the paper's and the report's code (METHOD.md).

Nine blocks of Conv3x3 (padding 1) + BatchNorm + ReLU with channels
3->w, w->2w, 2w->2w, 2w->4w, 4w->4w, 4w->4w, MaxPool(3), three blocks 4w->4w, MaxPool(3),
Flatten, Linear. At width 64 on 32x32 inputs: 3.5 M parameters, Linear(36 w -> classes).
"""

from __future__ import annotations

from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())


class ConvNet(nn.Sequential):
    def __init__(self, width: int = 64, num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32)):
        channels, height, width_px = input_shape
        w = width
        side_h, side_w = height // 3 // 3, width_px // 3 // 3
        if side_h < 1 or side_w < 1:
            raise ValueError(f"ConvNet needs inputs of at least 9x9 pixels, got {height}x{width_px}")
        super().__init__(
            conv_block(channels, w),
            conv_block(w, 2 * w),
            conv_block(2 * w, 2 * w),
            conv_block(2 * w, 4 * w),
            conv_block(4 * w, 4 * w),
            conv_block(4 * w, 4 * w),
            nn.MaxPool2d(3),
            conv_block(4 * w, 4 * w),
            conv_block(4 * w, 4 * w),
            conv_block(4 * w, 4 * w),
            nn.MaxPool2d(3),
            nn.Flatten(),
            nn.Linear(4 * w * side_h * side_w, num_classes),
        )
