"""The attacker's optional capability "holds public in-domain data" (off by default).

The project's threat model makes D0, the developer's pretraining data, public. An attacker who
uses such images says so: every report made with them names the source in its `capabilities`.
Two formats, both read with numpy and PIL only (the attacker room imports no dataset code):

- an ``.npz`` file with ``images`` (N, H, W, C) uint8 and, optionally, ``labels`` (N,) — what
  ``python -m developer export-public`` writes for the bundled set's public part;
- an ImageFolder directory: one sub-directory per class, images inside (labels from the names).

Labels are read when present but the attacks here do not need them: the served model's own
answers say which class an image stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass(frozen=True)
class PublicImages:
    images: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    labels: np.ndarray | None  # (N,) class indices in `label_names`, when the source has labels
    label_names: list[str] | None
    source: str

    def describe(self) -> str:
        return f"public in-domain data: {len(self.images):,} images from {self.source}"


def load_public_images(path: Path, input_shape: tuple[int, int, int] | None = None, limit: int | None = None,
                       seed: int = 0) -> PublicImages:
    """Read the images at `path`; `limit` keeps a seeded subset of that many. Images whose shape is
    not `input_shape` (C, H, W) are an error, not silently resized."""
    path = Path(path)
    if path.is_dir():
        images, labels, names = _read_folder(path)
    elif path.suffix == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z:
                raise ValueError(f"{path} holds no 'images' array")
            images = z["images"]
            labels = z["labels"].astype(np.int64) if "labels" in z else None
            names = [str(n) for n in z["label_names"]] if "label_names" in z else None
    else:
        raise FileNotFoundError(f"public data {path}: expected an .npz file or an ImageFolder directory")
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"public data {path}: expected (N, H, W, C) uint8 images, got {images.dtype} {images.shape}")
    if limit is not None and limit < len(images):
        keep = np.sort(np.random.default_rng([seed, 0x9B]).choice(len(images), size=limit, replace=False))
        images, labels = images[keep], None if labels is None else labels[keep]
    chw = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    if input_shape is not None and tuple(chw.shape[1:]) != tuple(input_shape):
        raise ValueError(f"public data {path}: images are {tuple(chw.shape[1:])} (C, H, W), the model takes "
                         f"{tuple(input_shape)}")
    return PublicImages(chw, labels, names, str(path))


def _read_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not names:
        raise ValueError(f"{root} has no class sub-directories")
    images, labels = [], []
    for label, name in enumerate(names):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(file) as im:
                    array = np.asarray(im.convert("L" if im.mode in ("L", "1") else "RGB"))
                images.append(array[..., None] if array.ndim == 2 else array)
                labels.append(label)
    if not images:
        raise ValueError(f"{root} holds no images")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"{root}: images of several shapes {sorted(shapes)[:3]}; resize them to one first")
    return np.stack(images), np.array(labels, dtype=np.int64), names
