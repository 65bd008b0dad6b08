"""Issues 7 and 15, faults of the search: kill -9 mid-trial, or between creating a trial and claiming an
architecture, and rerun; a killed worker's trial is redone by another worker (owner check on this
machine, heartbeats for a worker on another machine); 4 workers on one study (SQLite, journal file,
PostgreSQL).

See also tests/search/test_persistence.py (kill after a number of scored trials, two workers).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from _helpers import evaluated, log_lines, start_worker, trials, wait_for

from autogtkd.search._owners import OWNER_ATTR

STORAGES = ["sqlite", "journal"]


def _storage(tmp_path: Path, kind: str) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'study.log'}"


@pytest.mark.slow  # run by .ci/run; tests/search/test_orphans.py is the default suite's in-process version
@pytest.mark.parametrize("kind", STORAGES)
def test_kill_9_mid_trial_then_rerun_keeps_every_completed_trial(tmp_path: Path, kind: str) -> None:
    storage = _storage(tmp_path, kind)
    log = tmp_path / "calls.log"
    # the 4th evaluation never returns: the process is killed while it holds that trial
    proc = start_worker(tmp_path, storage, 8, 0, log, hang_at=4)
    wait_for(lambda: len(log_lines(log, "start")) >= 4, what="the 4th evaluation to start")
    held = log_lines(log, "start")[3][0]
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    before = {t.number: (t.user_attrs["arch_key"], t.values) for t in evaluated(storage)}
    assert len(before) == 3 and held not in {k for k, _ in before.values()}
    running = [t for t in trials(storage) if t.state.name == "RUNNING"]
    assert [t.user_attrs["arch_key"] for t in running] == [held]  # the killed trial is left RUNNING
    assert running[0].system_attrs[OWNER_ATTR]["pid"] == proc.pid

    rerun = start_worker(tmp_path, storage, 8, 0, log)  # the same command again
    assert rerun.wait(timeout=600) == 0
    after = evaluated(storage)
    keys = [t.user_attrs["arch_key"] for t in after]
    assert len(after) == 8 and len(set(keys)) == 8  # the requested total, no architecture twice
    assert {t.number: (t.user_attrs["arch_key"], t.values) for t in after if t.number in before} == before
    states = {t.number: t.state.name for t in trials(storage)}
    assert states[running[0].number] == "FAIL" and "RUNNING" not in states.values()
    # the evaluator finished each scored architecture exactly once across both processes
    ends = [k for k, _ in log_lines(log, "end")]
    assert sorted(ends) == sorted(keys)


@pytest.mark.slow  # run by .ci/run; tests/search/test_orphans.py is the default suite's in-process version
@pytest.mark.parametrize("kind", STORAGES)
def test_kill_9_between_ask_and_claim_then_rerun_leaves_no_orphan(tmp_path: Path, kind: str) -> None:
    """Issue 15: the killed worker's trial has no architecture yet; the rerun must fail it (the
    grace period, 60 s here, is far longer than the rerun, so only the owner check can)."""
    storage = _storage(tmp_path, kind)
    log = tmp_path / "calls.log"
    proc = start_worker(tmp_path, storage, 6, 0, log, hang_costs_at=4, sizes="3x3")
    wait_for(lambda: bool(log_lines(log, "costs")), what="a cost computation to hang")
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    orphan = [t for t in trials(storage) if t.state.name == "RUNNING"]
    assert len(orphan) == 1 and "arch_key" not in orphan[0].user_attrs  # created, never claimed
    assert orphan[0].system_attrs[OWNER_ATTR]["pid"] == proc.pid

    rerun = start_worker(tmp_path, storage, 6, 0, log, sizes="3x3")
    assert rerun.wait(timeout=600) == 0
    states = {t.number: t.state.name for t in trials(storage)}
    assert states[orphan[0].number] == "FAIL" and "RUNNING" not in states.values()
    keys = [t.user_attrs["arch_key"] for t in evaluated(storage)]
    assert len(keys) == len(set(keys)) == 6


def _killed_worker_is_redone(tmp_path: Path, storage: str, *, remote: bool) -> None:
    """Worker A holds a claimed trial and is killed; worker B marks it failed and scores its
    architecture. ``remote``: A records another host as owner, so B can only go by A's stopped
    heartbeats (grace 4 s; B's own trials are never judged by their heartbeats, since B knows their
    owner, itself, is alive); otherwise B sees at once that A's process is gone."""
    log = tmp_path / "calls.log"
    n = 6  # the whole 3x2 space: the held architecture must be scored by someone
    beat = {"heartbeat": 1, "grace": 4} if remote else {}
    a = start_worker(tmp_path, storage, n, 0, log, hang_at=2, sizes="3x2", remote=remote, **beat)
    wait_for(lambda: len(log_lines(log, "start")) >= 2, what="worker A to hold its 2nd trial")
    held, pid_a = log_lines(log, "start")[1]
    b = start_worker(tmp_path, storage, n, 1, log, sizes="3x2", **beat)
    wait_for(lambda: any(p == b.pid for _, p in log_lines(log, "start")), what="worker B to start scoring")
    assert a.poll() is None  # A still holds `held`, with live heartbeats
    os.kill(a.pid, signal.SIGKILL)
    assert a.wait() == -signal.SIGKILL
    assert b.wait(timeout=600) == 0
    done = evaluated(storage)
    keys = [t.user_attrs["arch_key"] for t in done]
    assert len(done) == n and len(set(keys)) == n and held in keys
    starts = [p for k, p in log_lines(log, "start") if k == held]
    assert starts[0] == pid_a and starts[-1] == b.pid  # held by A, then evaluated by B
    assert [p for k, p in log_lines(log, "end") if k == held] == [b.pid]
    failed = [t for t in trials(storage) if t.state.name == "FAIL" and t.user_attrs.get("arch_key") == held]
    assert len(failed) == 1 and failed[0].system_attrs[OWNER_ATTR]["pid"] == pid_a  # A's trial
    assert not [t for t in trials(storage) if t.state.name == "RUNNING"]


@pytest.mark.slow  # run by .ci/run; tests/search/test_orphans.py is the default suite's in-process version
@pytest.mark.parametrize("kind", STORAGES)
def test_killed_local_worker_trial_is_failed_at_once_and_redone(tmp_path: Path, kind: str) -> None:
    _killed_worker_is_redone(tmp_path, _storage(tmp_path, kind), remote=False)


def test_killed_remote_worker_trial_is_failed_by_heartbeat_and_redone_sqlite(tmp_path: Path) -> None:
    _killed_worker_is_redone(tmp_path, _storage(tmp_path, "sqlite"), remote=True)


@pytest.mark.slow  # run by .ci/run (tests/faults); the default suite keeps the SQLite version and test_orphans' in-process one
@pytest.mark.postgres
def test_killed_remote_worker_trial_is_failed_by_heartbeat_and_redone_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    from sqlalchemy import create_engine, text

    # a fresh database per test: the session's server is shared with other PostgreSQL tests
    url = _fresh_database(postgres_url, "faults_redo", create_engine, text)
    _killed_worker_is_redone(tmp_path, url, remote=True)


def _fresh_database(url: str, name: str, create_engine, text) -> str:  # type: ignore[no-untyped-def]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def _four_workers(tmp_path: Path, storage: str, n: int = 12) -> None:
    log = tmp_path / "calls.log"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [start_worker(tmp_path, storage, n, seed, log, sizes="6x5", barrier=barrier) for seed in range(4)]
    wait_for(lambda: len(list(barrier.glob("ready-*"))) == 4, what="4 workers to be ready")
    (barrier / "go").touch()  # all four start searching together
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0, 0]
    done = evaluated(storage)
    keys = [t.user_attrs["arch_key"] for t in done]
    assert len(done) == n and len(set(keys)) == n  # N trials, no duplicates
    ends = [k for k, _ in log_lines(log, "end")]
    starts = [k for k, _ in log_lines(log, "start")]
    assert sorted(ends) == sorted(starts) == sorted(keys)  # no evaluation lost or repeated
    assert len({p for _, p in log_lines(log, "end")}) >= 2  # the work really was shared
    assert not [t for t in trials(storage) if t.state.name == "RUNNING"]


def test_four_workers_share_one_sqlite_study(tmp_path: Path) -> None:
    _four_workers(tmp_path, f"sqlite:///{tmp_path / 'study.db'}")


@pytest.mark.slow  # run by .ci/run (tests/faults); the default suite keeps the SQLite version
def test_four_workers_share_one_journal_file_study(tmp_path: Path) -> None:
    _four_workers(tmp_path, f"journal:{tmp_path / 'study.log'}")


@pytest.mark.slow  # run by .ci/run (tests/faults); the default suite keeps the SQLite version and test_persistence's two processes on PostgreSQL
@pytest.mark.postgres
def test_four_workers_share_one_postgres_study(tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    _four_workers(tmp_path, _fresh_database(postgres_url, "faults_four", create_engine, text))
