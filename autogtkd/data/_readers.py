"""Dataset readers: digits (embedded), CIFAR-10/100 (official python format), image folders.

Each reader returns :class:`RawData` (``uint8`` images in memory); :func:`autogtkd.data.load_data`
resizes, splits and normalises them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from autogtkd.data._splits import resize_uint8
from autogtkd.exceptions import DataError

__all__ = [
    "CIFAR_SOURCES",
    "RawData",
    "default_data_dir",
    "download_and_extract",
    "read_cifar10",
    "read_cifar10_test",
    "read_cifar100",
    "read_cifar100_test",
    "read_digits",
    "read_imagefolder",
    "read_imagefolder_test",
]

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class RawData:
    """Decoded images of one dataset, before splitting.

    Attributes:
        images: ``uint8`` ``(N, C, H, W)``.
        labels: ``int64`` ``(N,)`` in ``[0, len(class_names))``.
        class_names: one name per label.
        mean, std: per-channel normalisation of images scaled to [0, 1].
        hflip: whether horizontal flips are a valid augmentation.
        val_images, val_labels: a separate validation set, when the dataset has one.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool = True
    val_images: torch.Tensor | None = None
    val_labels: torch.Tensor | None = None


def default_data_dir() -> Path:
    """Where datasets are looked for when ``data_dir`` is None: ``~/.cache/autogtkd/data``."""
    return Path.home() / ".cache" / "autogtkd" / "data"


# --------------------------------------------------------------------------- digits
def read_digits(data_dir: str | Path | None = None, *, image_size: int = 32, download: bool = False) -> RawData:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes; no download).

    Grey levels 0..16 are scaled to 0..255, the single channel is replicated to 3 channels (so RGB
    students and teachers apply unchanged), and images are resized bilinearly to ``image_size``.
    Horizontal flips are disabled (digits are not mirror-symmetric).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    grey = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) * (255.0 / 16.0))  # (N, 8, 8)
    images = grey.round().clamp(0, 255).to(torch.uint8)[:, None].expand(-1, 3, -1, -1).contiguous()
    images = resize_uint8(images, image_size)
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    # normalisation of the whole set at this size (deterministic: the data are embedded)
    scaled = images[:, :1].float() / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())
    return RawData(images, labels, [str(i) for i in range(10)], (mean,) * 3, (std,) * 3, hflip=False)


# --------------------------------------------------------------------------- CIFAR
@dataclass(frozen=True)
class _CifarSource:
    folder: str
    url: str
    md5: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: bytes
    names_key: bytes
    mean: tuple[float, ...]
    std: tuple[float, ...]


CIFAR_SOURCES: dict[str, _CifarSource] = {
    "cifar10": _CifarSource(
        "cifar-10-batches-py",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        b"labels",
        b"label_names",
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
    ),
    "cifar100": _CifarSource(
        "cifar-100-python",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        ("train",),
        "test",
        "meta",
        b"fine_labels",
        b"fine_label_names",
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
    ),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that may only rebuild numpy arrays (CIFAR batches hold dicts, lists,
    bytes and one ndarray); any other global -- the way pickles run code -- is refused."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden global {module}.{name}")


def _unpickle(path: Path) -> dict[bytes, Any]:
    try:
        with path.open("rb") as f:
            data = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure means "wrong format"
        raise DataError(f"{path} is not a CIFAR python-format batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a CIFAR python-format batch (holds a {type(data).__name__}, not a dict)")
    return data


def _find_cifar_folder(root: Path, src: _CifarSource, file: str | None = None) -> Path | None:
    """``root`` itself when it holds ``file`` (default: the first training batch), else
    ``root/<official folder>``, else None."""
    for cand in (root, root / src.folder):
        if (cand / (file or src.train_files[0])).is_file():
            return cand
    return None


def _read_cifar_batches(name: str, folder: Path, files: tuple[str, ...], image_size: int) -> RawData:
    """Images (resized to ``image_size``) and labels of the batch ``files`` in ``folder``, class names
    from the meta file."""
    src = CIFAR_SOURCES[name]
    chunks, labels = [], []
    for fname in files:
        path = folder / fname
        if not path.is_file():
            raise DataError(f"{name}: {path} is missing (the folder must hold {', '.join(files)})")
        batch = _unpickle(path)
        if b"data" not in batch or src.label_key not in batch:
            raise DataError(f"{path} is not a {name} batch: keys b'data' and {src.label_key!r} are required")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(batch[src.label_key]) != data.shape[0]:
            raise DataError(
                f"{path} is not a {name} batch: b'data' must be (N, 3072) uint8 with N labels, "
                f"got {data.shape} and {len(batch[src.label_key])} labels"
            )
        chunks.append(data.reshape(-1, 3, 32, 32))  # each row: 1024 red, 1024 green, 1024 blue
        labels.append(np.asarray(batch[src.label_key], dtype=np.int64))
    meta_path = folder / src.meta_file
    meta = _unpickle(meta_path) if meta_path.is_file() else {}
    n_classes = 10 if name == "cifar10" else 100
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(src.names_key, [])]
    if len(names) != n_classes:
        names = [str(i) for i in range(n_classes)]
    y = np.concatenate(labels)
    if y.size == 0:
        raise DataError(f"{name}: {', '.join(files)} in {folder} hold no images")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"{name}: labels outside [0, {n_classes}) in {folder}")
    images = resize_uint8(torch.from_numpy(np.concatenate(chunks)), image_size)
    return RawData(images, torch.from_numpy(y), names, src.mean, src.std, hflip=True)


def _read_cifar(name: str, data_dir: str | Path | None, image_size: int, download: bool) -> RawData:
    src = CIFAR_SOURCES[name]
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = _find_cifar_folder(root, src)
    if folder is None and download:
        download_and_extract(src.url, src.md5, root)
        folder = _find_cifar_folder(root, src)
    if folder is None:
        raise DataError(
            f"{name} not found: put the official python-format folder at {root / src.folder} "
            f"(files {', '.join(src.train_files[:2])}{', ...' if len(src.train_files) > 2 else ''}, "
            f"{src.meta_file}) or pass download=True / --download"
        )
    return _read_cifar_batches(name, folder, src.train_files, image_size)


def _read_cifar_test(name: str, data_dir: str | Path | None, image_size: int) -> RawData:
    src = CIFAR_SOURCES[name]
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = _find_cifar_folder(root, src, src.test_file)
    if folder is None:
        where = _find_cifar_folder(root, src) or root / src.folder
        raise DataError(f"{name} has no test split here: {where / src.test_file} is missing")
    return _read_cifar_batches(name, folder, (src.test_file,), image_size)


def read_cifar10(data_dir: str | Path | None = None, *, image_size: int = 32, download: bool = False) -> RawData:
    """The CIFAR-10 training set (50,000 images) from the official python-format folder
    ``cifar-10-batches-py`` (``data_dir`` may be that folder or its parent). Validation is always a
    split of the training set; the official test batch is read only by :func:`read_cifar10_test`."""
    return _read_cifar("cifar10", data_dir, image_size, download)


def read_cifar100(data_dir: str | Path | None = None, *, image_size: int = 32, download: bool = False) -> RawData:
    """The CIFAR-100 training set (50,000 images, fine labels) from ``cifar-100-python`` (``data_dir``
    may be that folder or its parent)."""
    return _read_cifar("cifar100", data_dir, image_size, download)


def read_cifar10_test(data_dir: str | Path | None = None, *, image_size: int = 32) -> RawData:
    """The official CIFAR-10 test set (10,000 images): ``test_batch`` in ``cifar-10-batches-py``
    (``data_dir`` may be that folder or its parent), resized to ``image_size``. A missing file raises
    :class:`DataError` naming it."""
    return _read_cifar_test("cifar10", data_dir, image_size)


def read_cifar100_test(data_dir: str | Path | None = None, *, image_size: int = 32) -> RawData:
    """The official CIFAR-100 test set (10,000 images, fine labels): ``test`` in ``cifar-100-python``
    (``data_dir`` may be that folder or its parent). A missing file raises :class:`DataError` naming it."""
    return _read_cifar_test("cifar100", data_dir, image_size)


def download_and_extract(url: str, md5: str, dest: str | Path) -> None:
    """Download the tarball at ``url`` into ``dest``, check its MD5 and extract it safely (no absolute
    paths, no ``..``, no links or devices). Any failure raises :class:`DataError`; nothing partial is
    left behind (the archive is downloaded to a temporary file first)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".tar.gz", dir=dest)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, out)
            except OSError as exc:
                raise DataError(f"cannot download {url}: {getattr(exc, 'reason', None) or exc}") from None
        digest = hashlib.md5(tmp.read_bytes()).hexdigest()
        if digest != md5:
            raise DataError(f"checksum mismatch for {url}: md5 {digest}, expected {md5}")
        _safe_extract(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _safe_extract(archive: Path, dest: Path) -> None:
    root = dest.resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                target = (root / m.name).resolve()
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"unsafe archive {archive.name}: member {m.name!r} is a link or device")
                if Path(m.name).is_absolute() or (target != root and root not in target.parents):
                    raise DataError(f"unsafe archive {archive.name}: member {m.name!r} escapes {dest}")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover -- Python < 3.11.4; members were checked above
                tar.extractall(dest, members=members)
    except tarfile.TarError as exc:
        raise DataError(f"{archive.name} is not a valid tar archive: {exc}") from None


# --------------------------------------------------------------------------- image folders
def _list_class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _decode(paths: list[Path], image_size: int) -> torch.Tensor:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading image folders needs Pillow: pip install 'autogtkd[images]' (or pillow)") from None
    out = torch.empty(len(paths), 3, image_size, image_size, dtype=torch.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                arr = np.array(im.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot decode image {path}: {exc}") from None
        out[i] = resize_uint8(torch.from_numpy(arr).permute(2, 0, 1)[None], image_size)[0]
    return out


def _read_class_tree(folder: Path, class_names: list[str] | None) -> tuple[list[Path], list[int], list[str]]:
    dirs = _list_class_dirs(folder)
    names = class_names if class_names is not None else [d.name for d in dirs]
    index = {n: i for i, n in enumerate(names)}
    paths: list[Path] = []
    labels: list[int] = []
    for d in dirs:
        if d.name not in index:
            raise DataError(f"{d} is a class not present in the training folder")
        found = _list_images(d)
        paths += found
        labels += [index[d.name]] * len(found)
    return paths, labels, names


def _read_tiny_val(folder: Path, class_names: list[str]) -> tuple[list[Path], list[int]]:
    """Tiny-ImageNet's ``val/images/*.JPEG`` + ``val/val_annotations.txt`` (file \\t class ...)."""
    index = {n: i for i, n in enumerate(class_names)}
    paths, labels = [], []
    for line in (folder / "val_annotations.txt").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise DataError(f"{folder / 'val_annotations.txt'}: class {parts[1]!r} is not in the training folder")
        paths.append(folder / "images" / parts[0])
        labels.append(index[parts[1]])
    return paths, labels


def _imagefolder_root(data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise DataError("imagefolder needs a data directory (root/train/<class>/*.JPEG)")
    root = Path(data_dir)
    if not (root / "train").is_dir():
        raise DataError(f"image folder {root} has no train/ sub-folder (expected {root / 'train'}/<class>/*.JPEG)")
    return root


def read_imagefolder(data_dir: str | Path | None = None, *, image_size: int = 64, download: bool = False) -> RawData:
    """Images in ``root/train/<class>/*.{JPEG,jpg,png}`` (ImageNet-200 / Tiny-ImageNet layout), with
    an optional ``root/val/<class>/...`` (or Tiny-ImageNet's ``val/images`` + ``val_annotations.txt``)
    used as the validation set. Decoded with Pillow, converted to RGB and resized bilinearly to
    ``image_size`` once, then kept in memory as ``uint8`` (``N * 3 * image_size**2`` bytes: about
    1.2 GB for Tiny-ImageNet at 64 pixels -- use ``subset`` or a smaller ``image_size`` for ImageNet-200
    at 224). Normalised with the ImageNet mean/std.
    """
    if download:
        raise DataError("imagefolder datasets cannot be downloaded; point data_dir at root/train/<class>/...")
    root = _imagefolder_root(data_dir)
    train_dir = root / "train"
    paths, labels, names = _read_class_tree(train_dir, None)
    if not names or not paths:
        raise DataError(f"no images found under {train_dir}/<class>/ (suffixes {', '.join(IMAGE_SUFFIXES)})")
    images = _decode(paths, image_size)
    val_images = val_labels = None
    val_dir = root / "val"
    if val_dir.is_dir():
        if (val_dir / "val_annotations.txt").is_file():
            vpaths, vlabels = _read_tiny_val(val_dir, names)
        else:
            vpaths, vlabels, _ = _read_class_tree(val_dir, names)
        if vpaths:
            val_images = _decode(vpaths, image_size)
            val_labels = torch.tensor(vlabels, dtype=torch.int64)
    return RawData(
        images,
        torch.tensor(labels, dtype=torch.int64),
        names,
        IMAGENET_MEAN,
        IMAGENET_STD,
        hflip=True,
        val_images=val_images,
        val_labels=val_labels,
    )


def read_imagefolder_test(data_dir: str | Path | None = None, *, image_size: int = 64) -> RawData:
    """The test split of an image folder: ``root/test/<class>/*.{JPEG,jpg,png}``, labelled by the class
    folders of ``root/train`` (same order, same ImageNet normalisation as :func:`read_imagefolder`).

    Only ``test/`` counts: ``val/`` is already the validation split of :func:`read_imagefolder`. A
    missing ``test/``, or one without class sub-folders (Tiny-ImageNet's unlabelled ``test/images``),
    raises :class:`DataError`.
    """
    root = _imagefolder_root(data_dir)
    test_dir = root / "test"
    if not test_dir.is_dir():
        raise DataError(
            f"imagefolder has no test split here: {test_dir} is missing (expected {test_dir}/<class>/*.JPEG)"
        )
    names = [d.name for d in _list_class_dirs(root / "train")]
    paths, labels, _ = _read_class_tree(test_dir, names)
    if not paths:
        raise DataError(f"no labelled images under {test_dir}/<class>/ (class folders named as in {root / 'train'})")
    return RawData(
        _decode(paths, image_size),
        torch.tensor(labels, dtype=torch.int64),
        names,
        IMAGENET_MEAN,
        IMAGENET_STD,
        hflip=True,
    )
