"""In-memory image datasets, seeded stratified splits and a batch loader with on-the-fly augmentation.

Images are kept as ``uint8`` tensors of shape ``(N, C, H, W)``; each batch is gathered, augmented
(random crop with zero padding + optional horizontal flip, on tensors) and normalised
(``(x / 255 - mean) / std``) as a whole, which is much faster on CPU than per-image transforms.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from autogtkd.exceptions import DataError

__all__ = [
    "BatchLoader",
    "DataSplits",
    "ImageTensorDataset",
    "augment_batch",
    "crop_padding",
    "resize_uint8",
    "stratified_split",
    "stratified_subset",
]

Split = Literal["train", "val", "calib"]


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of ``uint8`` images ``(N, C, H, W)`` to ``(N, C, size, size)`` (antialiased
    when shrinking); returns ``uint8``. A no-op when the size already matches."""
    if images.shape[-2:] == (size, size):
        return images
    out = nn.functional.interpolate(
        images.float(),
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=bool(size < images.shape[-1] or size < images.shape[-2]),
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def crop_padding(image_size: int) -> int:
    """Padding of the random crop: 4 pixels at 32x32 (the CIFAR recipe), scaled with the image size."""
    return max(1, round(4 * image_size / 32))


def augment_batch(images: torch.Tensor, generator: torch.Generator, *, padding: int, hflip: bool) -> torch.Tensor:
    """Random crop (after zero padding by ``padding`` pixels on each side) and, if ``hflip``, a random
    horizontal flip with probability 1/2, independently per image.

    Args:
        images: ``uint8`` or float tensor ``(N, C, H, W)``.
        generator: seeded CPU generator (the only source of randomness).
    Returns:
        a tensor of the same shape and dtype.
    """
    n, _, h, w = images.shape
    if padding > 0:
        padded = nn.functional.pad(images, (padding, padding, padding, padding))  # (N, C, H+2p, W+2p)
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        rows = oy[:, None] + torch.arange(h)  # (N, H)
        cols = ox[:, None] + torch.arange(w)  # (N, W)
        idx = torch.arange(n)[:, None, None]
        # advanced indices separated by a slice move to the front: (N, H, W, C) -> (N, C, H, W)
        images = padded[idx, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
    if hflip:
        flip = torch.rand(n, generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    return images


class ImageTensorDataset(Dataset):
    """Images held as ``uint8`` ``(N, C, H, W)`` with ``int64`` labels ``(N,)``.

    ``dataset[i]`` is ``(image float32 (C, H, W) normalised, label int64 scalar)``, without
    augmentation; :class:`BatchLoader` reads whole batches through :meth:`batch`.
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, *, mean: Sequence[float], std: Sequence[float]
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise DataError(f"{images.shape[0]} images but labels of shape {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``(N, C, H, W)`` -> float32 ``(images / 255 - mean) / std``."""
        return (images.float().div_(255.0) - self.mean) / self.std

    def batch(
        self,
        indices: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        padding: int = 0,
        hflip: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, C, H, W)`` float32 normalised and labels ``(B,)`` for ``indices``; augmented
        when ``generator`` is given."""
        x = self.images[indices]
        if generator is not None:
            x = augment_batch(x, generator, padding=padding, hflip=hflip)
        return self.normalise(x), self.labels[indices]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch(torch.tensor([index]))
        return x[0], y[0]


class _BatchSource(Dataset):
    """Maps a batch number of one epoch to a ready batch (used by worker processes)."""

    def __init__(self, loader: BatchLoader, batches: list[torch.Tensor], epoch: int) -> None:
        self.loader, self.batches, self.epoch = loader, batches, epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loader._make_batch(self.batches[i], self.epoch, i)


class BatchLoader:
    """Iterate over ``(images, labels)`` batches of an :class:`ImageTensorDataset`.

    Shuffling and augmentation are seeded: epoch ``e`` shuffles with seed ``(seed, e)`` and batch ``b``
    is augmented with seed ``(seed, e, b)``, so results do not depend on ``num_workers``. Each full
    iteration advances the epoch; call :meth:`set_epoch` to resume at a given epoch.

    With ``distributed=True`` (and ``torch.distributed`` initialised) each rank takes every
    ``world_size``-th example of the shuffled order, padded to equal length (as ``DistributedSampler``).
    """

    def __init__(
        self,
        dataset: ImageTensorDataset,
        *,
        batch_size: int,
        shuffle: bool,
        augment: bool,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        distributed: bool = False,
        padding: int = 0,
        hflip: bool = False,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.padding = padding
        self.hflip = hflip
        self.epoch = 0
        self.rank, self.world_size = 0, 1
        if distributed:
            import torch.distributed as dist

            if not (dist.is_available() and dist.is_initialized()):
                raise DataError("distributed=True needs torch.distributed to be initialised first")
            self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the shuffle and augmentation of ``epoch``."""
        self.epoch = epoch

    def _indices(self, epoch: int) -> torch.Tensor:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix(self.seed, epoch))
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            per_rank = -(-n // self.world_size)
            order = torch.cat([order, order[: per_rank * self.world_size - n]])
            order = order[self.rank :: self.world_size]
        return order

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        order = self._indices(epoch)
        batches = list(order.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _make_batch(self, indices: torch.Tensor, epoch: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(_mix(self.seed, epoch, b + 1)) if self.augment else None
        return self.dataset.batch(indices, generator=g, padding=self.padding, hflip=self.hflip)

    def __len__(self) -> int:
        n = len(self._indices(0))
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        batches = self._batches(epoch)
        if self.num_workers > 0:
            source = _BatchSource(self, batches, epoch)
            yield from torch.utils.data.DataLoader(
                source,
                batch_size=None,
                shuffle=False,
                num_workers=self.num_workers,
                persistent_workers=False,
            )
            return
        for b, idx in enumerate(batches):
            yield self._make_batch(idx, epoch, b)


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (numpy's SeedSequence mixing)."""
    return int(np.random.SeedSequence(list(values)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` among classes in proportion to ``counts`` (largest remainder), never more than a
    class has."""
    if counts.sum() == 0:
        return np.zeros_like(counts)
    exact = counts * (total / counts.sum())
    take = np.minimum(np.floor(exact).astype(np.int64), counts)
    rest = total - int(take.sum())
    order = np.argsort(-(exact - take), kind="stable")
    for c in order:
        if rest <= 0:
            break
        if take[c] < counts[c]:
            take[c] += 1
            rest -= 1
    return take


def stratified_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` examples with the class proportions of ``labels`` (sorted, seeded by ``rng``)."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    counts = np.array([(labels == c).sum() for c in classes])
    take = _allocate(counts, n)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def stratified_split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into ``(rest, held_out)`` with ``round(fraction * N)`` held out, class proportions
    kept (largest-remainder rounding per class); both sorted. Seeded by ``rng``."""
    labels = np.asarray(labels)
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {fraction}")
    held = stratified_subset(labels, round(fraction * len(labels)), rng) if fraction > 0 else np.array([], int)
    mask = np.ones(len(labels), dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held.astype(np.int64)


@dataclass
class DataSplits:
    """A dataset split into ``train``, ``val`` and ``calib`` (a small stratified slice of ``train``).

    Attributes:
        name: dataset name.
        train, val, calib: :class:`ImageTensorDataset` of ``(image float32 (C, H, W), label int64)``.
        num_classes, in_channels, image_size: shape facts (images are ``image_size`` square).
        class_names: one name per label.
        mean, std: per-channel normalisation (of images scaled to [0, 1]).
        hflip: whether training augmentation flips horizontally (not for digits).
    """

    name: str
    train: ImageTensorDataset
    val: ImageTensorDataset
    calib: ImageTensorDataset
    num_classes: int
    in_channels: int
    image_size: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool = True
    info: dict[str, object] = field(default_factory=dict)

    def loader(
        self,
        split: Split,
        batch_size: int = 64,
        *,
        shuffle: bool | None = None,
        augment: bool | None = None,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        distributed: bool = False,
    ) -> BatchLoader:
        """A seeded :class:`BatchLoader` over ``split``.

        ``shuffle`` and ``augment`` default to ``True`` for ``"train"`` and ``False`` otherwise.
        Augmentation: random crop with zero padding (4 pixels at 32x32, scaled to ``image_size``) and,
        except for digits, a horizontal flip.

        Example:
            >>> splits = load_data("digits", subset=200)            # doctest: +SKIP
            >>> for images, labels in splits.loader("train", 32):   # doctest: +SKIP
            ...     images.shape                                     # (32, 3, 32, 32)
        """
        datasets = {"train": self.train, "val": self.val, "calib": self.calib}
        if split not in datasets:
            raise DataError(f"unknown split {split!r}; valid: train, val, calib")
        is_train = split == "train"
        return BatchLoader(
            datasets[split],
            batch_size=batch_size,
            shuffle=is_train if shuffle is None else shuffle,
            augment=is_train if augment is None else augment,
            seed=seed,
            drop_last=drop_last,
            num_workers=num_workers,
            distributed=distributed,
            padding=crop_padding(self.image_size),
            hflip=self.hflip,
        )
