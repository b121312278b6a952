"""Image classification datasets as uint8 arrays.

Every dataset, whatever its source, becomes one `ImageDataset`: train and test images as
uint8 arrays of shape (N, H, W, C), int64 labels, and the class names. The sources:

- ``cifar10-offline`` (default): the CIFAR-10 JPEG copy bundled in this package. Decoded once
  (about 10 s) into a cache of uint8 arrays, then loaded in well under a second.
- ``cifar10``, ``cifar100``, ``mnist``, ``fashion-mnist``, ``stl10``: torchvision's datasets,
  downloaded on first use (needs internet).
- ``cifar10-animals``: the bundled set's six animal classes (bird, cat, deer, dog, frog, horse),
  relabelled 0..5: the project's second dataset, on which no choice of the attack was made
  (docs/evaluation.md).
- a directory path holding ``train/<class>/*`` and ``test/<class>/*`` image files (ImageFolder).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

BUNDLED_ARCHIVE = Path(__file__).parent / "bundled" / "cifar10-jpeg.tar.gz"
OFFLINE_NAME = "cifar10-offline"
TORCHVISION_NAMES = ("cifar10", "cifar100", "mnist", "fashion-mnist", "stl10")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# a named subset of another dataset's classes, relabelled in the order given
SUBSETS = {"cifar10-animals": (OFFLINE_NAME, ("bird", "cat", "deer", "dog", "frog", "horse"))}


@dataclass(frozen=True)
class ImageDataset:
    name: str
    classes: tuple[str, ...]
    train_x: np.ndarray  # uint8 (N, H, W, C)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Model input shape (C, H, W)."""
        _, h, w, c = self.train_x.shape
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def default_cache_dir() -> Path:
    return Path(os.environ.get("UIA_CACHE_DIR", Path.home() / ".cache" / "unlearning-inversion"))


def load_dataset(name: str = OFFLINE_NAME, cache_dir: Path | None = None) -> ImageDataset:
    """Load a dataset by name (see module doc) or by ImageFolder directory path. Loaded once per
    process: every caller (each seed's developer in an evaluation grid, say) shares the same
    arrays, which are therefore read-only."""
    return _load(name, Path(cache_dir) if cache_dir else default_cache_dir())


@functools.lru_cache(maxsize=8)
def _load(name: str, cache_dir: Path) -> ImageDataset:
    data = _read(name, cache_dir)
    for array in (data.train_x, data.train_y, data.test_x, data.test_y):
        array.setflags(write=False)
    return data


def _read(name: str, cache_dir: Path) -> ImageDataset:
    if name == OFFLINE_NAME:
        return _cached(name, _file_digest(BUNDLED_ARCHIVE), cache_dir, _decode_bundled_archive)
    if name in TORCHVISION_NAMES:
        return _cached(name, "torchvision", cache_dir, lambda: _load_torchvision(name, cache_dir))
    if name in SUBSETS:
        base, classes = SUBSETS[name]
        return _subset(name, _load(base, cache_dir), classes)
    path = Path(name)
    if (path / "train").is_dir() and (path / "test").is_dir():
        return _load_image_folder(path)
    known = ", ".join((OFFLINE_NAME, *SUBSETS, *TORCHVISION_NAMES))
    raise ValueError(f"unknown dataset {name!r}: use one of {known}, or a directory with train/ and test/")


def _subset(name: str, data: ImageDataset, classes: tuple[str, ...]) -> ImageDataset:
    """The images of `classes` only, labelled by their place in `classes`."""
    old = [data.classes.index(c) for c in classes]
    relabel = np.full(len(data.classes), -1, dtype=np.int64)
    relabel[old] = np.arange(len(classes))
    train, test = np.isin(data.train_y, old), np.isin(data.test_y, old)
    return ImageDataset(name, classes, data.train_x[train], relabel[data.train_y[train]], data.test_x[test],
                        relabel[data.test_y[test]])


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _cached(name: str, key: str, cache_dir: Path, build) -> ImageDataset:
    """Load `name` from an .npz cache keyed by `key`, building and writing it atomically if absent."""
    path = cache_dir / f"{name}-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return ImageDataset(name, tuple(str(c) for c in z["classes"]), z["train_x"], z["train_y"],
                                z["test_x"], z["test_y"])
    data = build()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        np.savez(f, classes=np.array(data.classes), train_x=data.train_x, train_y=data.train_y,
                 test_x=data.test_x, test_y=data.test_y)
    os.replace(tmp, path)
    return data


def _decode_bundled_archive() -> ImageDataset:
    """Decode the bundled `{train,test}/<class>/NNNN.jpg` archive; class folders sorted give labels."""
    files: dict[tuple[str, str, str], bytes] = {}
    with tarfile.open(BUNDLED_ARCHIVE, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[0] in ("train", "test"):
                files[(parts[0], parts[1], parts[2])] = tar.extractfile(member).read()
    classes = tuple(sorted({cls for _, cls, _ in files}))
    arrays = {}
    for split in ("train", "test"):
        keys = sorted(k for k in files if k[0] == split)
        arrays[split] = (
            np.stack([_decode_image(files[k]) for k in keys]),
            np.array([classes.index(k[1]) for k in keys], dtype=np.int64),
        )
    return ImageDataset(OFFLINE_NAME, classes, *arrays["train"], *arrays["test"])


def _decode_image(data: bytes, mode: str = "RGB") -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert(mode), dtype=np.uint8).reshape(img.height, img.width, -1)


def _load_image_folder(root: Path) -> ImageDataset:
    """Read an ImageFolder-style directory; all images must share one size; mode taken from the first."""
    classes = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir()))
    if not classes:
        raise ValueError(f"{root}/train holds no class folders")
    mode = None
    arrays = []
    for split in ("train", "test"):
        xs, ys = [], []
        for label, cls in enumerate(classes):
            for file in sorted((root / split / cls).glob("*")):
                if file.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if mode is None:
                    with Image.open(file) as first:
                        mode = "L" if first.mode in ("L", "1", "I", "I;16") else "RGB"
                xs.append(_decode_image(file.read_bytes(), mode))
                ys.append(label)
        if not xs:
            raise ValueError(f"{root}/{split} holds no images")
        if len({x.shape for x in xs}) != 1:
            raise ValueError(f"{root}/{split}: images differ in size; resize them to one size first")
        arrays += [np.stack(xs), np.array(ys, dtype=np.int64)]
    return ImageDataset(str(root), classes, *arrays)


def _load_torchvision(name: str, cache_dir: Path) -> ImageDataset:  # pragma: no cover - needs internet
    """Download a torchvision dataset and convert it; a thin path over the same arrays."""
    from torchvision import datasets

    root = cache_dir / "torchvision"

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data)
        if x.ndim == 3:  # MNIST-like (N, H, W)
            x = x[..., None]
        elif x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):  # STL-10 is (N, C, H, W)
            x = x.transpose(0, 2, 3, 1)
        labels = getattr(ds, "targets", None)
        if labels is None:
            labels = ds.labels
        return np.ascontiguousarray(x, dtype=np.uint8), np.asarray(labels, dtype=np.int64)

    if name == "stl10":
        train = datasets.STL10(root, split="train", download=True)
        test = datasets.STL10(root, split="test", download=True)
    else:
        cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100, "mnist": datasets.MNIST,
               "fashion-mnist": datasets.FashionMNIST}[name]
        train = cls(root, train=True, download=True)
        test = cls(root, train=False, download=True)
    return ImageDataset(name, tuple(train.classes), *arrays(train), *arrays(test))
