"""Issue 7, faults of training: kill -9 in the middle of an epoch, rerun, and end in the same state
as an uninterrupted run (same seed, CPU, one thread: bit-identical, no tolerance needed).

See also tests/train/test_run.py::test_resume_after_interruption_equals_uninterrupted (an exception
at an epoch end, in-process) and tests/train/test_distill.py (final KD resume).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from _helpers import tiny_space, wait_for

from autogtkd.train import MetricsLog, load_checkpoint, run_is_complete

TRAIN_WORKER = textwrap.dedent(
    """
    import json, sys
    from autogtkd.gtn import GTNConfig
    from autogtkd.space import space_from_dict
    from autogtkd.train import DatasetSpec, TrainConfig, train

    out, spec, hang_at = sys.argv[1], json.loads(open(sys.argv[2]).read()), int(sys.argv[3])
    if hang_at:  # the hang_at-th SGD step never happens: the process waits, mid-epoch, to be killed
        import time
        import torch

        real_step, steps = torch.optim.SGD.step, [0]

        def step(self, *args, **kwargs):
            steps[0] += 1
            if steps[0] == hang_at:
                open(f"{out}/hanging", "w").close()
                time.sleep(3600)
            return real_step(self, *args, **kwargs)

        torch.optim.SGD.step = step
    cfg = TrainConfig(epochs=3, batch_size=16, max_steps_per_epoch=5, eval_batches=1, device="cpu", threads=1,
                      gtn=GTNConfig(paths=1, arch_loss="reinforce-hard"))
    train(out, space=space_from_dict(spec), dataset=DatasetSpec(name="digits", image_size=8, subset=240),
          teacher="resnet8", config=cfg, progress=False)
    """
)


def _start(tmp: Path, out: Path, hang_at: int = 0) -> subprocess.Popen[bytes]:
    script, spec = tmp / "train_worker.py", tmp / "space.json"
    script.write_text(TRAIN_WORKER)
    spec.write_text(json.dumps(tiny_space().to_dict()))
    return subprocess.Popen([sys.executable, str(script), str(out), str(spec), str(hang_at)])


@pytest.mark.slow  # run by .ci/run (tests/faults); the default suite keeps tests/train/test_run.py's interrupted-resume test (in-process)
def test_kill_9_mid_epoch_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    full = _start(tmp_path, tmp_path / "full")
    cut_dir = tmp_path / "cut"
    cut = _start(tmp_path, cut_dir, hang_at=8)  # epoch 2 is steps 6-10: it stops before its 8th step
    ckpt = cut_dir / "checkpoint.pt"
    wait_for((cut_dir / "hanging").exists, what="the run to reach step 8, in epoch 2")
    os.kill(cut.pid, signal.SIGKILL)  # in epoch 2, whose checkpoint is not written yet
    assert cut.wait() == -signal.SIGKILL
    assert full.wait(timeout=600) == 0
    assert not run_is_complete(cut_dir) and load_checkpoint(ckpt).epoch == 1
    resumed = _start(tmp_path, cut_dir)  # the same command again
    assert resumed.wait(timeout=600) == 0
    assert run_is_complete(cut_dir)
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(ckpt)
    assert a.step == b.step == 15 and a.epoch == b.epoch == 3
    for name in a.models:
        for k, v in a.models[name].items():
            assert torch.equal(v, b.models[name][k]), f"{name}.{k} differs after kill -9 and resume"
    for name in a.optimizers:
        for sa, sb in zip(a.optimizers[name]["state"].values(), b.optimizers[name]["state"].values(), strict=True):
            assert all(torch.equal(sa[k], sb[k]) for k in sa if isinstance(sa[k], torch.Tensor))
    assert a.extra["arch_baseline"] == b.extra["arch_baseline"] and a.rng["numpy"] == b.rng["numpy"]
    ra, rb = MetricsLog.read(tmp_path / "full"), MetricsLog.read(cut_dir)
    assert [r["step"] for r in rb] == [r["step"] for r in ra] == [5, 10, 15]  # no torn or repeated record
    assert [r["train_loss"] for r in rb] == [r["train_loss"] for r in ra]
