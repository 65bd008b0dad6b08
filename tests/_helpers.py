"""Helpers shared by the tests (a plain module: ``import _helpers``; pytest puts ``tests/`` on the
path through ``pythonpath`` in pyproject.toml). Fixtures stay in the conftest files and build on these.

* the tiny search space and training settings: :func:`tiny_space` (an 8x8 MobileNetV3 space, a
  handful of small networks), :data:`SPEC` (digits at 8x8, 240 images), :func:`tiny_config`,
  :func:`train_tiny_run` (the tiny trained run; ``tests/cli/conftest.py`` trains its GTN run once
  per session);
* search workers in subprocesses for the fault tests (tests/faults): :func:`start_worker`,
  :func:`wait_for`, :func:`log_lines`, :func:`trials`, :func:`evaluated`.

Fault-test helpers are a search worker script run in subprocesses (a cheap user evaluator on a small
``ChoiceSpace``), waiting on files, and reading a study back.

The worker's evaluator appends ``start KEY PID`` to a log before scoring and ``end KEY PID`` after,
so a test knows exactly which architecture a process holds when it kills it. With ``hang_at=k`` the
k-th evaluation of that process never returns (the process holds its trial until it is killed); with
``hang_costs_at=k`` the k-th cost computation never returns (the process holds a trial it created
but has not claimed an architecture for: killed between ``ask`` and the claim).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna

from autogtkd.space import MBStageConfig, MobileNetV3Config, MobileNetV3Space
from autogtkd.train import DatasetSpec, TrainConfig, train

# ---------------------------------------------------------------------------- the tiny space and runs

SPEC = DatasetSpec(name="digits", image_size=8, val_fraction=0.2, seed=0, subset=240)

_TINY_STAGES = (
    MBStageConfig(8, 1, False, "relu", depth=(1, 2), kernel=(3,), expand=(2, 3)),
    MBStageConfig(16, 2, True, "hswish", depth=(1, 2), kernel=(3, 5), expand=(2,)),
    MBStageConfig(16, 1, False, "relu", depth=(1,), kernel=(3,), expand=(2,)),
)


def tiny_space(num_classes: int = 10, *, stages: int = 2, input_size: int = 8) -> MobileNetV3Space:
    """An 8x8 MobileNetV3 space: elastic stages (strides 1, 2; with ``stages=3`` a third, fixed one of
    stride 1), widths 0.5/1.0."""
    return MobileNetV3Space(
        MobileNetV3Config(
            name="tiny",
            input_size=input_size,
            num_classes=num_classes,
            stem_channels=8,
            stem_stride=1,
            first_channels=8,
            stages=_TINY_STAGES[:stages],
            final_channels=32,
            feature_channels=32,
            width=(0.5, 1.0),
        )
    )


def tiny_config(**kw: Any) -> TrainConfig:
    """2 epochs of 2 steps of 16 images on the CPU, one validation batch; ``kw`` overrides."""
    base: dict[str, Any] = {"epochs": 2, "batch_size": 16, "max_steps_per_epoch": 2, "eval_batches": 1, "device": "cpu"}
    base.update(kw)
    return TrainConfig(**base)


def train_tiny_run(out: Path, method: str = "gtn", *, steps: int = 2, epochs: int = 1) -> Path:
    """Train :func:`tiny_space` on :data:`SPEC` with ``method`` (teacher resnet8, except for
    ``inplace``), one thread; the training log scores the whole validation split."""
    cfg = TrainConfig(
        method=method, epochs=epochs, max_steps_per_epoch=steps, batch_size=16, seed=0, device="cpu", threads=1
    )
    teacher = None if method == "inplace" else "resnet8"
    return train(out, space=tiny_space(), dataset=SPEC, teacher=teacher, config=cfg, progress=False)


# ------------------------------------------------------------- search workers in subprocesses (faults)

STUDY = "autogtkd-search"

SEARCH_WORKER = textwrap.dedent(
    """
    import json, os, socket, sys, time
    import optuna
    import autogtkd.search._search as search_module
    from autogtkd.search import SearchProblem, search
    from autogtkd.space import ChoiceSpace

    storage, n_trials, seed, log, hang_at, sizes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
    opts = json.loads(sys.argv[7])
    if opts["barrier"]:  # a start barrier: say ready, wait for the go file
        open(os.path.join(opts["barrier"], f"ready-{os.getpid()}"), "w").close()
        while not os.path.exists(os.path.join(opts["barrier"], "go")):
            time.sleep(0.01)
    if opts["remote"]:  # record another host as owner: to the others this worker is on another machine
        real_owner = search_module.process_owner
        search_module.process_owner = lambda pid=None: {**real_owner(pid), "host": "remote-" + socket.gethostname()}
    na, nb = (int(v) for v in sizes.split("x"))
    if storage.startswith("journal:"):
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage[len("journal:"):]))
    space = ChoiceSpace("grid", {"a": list(range(na)), "b": list(range(nb))})
    calls, cost_calls = 0, 0

    def note(what, arch):
        with open(log, "a") as f:
            f.write(f"{what} {arch.key} {os.getpid()}\\n")
            f.flush()

    def costs(arch):  # called inside a trial, after it is created and before it claims arch
        global cost_calls
        cost_calls += 1
        if cost_calls == opts["hang_costs_at"]:
            note("costs", arch)
            time.sleep(3600)  # holds an unclaimed trial until killed
        return {"flops": 1.0 + arch["a"] * arch["b"]}

    def table(arch):
        global calls
        calls += 1
        note("start", arch)
        if calls == hang_at:
            time.sleep(3600)  # holds its trial (heartbeats keep beating) until killed
        time.sleep(0.05)
        note("end", arch)
        return {"accuracy": (arch["a"] + 2 * arch["b"]) / (na + 2 * nb)}

    problem = SearchProblem(space, table, costs=costs)
    search(problem, strategy="random", n_trials=n_trials, seed=seed, storage=storage,
           heartbeat_interval=opts["heartbeat"], grace_period=opts["grace"], poll_s=0.1, patience=5)
    """
)


def start_worker(
    tmp: Path,
    storage: str,
    n_trials: int,
    seed: int,
    log: Path,
    *,
    hang_at: int = 0,
    hang_costs_at: int = 0,
    sizes: str = "4x3",
    barrier: Path | None = None,
    remote: bool = False,
    heartbeat: int = 2,
    grace: int = 60,
) -> subprocess.Popen[bytes]:
    """Start one search worker process on ``storage`` (URL or ``journal:PATH``).

    Args:
        hang_at: the k-th evaluation of this process never returns (it holds a claimed trial).
        hang_costs_at: the k-th cost computation never returns: the process holds a trial it created
            but has not claimed an architecture for (it writes ``costs KEY PID`` to the log first).
        barrier: a folder; the worker writes ``ready-PID`` there and starts once ``barrier/go`` exists.
        remote: the worker records another host as the owner of its trials, so other workers can only
            detect its death by heartbeats (RDB storages).
        heartbeat, grace: heartbeat interval and grace period (s). The default grace is longer than
            any test, so the death of a worker on this machine is detected by the owner check alone.
    """
    script = tmp / "search_worker.py"
    if not script.exists():
        script.write_text(SEARCH_WORKER)
    opts = {
        "barrier": str(barrier) if barrier is not None else None,
        "hang_costs_at": hang_costs_at,
        "remote": remote,
        "heartbeat": heartbeat,
        "grace": grace,
    }
    argv = [sys.executable, str(script), storage, str(n_trials), str(seed), str(log), str(hang_at), sizes]
    return subprocess.Popen([*argv, json.dumps(opts)])


def log_lines(log: Path, what: str) -> list[tuple[str, int]]:
    """``(arch key, pid)`` of every ``what`` (start | end | costs) line of the evaluator log."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == what:
            out.append((parts[1], int(parts[2])))
    return out


def wait_for(cond: Callable[[], bool], timeout: float = 600.0, what: str = "condition") -> None:
    """Poll ``cond`` every 20 ms; fail the test after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def open_storage_arg(storage: str) -> Any:
    if storage.startswith("journal:"):
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage[len("journal:") :]))
    return storage


def trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY, storage=open_storage_arg(storage)).get_trials()


def evaluated(storage: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials(storage) if t.state.name == "COMPLETE" and t.user_attrs.get("status") == "evaluated"]


def load_benchmark(name: str, *, register: bool = False) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (not a package) as a module; ``register``: also put it in
    ``sys.modules`` under ``name`` (a process pool pickles its tasks by module name)."""
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
