"""Issue 7, interrupted writes: kill -9 a process while it rewrites a real training checkpoint and a
search result, at several moments; the file on disk is always the previous (or the new) good one.

See also tests/test_io.py (kill -9 inside the atomic-write primitive) and
tests/train/test_checkpoint.py::test_atomic_write_keeps_old_file_on_failure (an exception in torch.save).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from _helpers import wait_for

from autogtkd.search import load_result
from autogtkd.train import load_checkpoint

WRITER = textwrap.dedent(
    """
    import sys
    import torch
    from autogtkd.search import Candidate, SearchResult
    from autogtkd.space import Arch
    from autogtkd.train import save_checkpoint

    out = sys.argv[1]
    model = torch.nn.Linear(1024, 2048)  # an 8 MB checkpoint: the write takes a while
    step = 0
    while True:
        step += 1
        with torch.no_grad():
            model.weight.fill_(float(step))
        save_checkpoint(f"{out}/checkpoint.pt", kind="train", step=step, epoch=step, models={"m": model})
        cands = [Candidate.from_metrics(Arch.from_dict({"a": i}), {"accuracy": 0.5, "flops": float(i + step)},
                                        scorer="t", trial=i) for i in range(200)]
        SearchResult(cands, objectives=("accuracy", "flops"), info={"step": step}).save(out)
        with open(f"{out}/progress", "w") as f:
            f.write(str(step))
    """
)


def test_kill_9_during_checkpoint_and_result_writes_keeps_a_good_file(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = np.random.default_rng(0)
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        out.mkdir()
        proc = subprocess.Popen([sys.executable, str(script), str(out)])
        progress = out / "progress"
        wait_for(
            lambda p=progress: p.exists() and p.read_text() not in ("", "1"),  # type: ignore[misc]
            what="two complete rounds of writes",
        )
        time.sleep(float(rng.uniform(0, 0.3)))  # a seeded moment, usually inside a write
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        ckpt = load_checkpoint(out / "checkpoint.pt")  # never torn
        w = ckpt.models["m"]["weight"]
        assert ckpt.step >= 2 and bool((w == float(ckpt.step)).all())
        result = load_result(out)
        rounds = {round(c.flops - c.trial) for c in result.trials}  # flops = trial + round of the write
        assert len(result.trials) == 200 and len(rounds) == 1 and min(rounds) >= 1  # one whole round, not torn
        leftovers = {p.name for p in out.iterdir()} - {
            "checkpoint.pt",
            "pareto.json",
            "pareto.csv",
            "trials.csv",
            "pareto.png",
            "pareto.html",
            "progress",
        }
        assert all(n.endswith(".tmp") for n in leftovers), leftovers  # at most a dead temporary file
