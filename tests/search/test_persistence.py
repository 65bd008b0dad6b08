"""Persistence: a killed search resumes without losing trials; two processes share one study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

WORKER = textwrap.dedent(
    """
    import sys, time
    from autogtkd.search import SearchProblem, search
    from autogtkd.space import ChoiceSpace

    storage, n_trials, seed, log, hang_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    space = ChoiceSpace("grid", {"a": list(range(6)), "b": list(range(6))})
    calls = 0

    def slow_table(arch):
        global calls
        calls += 1
        if calls == hang_at:  # bounds the window in which the test kills this process
            time.sleep(3600)
        time.sleep(0.15)
        with open(log, "a") as f:
            f.write(arch.key + "\\n")
        return {"accuracy": (arch["a"] + 2 * arch["b"]) / 20}

    problem = SearchProblem(space, slow_table, costs=lambda a: {"flops": 1.0 + a["a"] * a["b"]}, budgets=["20FLOPs"])
    search(problem, strategy="evolution", n_trials=n_trials, seed=seed, storage=storage,
           heartbeat_interval=2, grace_period=60, poll_s=0.2)
    """
)


def _start(tmp: Path, storage: str, n: int, seed: int, log: Path, hang_at: int = 0) -> subprocess.Popen:
    script = tmp / "worker.py"
    script.write_text(WORKER)
    return subprocess.Popen([sys.executable, str(script), storage, str(n), str(seed), str(log), str(hang_at)])


def _evaluated(storage: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="autogtkd-search", storage=storage)
    return [t for t in study.get_trials() if t.state.name == "COMPLETE" and t.user_attrs.get("status") == "evaluated"]


def test_kill_and_rerun_keeps_completed_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    log = tmp_path / "calls.log"
    # kill -9 at some moment after 4 scored architectures, at the latest while the 7th is being
    # scored (it never returns): inside a trial, between two, or between creating one and its claim
    proc = _start(tmp_path, storage, 8, 0, log, hang_at=7)
    deadline = time.time() + 600
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t.number: t.user_attrs["arch_key"] for t in _evaluated(storage)}
    assert 3 <= len(before) <= 6
    rerun = _start(tmp_path, storage, 8, 0, log)
    assert rerun.wait(timeout=600) == 0
    after = _evaluated(storage)
    keys = [t.user_attrs["arch_key"] for t in after]
    assert len(after) == 8 and len(set(keys)) == 8  # requested total, no duplicate architectures
    assert {t.number: t.user_attrs["arch_key"] for t in after if t.number in before} == before
    study = optuna.load_study(study_name="autogtkd-search", storage=storage)
    assert not [t for t in study.get_trials() if t.state.name == "RUNNING"]  # the killed one is FAIL


def test_two_processes_share_one_study_without_duplicates(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    log = tmp_path / "calls.log"
    procs = [_start(tmp_path, storage, 10, seed, log) for seed in (0, 1)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    after = _evaluated(storage)
    keys = [t.user_attrs["arch_key"] for t in after]
    assert len(after) == 10 and len(set(keys)) == 10
    calls = log.read_text().splitlines()
    assert len(calls) == len(set(calls)) == 10  # the evaluator itself never ran twice on one arch
    assert all(json.loads(k)["a"] * json.loads(k)["b"] + 1 <= 20 for k in keys)


@pytest.mark.postgres
def test_two_processes_share_a_postgres_study(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url
    log = tmp_path / "calls.log"
    procs = [_start(tmp_path, url, 6, seed, log) for seed in (0, 1)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    keys = [t.user_attrs["arch_key"] for t in _evaluated(url)]
    assert len(keys) == len(set(keys)) == 6 and len(log.read_text().splitlines()) == 6
