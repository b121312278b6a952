"""Files a recovery writes: the images (safetensors, lossless), a PNG grid, the loss curve, the JSON.

Everything goes into one output directory; the PNGs are for people, the safetensors file is what
the evaluation side scores (8-bit PNGs would round the pixels).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from recovery.invert import Inversion  # noqa: E402
from recovery.result import OutputFiles, RecoveryResult  # noqa: E402

IMAGES_FILE = "recovered.safetensors"


def image_grid_png(images: torch.Tensor, path: Path, scale: int = 4, nrow: int = 8) -> Path:
    """Save (n, C, H, W) images in [0,1] side by side, enlarged `scale` times (nearest neighbour)."""
    grid = make_grid(images.detach().cpu().float().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    if array.shape[2] == 1:
        array = array[:, :, 0]
    picture = Image.fromarray(array)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    picture.save(path)
    return path


def loss_curve_png(inversion: Inversion, every: int, iterations: int, path: Path) -> Path:
    """The objective per restart: recorded every `every` iterations, then once at the end."""
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for r, trace in enumerate(inversion.restarts):
        steps = [i * every for i in range(len(trace.curve) - 1)] + [iterations]
        ax.plot(steps, trace.curve, lw=1.2 if r == inversion.best_restart else 0.8,
                label=f"restart {r + 1}" + (" (best)" if r == inversion.best_restart else ""))
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("1 − cos + α·TV")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(out_dir: Path, inversion: Inversion, result: RecoveryResult) -> RecoveryResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = OutputFiles(images=str(out_dir / IMAGES_FILE), grid=str(out_dir / "recovered.png"),
                        loss_curve=str(out_dir / "loss.png"), result=str(out_dir / "result.json"))
    save_file({"images": inversion.images.contiguous().float()}, files.images)
    image_grid_png(inversion.images, Path(files.grid))
    loss_curve_png(inversion, result.config.curve_every, result.config.iterations, Path(files.loss_curve))
    result = result.model_copy(update={"outputs": files})
    Path(files.result).write_text(result.model_dump_json(indent=2))
    return result


def read_images(path: Path) -> torch.Tensor:
    return load_file(str(path))["images"]
