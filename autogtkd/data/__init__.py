"""Datasets without torchvision: ``digits`` (embedded), ``cifar10`` / ``cifar100`` (official python
format), ``imagefolder`` (ImageNet-200 / Tiny-ImageNet layout). :func:`load_test_split` reads a
dataset's official test split (CIFAR's test batch, an image folder's ``test/``).

Images stay in memory as ``uint8``; loaders gather, augment (random crop + flip, on tensors) and
normalise whole batches. Splits are seeded and stratified.

Example:
    >>> from autogtkd.data import load_data
    >>> splits = load_data("digits", image_size=32, subset=200, seed=0)
    >>> images, labels = next(iter(splits.loader("train", batch_size=16)))
    >>> tuple(images.shape), labels.dtype
    ((16, 3, 32, 32), torch.int64)
"""

from autogtkd.data._load import (
    DATASETS,
    TEST_SPLITS,
    TestSplit,
    list_datasets,
    load_data,
    load_test_split,
    register_dataset,
)
from autogtkd.data._readers import CIFAR_SOURCES, RawData, default_data_dir, download_and_extract
from autogtkd.data._splits import (
    BatchLoader,
    DataSplits,
    ImageTensorDataset,
    augment_batch,
    stratified_split,
    stratified_subset,
)

__all__ = [
    "CIFAR_SOURCES",
    "DATASETS",
    "TEST_SPLITS",
    "BatchLoader",
    "DataSplits",
    "ImageTensorDataset",
    "RawData",
    "TestSplit",
    "augment_batch",
    "default_data_dir",
    "download_and_extract",
    "list_datasets",
    "load_data",
    "load_test_split",
    "register_dataset",
    "stratified_split",
    "stratified_subset",
]
