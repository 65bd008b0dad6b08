"""default_run caches under $AUTOGTKD_HOME/runs/default-<hash>, reuses it, and resumes a killed call."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import SPEC, tiny_config, tiny_space

import autogtkd.train._run as run_mod
from autogtkd.train import default_run, default_run_config, load_run, run_is_complete


def test_default_config_is_the_documented_one() -> None:
    dataset, space, teacher, cfg = default_run_config()
    assert (dataset.name, dataset.image_size, space, teacher, cfg.method) == (
        "digits",
        32,
        "mbv3-cifar",
        "resnet8",
        "gtn",
    )
    assert cfg.supernet_init == "grow" and cfg.batch_size == 16 and cfg.epochs == 2
    assert cfg.channels_last and cfg.threads == 1  # speed only: neither is part of the cache key


def test_default_run_caches_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_mod, "default_run_config", lambda: (SPEC, tiny_space(), "resnet8", tiny_config(epochs=2)))
    monkeypatch.setenv("AUTOGTKD_HOME", str(tmp_path / "home"))

    class Kill(Exception):
        pass

    original = run_mod.train

    def killed_train(*a, **k):
        def stop(state):
            raise Kill()

        return original(*a, **k, on_epoch_end=stop)

    monkeypatch.setattr(run_mod, "train", killed_train)
    with pytest.raises(Kill):
        default_run(progress=False)
    (partial,) = (tmp_path / "home" / "runs").iterdir()
    assert partial.name.startswith("default-") and not run_is_complete(partial)
    monkeypatch.setattr(run_mod, "train", original)
    path = default_run(progress=False)  # resumes the killed run
    assert path == partial and run_is_complete(path)
    assert [r["epoch"] for r in load_run(path, load_data=False).metrics] == [1, 2]
    monkeypatch.setattr(run_mod, "train", lambda *a, **k: pytest.fail("a cached default run was trained again"))
    assert default_run(progress=False) == path  # cached
    monkeypatch.setattr(run_mod, "train", original)
    assert default_run(tmp_path / "elsewhere", progress=False).parent == tmp_path / "elsewhere" / "runs"


def test_default_run_threads_set_training_threads_not_the_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_mod, "default_run_config", lambda: (SPEC, tiny_space(), "resnet8", tiny_config(epochs=1)))
    seen = []
    original = run_mod.train
    monkeypatch.setattr(run_mod, "train", lambda *a, **k: seen.append(k["config"].threads) or original(*a, **k))
    path = default_run(tmp_path / "a", progress=False, threads=2)
    assert seen == [2] and load_run(path, load_data=False).config.threads == 2
    # same cache key as without threads: the cached run is returned, not trained again
    assert default_run(tmp_path / "a", progress=False).name == path.name and seen == [2]
    # without threads, the config's (not trained again here: only the threads it would train with matter)
    monkeypatch.setattr(run_mod, "train", lambda out, **k: seen.append(k["config"].threads) or Path(out))
    assert default_run(tmp_path / "b", progress=False).name == path.name and seen == [2, tiny_config().threads]
