"""Datasets: CIFAR reader on tiny official-format files, error messages, seeded stratified splits, loaders,
official test splits."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from autogtkd.data import (
    DATASETS,
    TEST_SPLITS,
    RawData,
    augment_batch,
    download_and_extract,
    load_data,
    load_test_split,
    register_dataset,
    stratified_split,
)
from autogtkd.exceptions import DataError, UnknownNameError


def _write_cifar100(folder: Path, n: int = 200) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    batch = {
        b"data": data,
        b"fine_labels": [int(v) for v in np.arange(n) % 100],
        b"coarse_labels": [0] * n,
        b"filenames": [b"x"] * n,
    }
    (folder / "train").write_bytes(pickle.dumps(batch, protocol=2))
    names = [f"c{i}".encode() for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": names, b"coarse_label_names": []}))


def test_cifar10_reader_parent_or_batches_folder(write_cifar10, tmp_path: Path) -> None:
    write_cifar10(tmp_path / "cifar-10-batches-py")
    for d in (tmp_path, tmp_path / "cifar-10-batches-py"):
        s = load_data("cifar10", d, val_fraction=0.2, seed=0)
        assert len(s.train) == 80 and len(s.val) == 20
        assert s.num_classes == 10 and s.class_names[0] == "airplane" and s.in_channels == 3
        x, y = s.train[0]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_cifar10_pixel_layout(write_cifar10, tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    raw = DATASETS.get("cifar10")(folder, image_size=32, download=False)
    batch = pickle.loads((folder / "data_batch_2").read_bytes())
    row = batch[b"data"][3]
    img = raw.images[20 + 3].numpy()
    assert np.array_equal(img[0].ravel(), row[:1024])  # red plane first, row-major
    assert np.array_equal(img[2].ravel(), row[2048:])
    assert raw.labels[23] == batch[b"labels"][3]


def test_cifar100_reader_and_resize(tmp_path: Path) -> None:
    _write_cifar100(tmp_path / "cifar-100-python")
    s = load_data("cifar100", tmp_path, image_size=16, val_fraction=0.5, seed=0)
    assert s.num_classes == 100 and len(s.val) == 100 and s.class_names[5] == "c5"
    assert s.train.images.shape[1:] == (3, 16, 16)
    assert sorted(s.val.labels.tolist()) == list(range(100))  # stratified: one per class


def test_missing_empty_and_wrong_format_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="put the official python-format folder at") as err:
        load_data("cifar10", tmp_path / "nowhere")
    assert "\n" not in str(err.value)
    (tmp_path / "empty" / "cifar-10-batches-py").mkdir(parents=True)
    with pytest.raises(DataError, match="not found"):
        load_data("cifar10", tmp_path / "empty")
    bad = tmp_path / "bad" / "cifar-10-batches-py"
    bad.mkdir(parents=True)
    for i in range(1, 6):
        (bad / f"data_batch_{i}").write_text("this is not a pickle")
    with pytest.raises(DataError, match="not a CIFAR python-format batch") as err:
        load_data("cifar10", bad)
    assert "\n" not in str(err.value)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for i in range(1, 6):
        (wrong / f"data_batch_{i}").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match="must be \\(N, 3072\\)"):
        load_data("cifar10", wrong)


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch pwned",))


def test_cifar_pickle_cannot_run_code(write_cifar10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DataError, match="forbidden global"):
        load_data("cifar10", folder)
    assert not (tmp_path / "pwned").exists()


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="valid: cifar10, cifar100, digits, imagefolder"):
        load_data("mnist")


def test_digits_split_is_stratified_and_seeded() -> None:
    a = load_data("digits", subset=500, val_fraction=0.2, seed=3)
    b = load_data("digits", subset=500, val_fraction=0.2, seed=3)
    c = load_data("digits", subset=500, val_fraction=0.2, seed=4)
    assert len(a.train) == 400 and len(a.val) == 100
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.val.images, c.val.images)
    val_counts = np.bincount(a.val.labels.numpy(), minlength=10)
    assert val_counts.min() >= 9 and val_counts.max() <= 11  # ~10 per class (178-183 per class overall)
    calib_counts = np.bincount(a.calib.labels.numpy(), minlength=10)
    assert calib_counts.min() >= 38
    assert a.train.images.shape[1:] == (3, 32, 32) and a.in_channels == 3
    assert torch.equal(a.train.images[:, 0], a.train.images[:, 2])  # grey replicated to 3 channels
    assert not a.hflip


def test_stratified_split_exact_counts() -> None:
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    rest, held = stratified_split(labels, 0.1, np.random.default_rng(0))
    assert len(held) == 10 and len(rest) == 90 and not set(rest) & set(held)
    assert np.bincount(labels[held]).tolist() == [5, 3, 2]
    with pytest.raises(DataError):
        stratified_split(labels, 1.5, np.random.default_rng(0))


def test_loader_seeded_shuffle_and_augmentation() -> None:
    s = load_data("digits", subset=200, seed=0)
    la, lb = s.loader("train", 32, seed=7), s.loader("train", 32, seed=7)
    ea, eb = list(la), list(lb)
    assert len(ea) == len(la) == 5
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(ea, eb))
    second = list(la)  # next epoch: another order
    assert not torch.equal(ea[0][1], second[0][1])
    lb.set_epoch(1)
    assert torch.equal(next(iter(lb))[0], second[0][0])  # resume at epoch 1
    plain = s.loader("train", 32, seed=7, augment=False)
    xp, yp = next(iter(plain))
    assert torch.equal(yp, ea[0][1]) and not torch.equal(xp, ea[0][0])
    val = list(s.loader("val", 64))
    assert torch.equal(torch.cat([y for _, y in val]), s.val.labels)  # val: in order, no shuffle
    x0, _ = s.val[0]
    assert torch.allclose(val[0][0][0], x0)
    assert len(s.loader("train", 32, drop_last=True)) == 5 and len(s.loader("train", 33, drop_last=True)) == 4


def test_loader_workers_give_the_same_batches() -> None:
    s = load_data("digits", subset=100, seed=0)
    a = list(s.loader("train", 25, seed=1))
    b = list(s.loader("train", 25, seed=1, num_workers=1))
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(a, b))


def test_augment_batch_crops_and_flips() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).view(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    same = augment_batch(x, g, padding=0, hflip=False)
    assert torch.equal(same, x)
    out = augment_batch(x.repeat(64, 1, 1, 1), torch.Generator().manual_seed(0), padding=1, hflip=True)
    assert out.shape == (128, 1, 4, 4)
    # each output is a shifted (and maybe flipped) window of the zero-padded input
    padded = torch.nn.functional.pad(x.repeat(64, 1, 1, 1), (1, 1, 1, 1))
    for i in range(0, 128, 17):
        windows = [padded[i, :, r : r + 4, c : c + 4] for r in range(3) for c in range(3)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    assert len({tuple(o.flatten().tolist()) for o in out[::2]}) > 5


def _make_tar(path: Path, members: dict[str, bytes], link: tuple[str, str] | None = None) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tar.addfile(info)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_checks_md5_and_extracts_safely(tmp_path: Path) -> None:
    good = tmp_path / "good.tar.gz"
    md5 = _make_tar(good, {"cifar-10-batches-py/readme.txt": b"hello"})
    dest = tmp_path / "dest"
    download_and_extract(good.as_uri(), md5, dest)
    assert (dest / "cifar-10-batches-py" / "readme.txt").read_bytes() == b"hello"
    with pytest.raises(DataError, match="checksum mismatch"):
        download_and_extract(good.as_uri(), "0" * 32, tmp_path / "d2")
    evil = tmp_path / "evil.tar.gz"
    md5 = _make_tar(evil, {"../escaped.txt": b"x"})
    with pytest.raises(DataError, match="escapes"):
        download_and_extract(evil.as_uri(), md5, tmp_path / "d3")
    assert not (tmp_path / "escaped.txt").exists()
    linked = tmp_path / "link.tar.gz"
    md5 = _make_tar(linked, {}, link=("a", "/etc/passwd"))
    with pytest.raises(DataError, match="link"):
        download_and_extract(linked.as_uri(), md5, tmp_path / "d4")
    with pytest.raises(DataError, match="cannot download"):
        download_and_extract((tmp_path / "missing.tar.gz").as_uri(), md5, tmp_path / "d5")
    assert not any(p.name.startswith(".download-") for p in tmp_path.rglob("*"))


def test_imagefolder(tmp_path: Path) -> None:
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        for cls in ("n01", "n02", "n03"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{cls}_{i}.png")
    s = load_data("imagefolder", tmp_path, image_size=16, seed=0)
    assert len(s.train) == 18 and len(s.val) == 6 and s.class_names == ["n01", "n02", "n03"]
    assert s.train.images.shape == (18, 3, 16, 16)
    s2 = load_data("imagefolder", tmp_path, image_size=16, subset=12)
    assert len(s2.train) + len(s2.val) == 12
    with pytest.raises(DataError, match="no train/ sub-folder"):
        load_data("imagefolder", tmp_path / "val")
    # Tiny-ImageNet's val layout: val/images/*.JPEG + val/val_annotations.txt
    tiny = tmp_path / "tiny"
    (tiny / "val" / "images").mkdir(parents=True)
    for cls in ("n01", "n02", "n03"):
        (tiny / "train" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tiny / "train" / cls / f"{i}.png")
    lines = []
    for i, cls in enumerate(("n03", "n01", "n03")):
        Image.fromarray(np.full((8, 8, 3), i, dtype=np.uint8)).save(tiny / "val" / "images" / f"val_{i}.png")
        lines.append(f"val_{i}.png\t{cls}\t0\t0\t8\t8")
    (tiny / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    t = load_data("imagefolder", tiny, image_size=8)
    assert len(t.train) == 6 and t.val.labels.tolist() == [2, 0, 2]
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        load_data("imagefolder", tmp_path / "empty")


def test_distributed_shards_are_disjoint_and_cover_the_epoch() -> None:
    s = load_data("digits", subset=103, val_fraction=0.0, seed=0)
    shards = []
    for rank in range(2):
        loader = s.loader("train", 16, seed=5)
        loader.rank, loader.world_size = rank, 2  # what distributed=True reads from torch.distributed
        shards.append(torch.cat([idx for idx in loader._batches(0)]))
    assert len(shards[0]) == len(shards[1]) == 52  # padded to equal length, as DistributedSampler
    assert set(shards[0].tolist()) | set(shards[1].tolist()) == set(range(103))
    with pytest.raises(DataError, match="initialised"):
        s.loader("train", 16, distributed=True)


def test_calib_is_a_stratified_slice_of_train() -> None:
    s = load_data("digits", subset=400, seed=0, calib_size=100)
    assert len(s.calib) == 100
    train_rows = {bytes(img.numpy().tobytes()) for img in s.train.images}
    assert all(bytes(img.numpy().tobytes()) in train_rows for img in s.calib.images)
    assert np.bincount(s.calib.labels.numpy(), minlength=10).min() >= 9


# ------------------------------------------------------------------------------------ official test splits
def test_cifar10_test_split_layout_labels_and_normalisation(write_cifar10, tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    train_labels = write_cifar10(folder, test=30)
    assert len(train_labels) == 100  # the training batches are as without a test batch
    batch = pickle.loads((folder / "test_batch").read_bytes())
    for d in (tmp_path, folder):
        t = load_test_split("cifar10", d)
        assert len(t.data) == 30 and t.num_classes == 10 and t.class_names[9] == "truck" and t.image_size == 32
        assert t.data.labels.tolist() == batch[b"labels"]
    assert np.array_equal(t.data.images[4, 0].numpy().ravel(), batch[b"data"][4][:1024])  # red plane first
    assert np.array_equal(t.data.images[4, 2].numpy().ravel(), batch[b"data"][4][2048:])
    # normalised exactly as the training images
    splits = load_data("cifar10", folder)
    x, y = t.data[4]
    assert torch.allclose(x, splits.train.normalise(t.data.images[4:5])[0]) and int(y) == batch[b"labels"][4]
    assert torch.allclose(x[0, 0, 0], (torch.tensor(255 / 255) - 0.4914) / 0.2470)  # the marker pixel
    images, labels = next(iter(t.loader(batch_size=8)))  # file order, not augmented
    assert torch.equal(images, t.data.batch(torch.arange(8))[0]) and labels.tolist() == batch[b"labels"][:8]
    # resized exactly as the training images: a test batch holding training batch 1
    (folder / "test_batch").write_bytes((folder / "data_batch_1").read_bytes())
    small = load_test_split("cifar10", folder, image_size=16)
    assert small.data.images.shape == (20, 3, 16, 16)
    assert torch.equal(small.data.images, DATASETS.get("cifar10")(folder, image_size=16, download=False).images[:20])


def test_missing_test_split_names_the_file(write_cifar10, tmp_path: Path) -> None:
    write_cifar10(tmp_path / "cifar-10-batches-py")
    with pytest.raises(DataError, match="test_batch is missing") as err:
        load_test_split("cifar10", tmp_path)
    assert str(tmp_path / "cifar-10-batches-py" / "test_batch") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="test_batch is missing"):
        load_test_split("cifar10", tmp_path / "nowhere")
    with pytest.raises(DataError, match="'digits' has no official test split"):
        load_test_split("digits")
    with pytest.raises(UnknownNameError, match="valid: cifar10, cifar100, digits, imagefolder"):
        load_test_split("mnist")


def test_cifar100_test_split(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    _write_cifar100(folder)
    with pytest.raises(DataError, match="cifar-100-python/test is missing"):
        load_test_split("cifar100", tmp_path)
    (folder / "test").write_bytes((folder / "train").read_bytes())
    t = load_test_split("cifar100", tmp_path, image_size=16)
    assert len(t.data) == 200 and t.num_classes == 100 and t.class_names[5] == "c5"
    assert t.data.images.shape[1:] == (3, 16, 16)


def test_imagefolder_test_split(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for split, classes in (("train", ("n01", "n02", "n03")), ("test", ("n02", "n03"))):
        for cls in classes:
            (tmp_path / split / cls).mkdir(parents=True)
            image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(tmp_path / split / cls / "0.png")
    t = load_test_split("imagefolder", tmp_path, image_size=8)
    assert t.class_names == ["n01", "n02", "n03"] and t.data.labels.tolist() == [1, 2]  # labelled as in train/
    assert t.data.images.shape == (2, 3, 8, 8)
    (tmp_path / "test" / "n99").mkdir()
    image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "test" / "n99" / "0.png")
    with pytest.raises(DataError, match="n99 is a class not present in the training folder"):
        load_test_split("imagefolder", tmp_path, image_size=8)
    (tmp_path / "other" / "train" / "n01").mkdir(parents=True)
    (tmp_path / "other" / "val" / "n01").mkdir(parents=True)  # val/ is the validation split, not a test split
    with pytest.raises(DataError, match="test is missing"):
        load_test_split("imagefolder", tmp_path / "other")


def test_registered_dataset_with_a_test_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    def reader(data_dir: object, *, image_size: int, download: bool = False) -> RawData:
        images = torch.full((4, 3, image_size, image_size), 7, dtype=torch.uint8)
        return RawData(images, torch.tensor([0, 1, 0, 1]), ["x", "y"], (0.5,) * 3, (0.5,) * 3)

    def test_reader(data_dir: object, *, image_size: int) -> RawData:
        return reader(data_dir, image_size=image_size)

    monkeypatch.setattr(DATASETS, "_factories", dict(DATASETS._factories))
    monkeypatch.setattr(TEST_SPLITS, "_factories", dict(TEST_SPLITS._factories))
    register_dataset("toy", reader, test_reader=test_reader)
    register_dataset("toy-no-test", reader)
    t = load_test_split("toy", image_size=8)
    assert len(t.data) == 4 and t.class_names == ["x", "y"]
    assert torch.allclose(t.data[0][0], torch.full((3, 8, 8), (7 / 255 - 0.5) / 0.5))
    with pytest.raises(DataError, match="'toy-no-test' has no official test split"):
        load_test_split("toy-no-test")
