"""The true-vs-recovered picture: for each case a row of true images, then a row of recovered ones.

Drawn by the evaluation side because only it holds the true images; captions carry the scores.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from evaluation.image_metrics import ImageScores  # noqa: E402


@dataclass
class GridRow:
    title: str
    images: torch.Tensor  # (n, C, H, W) in [0, 1]
    scores: ImageScores | None = None  # None for the row of true images


def _as_hwc(image: torch.Tensor):
    array = image.detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def comparison_grid(rows: list[GridRow], path: Path, cell: float = 1.6) -> Path:
    """One row per entry of `rows`, one column per image; scored rows get PSNR/SSIM under each image.
    When every entry holds a single image, the entries are laid side by side instead, titled above."""
    columns = max(len(r.images) for r in rows)
    if columns == 1:
        return _side_by_side(rows, path, cell)
    fig, axes = plt.subplots(len(rows), columns, figsize=(cell * columns + 1.6, cell * len(rows) + 0.2),
                             squeeze=False, dpi=100)
    for r, row in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c >= len(row.images):
                continue
            image = _as_hwc(row.images[c])
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            if row.scores is not None:
                score = next(s for s in row.scores.images if s.recovered_index == c)
                ax.set_xlabel(f"{score.psnr:.1f} dB / {score.ssim:.2f}", fontsize=7)
            if c == 0:
                ax.set_ylabel(row.title, fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _side_by_side(rows: list[GridRow], path: Path, cell: float) -> Path:
    fig, axes = plt.subplots(1, len(rows), figsize=(cell * len(rows), cell + 0.9), squeeze=False, dpi=100)
    for ax, row in zip(axes[0], rows):
        image = _as_hwc(row.images[0])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(textwrap.fill(row.title, 16), fontsize=7)
        if row.scores is not None:
            ax.set_xlabel(f"{row.scores.psnr:.1f} dB / {row.scores.ssim:.2f}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
