"""The dataset registry and :func:`load_data`: read, subset, split (seeded, stratified), wrap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from autogtkd.data._readers import RawData, read_cifar10, read_cifar100, read_digits, read_imagefolder, resize_uint8
from autogtkd.data._splits import DataSplits, ImageTensorDataset, stratified_split, stratified_subset
from autogtkd.exceptions import DataError
from autogtkd.registry import Registry

__all__ = ["DATASETS", "list_datasets", "load_data", "register_dataset"]

#: Dataset readers: ``reader(data_dir, *, image_size, download) -> RawData``.
DATASETS: Registry[RawData] = Registry("dataset")
DATASETS.register("digits", read_digits)
DATASETS.register("cifar10", read_cifar10)
DATASETS.register("cifar100", read_cifar100)
DATASETS.register("imagefolder", read_imagefolder)


def register_dataset(name: str, reader: Callable[..., RawData], *, overwrite: bool = False) -> None:
    """Register ``reader(data_dir, *, image_size, download) -> RawData`` as dataset ``name``."""
    DATASETS.register(name, reader, overwrite=overwrite)


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return DATASETS.list()


def load_data(
    name: str,
    data_dir: str | Path | None = None,
    image_size: int = 32,
    val_fraction: float = 0.2,
    seed: int = 0,
    subset: int | None = None,
    download: bool = False,
    *,
    calib_size: int = 500,
) -> DataSplits:
    """Read dataset ``name`` and split it into train / val / calib, seeded and stratified.

    Args:
        name: a registered dataset (``digits``, ``cifar10``, ``cifar100``, ``imagefolder``).
        data_dir: where the files are (CIFAR: the ``cifar-10-batches-py`` / ``cifar-100-python``
            folder or its parent; default ``~/.cache/autogtkd/data``). Not used by ``digits``.
        image_size: side of the square images in pixels (resized bilinearly when different).
        val_fraction: share of the (subset of the) training images held out for validation, used
            when the dataset has no separate validation set (CIFAR's val is always a split of train).
        seed: seeds the subset and the split.
        subset: at most this many training + validation images, class proportions kept.
        download: download CIFAR when missing (official tarball, MD5 checked).
        calib_size: images in ``calib``, a stratified slice of ``train`` for BatchNorm recalibration.

    Returns:
        :class:`DataSplits` whose datasets yield ``(float32 (C, image_size, image_size), int64)``.

    Example:
        >>> splits = load_data("digits", subset=300, seed=0)
        >>> len(splits.train), len(splits.val), splits.num_classes
        (240, 60, 10)
    """
    if image_size < 8:
        raise DataError(f"image_size must be >= 8 pixels, got {image_size}")
    if subset is not None and subset < 2:
        raise DataError(f"subset must be >= 2 images, got {subset}")
    raw = DATASETS.get(name)(data_dir, image_size=image_size, download=download)
    rng = np.random.default_rng(seed)
    images, labels = resize_uint8(raw.images, image_size), raw.labels.numpy()
    if raw.val_images is not None and raw.val_labels is not None and len(raw.val_labels) > 0:
        val_images, val_labels = resize_uint8(raw.val_images, image_size), raw.val_labels.numpy()
        if subset is not None and subset < len(labels) + len(val_labels):
            n_train = round(subset * len(labels) / (len(labels) + len(val_labels)))
            tr = stratified_subset(labels, n_train, rng)
            va = stratified_subset(val_labels, subset - n_train, rng)
            images, labels, val_images, val_labels = images[tr], labels[tr], val_images[va], val_labels[va]
    else:
        if subset is not None:
            keep = stratified_subset(labels, subset, rng)
            images, labels = images[keep], labels[keep]
        tr, va = stratified_split(labels, val_fraction, rng)
        val_images, val_labels = images[va], labels[va]
        images, labels = images[tr], labels[tr]
    if len(labels) == 0:
        raise DataError(f"{name}: no training images left (subset={subset}, val_fraction={val_fraction})")
    calib = stratified_subset(labels, min(calib_size, len(labels)), rng)

    def wrap(x: torch.Tensor, y: np.ndarray) -> ImageTensorDataset:
        return ImageTensorDataset(x, torch.as_tensor(y, dtype=torch.int64), mean=raw.mean, std=raw.std)

    return DataSplits(
        name=name,
        train=wrap(images, labels),
        val=wrap(val_images, val_labels),
        calib=wrap(images[calib], labels[calib]),
        num_classes=len(raw.class_names),
        in_channels=int(images.shape[1]),
        image_size=image_size,
        class_names=list(raw.class_names),
        mean=tuple(raw.mean),
        std=tuple(raw.std),
        hflip=raw.hflip,
        info={
            "seed": seed,
            "subset": subset,
            "val_fraction": val_fraction,
            "data_dir": None if data_dir is None else str(data_dir),
        },
    )
