"""Data parallelism: 2 CPU processes with gloo under torchrun train one run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from autogtkd.train import MetricsLog, run_is_complete


def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert run_is_complete(out)
    report = json.loads((out / "ddp.json").read_text())
    assert report["world_size"] == 2 and report["params_equal"]
    # the run trained: every trained module moved (equal but unmoved parameters would also be "equal");
    # p_phi stays put under the default uniform architecture loss
    moved = report["params_moved"]
    assert moved == {"teacher": True, "supernet": True, "branches": True, "arch_dist": False}, moved
    assert len(MetricsLog.read(out)) == 1
