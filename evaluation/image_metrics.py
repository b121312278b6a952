"""Image-quality scores of recovered images against the true ones: MSE, PSNR, SSIM (torchmetrics).

Images are (n, C, H, W) float tensors in [0, 1]; PSNR uses data range 1, SSIM torchmetrics'
defaults (Gaussian window 11, σ 1.5). For several images, a recovered image is matched to a true
one greedily by PSNR (best pair first): a batch recovery returns its images in no particular order.
The random baseline scores uniform noise images, drawn from a seeded generator, the same way.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, Field
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


class ImageScore(BaseModel):
    true_index: int
    recovered_index: int
    mse: float
    psnr: float = Field(description="dB; higher is better")
    ssim: float = Field(description="in [-1, 1]; 1 is identical")


class ImageScores(BaseModel):
    images: list[ImageScore]
    mse: float = Field(description="mean over the images")
    psnr: float = Field(description="mean over the images, dB")
    ssim: float = Field(description="mean over the images")


def _check(true: torch.Tensor, recovered: torch.Tensor) -> None:
    if true.dim() != 4 or recovered.dim() != 4 or true.shape[1:] != recovered.shape[1:]:
        raise ValueError(f"images must be (n, C, H, W) of one shape, got {list(true.shape)} and "
                         f"{list(recovered.shape)}")
    if true.shape[0] != recovered.shape[0]:
        raise ValueError(f"{true.shape[0]} true images but {recovered.shape[0]} recovered")


def score_pair(true: torch.Tensor, recovered: torch.Tensor) -> tuple[float, float, float]:
    """(MSE, PSNR, SSIM) of one (C, H, W) image pair."""
    t, r = true[None].double(), recovered[None].double().clamp(0, 1)
    mse = float(torch.mean((t - r) ** 2))
    psnr = float(peak_signal_noise_ratio(r, t, data_range=1.0))
    ssim = float(structural_similarity_index_measure(r, t, data_range=1.0))
    return mse, psnr, ssim


def score_images(true: torch.Tensor, recovered: torch.Tensor) -> ImageScores:
    true, recovered = true.detach().cpu().float(), recovered.detach().cpu().float()
    _check(true, recovered)
    table = {(i, j): score_pair(true[i], recovered[j]) for i in range(len(true)) for j in range(len(recovered))}
    matched: list[ImageScore] = []
    free_true, free_rec = set(range(len(true))), set(range(len(recovered)))
    for (i, j), (mse, psnr, ssim) in sorted(table.items(), key=lambda kv: (-kv[1][1], kv[0])):
        if i in free_true and j in free_rec:
            matched.append(ImageScore(true_index=i, recovered_index=j, mse=mse, psnr=psnr, ssim=ssim))
            free_true.discard(i)
            free_rec.discard(j)
    matched.sort(key=lambda s: s.true_index)
    n = len(matched)
    return ImageScores(images=matched, mse=sum(s.mse for s in matched) / n, psnr=sum(s.psnr for s in matched) / n,
                       ssim=sum(s.ssim for s in matched) / n)


def random_images(like: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(like.shape, generator=generator)


def gray_images(like: torch.Tensor) -> torch.Tensor:
    """Mid-gray images: the score of a guess that knows only that images are images."""
    return torch.full(like.shape, 0.5)


def random_baseline(true: torch.Tensor, seed: int = 0) -> ImageScores:
    """What an attacker that learned nothing scores: uniform noise images."""
    return score_images(true, random_images(true, seed))
