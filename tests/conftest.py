"""Shared fixtures. ``postgres_url`` starts a private PostgreSQL cluster on 127.0.0.1 for the session.

The server is real (``initdb`` + ``pg_ctl`` from the system's PostgreSQL); when it is missing the
tests that need it are skipped locally and fail under CI (``CI=true``), so CI cannot pass silently
without them. ``.ci/run`` installs PostgreSQL when the machine lacks it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_cifar10(folder: Path, per_batch: int = 20, seed: int = 0, test: int = 0) -> Any:
    """Official python format: 5 pickled dicts with b'data' (N, 3072) uint8 and b'labels' (and, when
    ``test > 0``, a ``test_batch`` of ``test`` images whose first red pixel is 255); returns the
    training labels in file order (numpy array)."""
    import pickle

    import numpy as np

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    all_labels = []
    for i in range(1, 6):
        labels = [int(v) for v in np.arange(per_batch) % 10]
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, 0] = i  # first red pixel marks the batch
        batch = {
            b"batch_label": b"training batch",
            b"labels": labels,
            b"data": data,
            b"filenames": [b"f%d.png" % j for j in range(per_batch)],
        }
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
        all_labels += labels
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    if test > 0:
        data = rng.integers(0, 256, (test, 3072), dtype=np.uint8)
        data[:, 0] = 255
        labels = [int(v) for v in (np.arange(test) * 3) % 10]  # another order than the training batches
        batch = {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": labels,
            b"data": data,
            b"filenames": [b"t%d.png" % j for j in range(test)],
        }
        (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    return np.array(all_labels)


@pytest.fixture
def write_cifar10() -> Callable[..., Any]:
    """``write_cifar10(folder, per_batch=20, seed=0, test=0)`` writes a tiny CIFAR-10 training set in the
    official python format (random pixels, balanced labels), plus a ``test_batch`` of ``test`` images
    when ``test > 0``, and returns the training labels."""
    return _write_cifar10


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch intra-op thread inside the test: training tests run beside other processes on 2 shared
    cores, where 2 threads oversubscribe and run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg2://...`` URL of a fresh database on a private local server."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    try:
        import psycopg2
    except ImportError:
        initdb = None
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) or psycopg2 is missing under CI")
        pytest.skip("PostgreSQL server binaries or psycopg2 not available")
    root = Path(tempfile.mkdtemp(prefix="autogtkd-pg-"))
    data, port = root / "data", _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres system user
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=100 -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE autogtkd")
        conn.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/autogtkd"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
