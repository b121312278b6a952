"""Datasets (offline bundle, torchvision, ImageFolder) and the D0 / D_u / X splits."""

from shared.data.datasets import ImageDataset, load_dataset
from shared.data.splits import forget_count, select_forget_set, select_spread_set, split_public_private

__all__ = ["ImageDataset", "forget_count", "load_dataset", "select_forget_set", "select_spread_set",
           "split_public_private"]
