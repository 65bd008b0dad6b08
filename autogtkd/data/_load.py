"""The dataset registry and :func:`load_data`: read, subset, split (seeded, stratified), wrap; the
official test splits and :func:`load_test_split`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autogtkd.data._readers import (
    RawData,
    read_cifar10,
    read_cifar10_test,
    read_cifar100,
    read_cifar100_test,
    read_digits,
    read_imagefolder,
    read_imagefolder_test,
    resize_uint8,
)
from autogtkd.data._splits import BatchLoader, DataSplits, ImageTensorDataset, stratified_split, stratified_subset
from autogtkd.exceptions import DataError
from autogtkd.registry import Registry

__all__ = ["DATASETS", "TEST_SPLITS", "TestSplit", "list_datasets", "load_data", "load_test_split", "register_dataset"]

#: Dataset readers: ``reader(data_dir, *, image_size, download) -> RawData``.
DATASETS: Registry[RawData] = Registry("dataset")
DATASETS.register("digits", read_digits)
DATASETS.register("cifar10", read_cifar10)
DATASETS.register("cifar100", read_cifar100)
DATASETS.register("imagefolder", read_imagefolder)

#: Readers of the official test splits: ``reader(data_dir, *, image_size) -> RawData`` (the test
#: images as ``images``/``labels``). ``digits`` has none.
TEST_SPLITS: Registry[RawData] = Registry("test split")
TEST_SPLITS.register("cifar10", read_cifar10_test)
TEST_SPLITS.register("cifar100", read_cifar100_test)
TEST_SPLITS.register("imagefolder", read_imagefolder_test)


def register_dataset(
    name: str,
    reader: Callable[..., RawData],
    *,
    test_reader: Callable[..., RawData] | None = None,
    overwrite: bool = False,
) -> None:
    """Register ``reader(data_dir, *, image_size, download) -> RawData`` as dataset ``name``, and
    ``test_reader(data_dir, *, image_size) -> RawData`` as its official test split when it has one."""
    DATASETS.register(name, reader, overwrite=overwrite)
    if test_reader is not None:
        TEST_SPLITS.register(name, test_reader, overwrite=overwrite)


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


@dataclass
class TestSplit:
    """The official test split of a dataset, prepared like the training data.

    Attributes:
        name: dataset name.
        data: :class:`ImageTensorDataset` of ``(image float32 (C, image_size, image_size) normalised
            with the training mean/std, label int64)``.
        class_names: one name per label (the training set's labels).
        image_size: side of the square images in pixels.
        data_dir: the folder it was read from (None: the default one).
    """

    __test__ = False  # not a pytest test class

    name: str
    data: ImageTensorDataset
    class_names: list[str]
    image_size: int
    data_dir: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def loader(self, batch_size: int = 256) -> BatchLoader:
        """Batches in file order, without augmentation."""
        return BatchLoader(self.data, batch_size=batch_size, shuffle=False, augment=False)


def load_test_split(name: str, data_dir: str | Path | None = None, image_size: int = 32) -> TestSplit:
    """Read the official test split of dataset ``name``, resized and normalised as :func:`load_data`
    prepares its training images.

    ``cifar10``: ``test_batch`` in ``cifar-10-batches-py``; ``cifar100``: ``test`` in
    ``cifar-100-python`` (``data_dir`` may be that folder or its parent); ``imagefolder``:
    ``root/test/<class>/...`` with the class folders of ``root/train``. ``digits`` has no test split.
    A dataset without one, or a missing file, raises :class:`~autogtkd.exceptions.DataError` (one line,
    naming the missing file).

    Example:
        >>> test = load_test_split("cifar10", "data/", image_size=32)     # doctest: +SKIP
        >>> len(test.data), test.num_classes                               # doctest: +SKIP
        (10000, 10)
    """
    if image_size < 8:
        raise DataError(f"image_size must be >= 8 pixels, got {image_size}")
    if name not in TEST_SPLITS:
        DATASETS.get(name)  # an unknown name raises with the valid ones
        with_test = ", ".join(TEST_SPLITS.list())
        raise DataError(
            f"dataset {name!r} has no official test split (datasets with one: {with_test}); use the val split"
        )
    raw = TEST_SPLITS.get(name)(data_dir, image_size=image_size)
    images = resize_uint8(raw.images, image_size)
    return TestSplit(
        name=name,
        data=ImageTensorDataset(images, raw.labels, mean=raw.mean, std=raw.std),
        class_names=list(raw.class_names),
        image_size=image_size,
        data_dir=None if data_dir is None else str(data_dir),
    )
