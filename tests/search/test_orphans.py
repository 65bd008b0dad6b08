"""Issue 15: a RUNNING trial whose worker is dead is failed when a search starts, on SQLite and on a
journal file (no heartbeats there), while trials of live or remote workers are left alone.

The trials of dead workers are written directly into the study, as a worker killed with ``kill -9``
leaves them; tests/faults/test_search_faults.py kills real worker processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from autogtkd.search import SearchProblem, collect_result, load_result, open_storage, search
from autogtkd.search._owners import OWNER_ATTR, owner_state, process_owner


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process on this machine that is not this one (killed at the end)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    yield proc
    proc.kill()
    proc.wait()


def _dead_owner() -> dict[str, Any]:
    """The owner record of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    owner = process_owner(proc.pid)  # recorded while it runs: it blocks on stdin
    proc.kill()
    proc.wait()
    return owner


def test_owner_state(sleeper: subprocess.Popen[bytes]) -> None:
    me = process_owner()
    assert me["pid"] == os.getpid() and owner_state(me) == "alive"
    live = process_owner(sleeper.pid)
    assert owner_state(live) == "alive"
    if live["start"] is not None:  # Linux: a reused pid (another start time) is another process
        assert owner_state({**live, "start": live["start"] - 1}) == "dead"
    assert owner_state(_dead_owner()) == "dead"
    assert owner_state({**live, "host": "another-machine"}) == "unknown"
    assert owner_state(None) == "unknown" and owner_state({"pid": "x"}) == "unknown"


def _storage(kind: str, tmp_path) -> Any:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"  # heartbeats on (default); the trials added here have none
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log")))


def _running(study: optuna.Study, owner: dict[str, Any], **user_attrs: Any) -> int:
    """Add a RUNNING trial owned by ``owner`` (as ``search`` writes it); returns its number."""
    trial = optuna.trial.create_trial(state=TrialState.RUNNING, system_attrs={OWNER_ATTR: owner}, user_attrs=user_attrs)
    study.add_trial(trial)
    return study.get_trials(deepcopy=False)[-1].number


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_rerun_fails_trials_of_dead_local_workers(
    kind: str, tmp_path, toy, toy_problem: SearchProblem, sleeper: subprocess.Popen[bytes]
) -> None:
    storage = _storage(kind, tmp_path)
    search(toy_problem, strategy="random", n_trials=3, seed=0, storage=storage)
    study = optuna.load_study(study_name="autogtkd-search", storage=storage)
    taken = {t.user_attrs["arch_key"] for t in study.get_trials() if t.user_attrs.get("arch_key")}
    free = next(a for a in toy.all_archs(toy_problem.space) if a.key not in taken and toy_problem.feasible(a))
    live = process_owner(sleeper.pid)
    if live["start"] is None:
        pytest.skip("needs /proc (Linux) to tell a reused pid")
    killed_before_claim = _running(study, _dead_owner())  # the trial of the issue: no parameters, no claim
    killed_while_scoring = _running(study, _dead_owner(), arch=free.to_dict(), arch_key=free.key)
    pid_reused = _running(study, {**live, "start": live["start"] - 1})
    live_worker = _running(study, live)
    remote_worker = _running(study, {**live, "host": "another-machine"})
    assert collect_result(study).info["n_running"] == 0  # a dead worker's claim is not "being scored"

    done = threading.Event()  # before the fix the claim of the dead worker blocked the rerun for ever

    def rerun() -> None:
        search(toy_problem, strategy="random", n_trials=6, seed=0, storage=storage, poll_s=0.05)
        done.set()

    worker = threading.Thread(target=rerun, daemon=True)
    worker.start()
    assert done.wait(300), "the rerun waited for a trial whose worker is dead"
    states = {t.number: t.state for t in study.get_trials()}
    assert [states[n] for n in (killed_before_claim, killed_while_scoring, pid_reused)] == [TrialState.FAIL] * 3
    assert states[live_worker] == states[remote_worker] == TrialState.RUNNING  # someone may still finish them
    evaluated = [t for t in study.get_trials() if t.user_attrs.get("status") == "evaluated"]
    assert len(evaluated) == 6 and len({t.user_attrs["arch_key"] for t in evaluated}) == 6


def test_every_trial_records_its_owner(tmp_path, toy_problem: SearchProblem) -> None:
    """Also the fresh proposals drawn after ``patience`` bad ones (formerly enqueued as WAITING trials,
    owner-less until another worker took them)."""
    search(toy_problem, strategy="random", n_trials=12, seed=0, out=tmp_path, patience=1)
    trials = optuna.load_study(study_name="autogtkd-search", storage=f"sqlite:///{tmp_path / 'study.db'}").get_trials()
    me = process_owner()
    assert trials and all(t.system_attrs[OWNER_ATTR] == me for t in trials)
    fresh = [t for t in trials if "fixed_params" in t.system_attrs]
    assert fresh and all(t.params == t.system_attrs["fixed_params"] for t in fresh)
    assert not [t for t in trials if t.state == TrialState.WAITING]
    assert len(load_result(tmp_path).trials) == 12


def test_stale_heartbeats_fail_remote_owners_but_never_a_live_local_one(
    tmp_path, toy_problem: SearchProblem, sleeper: subprocess.Popen[bytes]
) -> None:
    """A worker on this machine whose heartbeat lags (a busy CPU) keeps its trial; a silent worker on
    another machine loses it."""
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat_interval=1, grace_period=1)
    search(toy_problem, strategy="random", n_trials=2, seed=0, storage=storage)
    study = optuna.load_study(study_name="autogtkd-search", storage=storage)
    live = process_owner(sleeper.pid)
    numbers = {"local": _running(study, live), "remote": _running(study, {**live, "host": "another-machine"})}
    ids = {k: study.get_trials(deepcopy=False)[n]._trial_id for k, n in numbers.items()}
    for trial_id in ids.values():
        storage.record_heartbeat(trial_id)
    time.sleep(2.5)  # both heartbeats are now older than the grace period (a longer wait changes nothing)
    search(toy_problem, strategy="random", n_trials=3, seed=0, storage=storage)
    states = {k: study.get_trials(deepcopy=False)[n].state for k, n in numbers.items()}
    assert states == {"local": TrialState.RUNNING, "remote": TrialState.FAIL}
