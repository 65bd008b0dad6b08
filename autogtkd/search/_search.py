"""The search loop: an Optuna study (ask/tell) over a :class:`SearchProblem`, resumable and shareable.

One trial = one proposed architecture. Each proposal ends in one of four states (user attribute
``status``):

* ``evaluated``: scored by the problem's evaluator (counts toward ``n_trials``);
* ``over_budget``: breaks a budget; completed with accuracy 0 and its constraint violations set
  through ``Trial.set_constraint`` so that NSGA-II/TPE learn the feasible region, never scored;
* ``duplicate``: its canonical architecture was already scored or is being scored by another worker;
  the trial is marked FAIL (samplers ignore it) with ``duplicate_of``; nothing is evaluated twice;
  ``surplus`` (FAIL too): other workers already fill ``n_trials``;
* ``screened``: the accuracy predictor says it cannot reach the current front; completed with the
  predicted accuracy and scorer ``predictor``, never reported.

The study itself is the cache: a resumed run, or another process sharing the storage, sees every
scored architecture. ``n_trials`` is the study-wide number of ``evaluated`` trials; workers wait
for running trials of other workers before finishing, so a killed worker's trial is redone once it
is marked failed. Every trial records its owner (host, pid, process start time; see
:mod:`autogtkd.search._owners`) in the same storage write that creates it; a search marks failed, at
its start and while it runs, the running trials whose owner is a dead process on its own machine
(any storage, journal files included). Owners on other machines are detected by Optuna's heartbeats
(RDB storages only); a live owner on this machine is never judged by its heartbeats.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from autogtkd._io import atomic_write_json
from autogtkd.evaluate import Evaluator, as_evaluator
from autogtkd.exceptions import ConfigError
from autogtkd.search._owners import OWNER_ATTR, owner_state, process_owner
from autogtkd.search._problem import SearchProblem
from autogtkd.search._results import SearchResult
from autogtkd.search._strategies import STATUS_ATTR, create_sampler, evaluated_trials
from autogtkd.search._study import (
    RESCORED_ATTR,
    RESULT_SPEC_ATTR,
    STUDY_FILE,
    collect_result,
    open_storage,
    result_spec,
    without_password,
)
from autogtkd.space import Arch

__all__ = ["DEFAULT_STUDY", "Prescreen", "Rescore", "search"]

DEFAULT_STUDY = "autogtkd-search"
_log = logging.getLogger("autogtkd.search")


@dataclass(frozen=True)
class Prescreen:
    """Pre-screen proposals with an accuracy predictor fitted on the scored architectures.

    Once ``min_train`` architectures are scored, a proposal whose predicted accuracy plus
    ``margin`` (fraction) is dominated by an already scored feasible candidate is not scored.
    Kendall's tau between predictions and the true scores of the proposals that *were* scored
    (out-of-sample) is reported in ``pareto.json`` under ``predictor``.

    Attributes:
        predictor: an :class:`~autogtkd.evaluate.AccuracyPredictor` (or any sklearn regressor on
            ``space.encode`` features), refitted before each prediction.
        min_train: scored architectures needed before screening starts.
        margin: accuracy slack (fraction) in the predicted candidate's favour.
    """

    predictor: Any
    min_train: int = 12
    margin: float = 0.01


@dataclass(frozen=True)
class Rescore:
    """When the search ends, score its best ``top`` feasible candidates again with ``evaluator``, a
    more faithful (and slower) scorer than the search's, e.g. ``finetune`` after ``inherit``.

    Best: by non-dominated rank of the objectives (the search's front, then the front of the rest,
    ...), then by higher accuracy (:meth:`SearchResult.ranked`). The result's front is then the
    Pareto front of every re-scored candidate by its new accuracy; each keeps the search's score as
    metric ``search_accuracy``. The scores are stored in the study (user attribute ``rescored``),
    so a resumed search re-scores only candidates new to its top, and ``autogtkd pareto`` and
    ``autogtkd distill --pick`` read the re-scored front. Workers sharing a study may re-score the
    same candidate twice (they do not coordinate this step).

    Attributes:
        evaluator: the re-scoring :class:`~autogtkd.evaluate.Evaluator` or function ``arch -> metrics``
            (its ``name`` is recorded; one per study).
        top: how many candidates to re-score (>= 1).
    """

    evaluator: Evaluator | Callable[[Arch], Mapping[str, Any]]
    top: int = 4

    def __post_init__(self) -> None:
        if self.top < 1:
            raise ConfigError(f"Rescore.top must be >= 1, got {self.top}")


def _fail(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Mark a running trial FAIL; ``False`` when another worker finished or failed it first."""
    try:
        return bool(study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL))
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return False


def _fail_orphans(study: optuna.Study, trials: list[FrozenTrial]) -> int:
    """Mark FAIL the running trials (of ``trials``) whose owner is a dead process on this machine;
    returns how many. Any storage: this is the only mechanism for storages without heartbeats."""
    n = 0
    for t in trials:
        if t.state == TrialState.RUNNING and owner_state(t.system_attrs.get(OWNER_ATTR)) == "dead" and _fail(study, t):
            _log.warning(
                "trial %d: its worker (pid %s) is gone; marked failed", t.number, t.system_attrs[OWNER_ATTR]["pid"]
            )
            n += 1
    return n


def _fail_unclaimed(study: optuna.Study, trials: list[FrozenTrial]) -> int:
    """Mark FAIL the running trials without an owner record that never claimed an architecture and
    are older than the grace period; returns how many. Such a trial was left by an earlier version
    (or another tool) killed before its first heartbeat, or by a worker killed just after taking a
    WAITING trial: Optuna's stale-trial check (heartbeat-based) never sees it. Trials with an owner
    are judged by it (on this machine) or by their heartbeats (elsewhere; the first one is recorded
    right after the trial is created), never by their age: a live worker may take long to propose."""
    grace = _grace_period(study._storage)
    if not grace:
        return 0
    now = datetime.now()
    return sum(
        _fail(study, t)
        for t in trials
        if t.state == TrialState.RUNNING
        and "arch_key" not in t.user_attrs
        and t.datetime_start
        and (now - t.datetime_start).total_seconds() > grace
        and OWNER_ATTR not in t.system_attrs
    )


def _heartbeat_interval(storage: BaseStorage) -> int | None:
    """The storage's heartbeat interval in seconds (``None``: no heartbeats; only RDB storages have them).

    Optuna wraps RDB storages in a caching layer that forwards the heartbeat API, so this is duck-typed.
    """
    get = getattr(storage, "get_heartbeat_interval", None)
    return get() if get is not None else None


def _grace_period(storage: BaseStorage) -> int | None:
    """Seconds of silence after which a trial with heartbeats is stale (``None``: no heartbeats)."""
    interval = _heartbeat_interval(storage)
    if not interval:
        return None
    backend = getattr(storage, "_backend", storage)  # inside Optuna's caching wrapper
    return getattr(backend, "grace_period", None) or 2 * interval  # Optuna's default


@contextlib.contextmanager
def _heartbeat(storage: BaseStorage, trial_id: int) -> Iterator[None]:
    """Record heartbeats for ``trial_id`` while the block runs: one before it starts (so a trial
    that is claimed always has one), then every interval from a background thread."""
    interval = _heartbeat_interval(storage)
    if not interval:
        yield
        return
    storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# long: its signature and docstring (17 arguments) take 49 lines; the code, one ask/score loop, is 59
def search(
    problem: SearchProblem,
    *,
    strategy: str = "surrogate",
    n_trials: int = 40,
    seed: int = 0,
    storage: str | BaseStorage | None = None,
    study_name: str = DEFAULT_STUDY,
    out: str | Path | None = None,
    prescreen: Prescreen | None = None,
    rescore: Rescore | None = None,
    strategy_options: dict[str, Any] | None = None,
    max_proposals: int | None = None,
    patience: int = 20,
    heartbeat_interval: int | None = 10,
    grace_period: int | None = None,
    poll_s: float = 1.0,
    progress: bool = False,
    info: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Search for Pareto-optimal architectures of ``problem``.

    Args:
        problem: space, evaluator, objectives and budgets.
        strategy: ``surrogate`` (default), ``tpe``, ``nsga2``, ``evolution`` or ``random`` (see
            :func:`list_strategies`; docs/search.md, "Strategies").
        n_trials: scored architectures wanted in the study (study-wide: a resumed or shared study
            counts what is already there).
        seed: seeds the strategy; Optuna samplers get ``seed + number of existing trials`` so that a
            resumed or second worker does not replay the first one's proposals.
        storage: URL or Optuna storage; default SQLite ``study.db`` in ``out`` (memory without ``out``).
        study_name: the study in the storage; the same name resumes it.
        out: output directory; when given, results are written there (see :meth:`SearchResult.save`).
        prescreen: optional accuracy-predictor pre-screening.
        rescore: optional re-scoring of the best candidates by a more faithful scorer at the end.
        max_proposals: bound on proposals in this call (default ``20 * n_trials + 100``), so a
            tight budget or an exhausted small space cannot loop forever.
        patience: after this many proposals in a row that are over budget or duplicates, the next
            trial is a fresh, feasible, unseen architecture drawn by the problem's sampler.
        heartbeat_interval, grace_period: stale-trial detection of RDB storages (seconds), for
            workers on other machines; a dead worker on this machine has its trial failed at once.
        poll_s: wait between checks while other workers finish the last trials.
        progress: show a progress bar (tqdm) of scored trials.
        info: extra entries recorded in the result's ``info`` (``pareto.json``), e.g. the trained run.

    Returns:
        the :class:`SearchResult` of the whole study.

    Example:
        >>> result = search(problem, strategy="evolution", n_trials=30, seed=0)   # doctest: +SKIP
        >>> result.knee().arch                                                    # doctest: +SKIP
    """
    if n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_storage(storage, out, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    study = _open_study(problem, st, study_name, strategy, seed, strategy_options or {})
    run_info = {"strategy": strategy, "seed": seed, **(info or {})}
    if out is not None and not isinstance(storage, BaseStorage):
        url = storage or f"sqlite:///{Path(out).resolve() / 'study.db'}"
        atomic_write_json(
            Path(out) / STUDY_FILE, {"storage": without_password(url), "study": study_name, "info": run_info}
        )
    rng = np.random.default_rng([seed, len(study.get_trials(deepcopy=False))])
    limit = max_proposals if max_proposals is not None else 20 * n_trials + 100
    bar = _progress(progress, n_trials, len(evaluated_trials(study.get_trials(deepcopy=False))))
    proposals, bad = 0, 0
    stop_reason = ""
    try:
        while True:
            trials = _bookkeeping(study)
            done = len(evaluated_trials(trials))
            running = sum(
                1 for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("arch_key") is not None
            )
            if bar is not None:
                bar.n = min(done, n_trials)
                bar.refresh()
            if done >= n_trials:
                break
            if done + running >= n_trials:
                time.sleep(poll_s)  # other workers are scoring the last ones; a failure reopens a slot
                continue
            if proposals >= limit:
                stop_reason = f"stopped after {proposals} proposals ({done} scored)"
                break
            fixed = None
            if bad >= patience:
                fresh = _unseen(problem, trials, rng)
                if fresh is None:
                    stop_reason = f"no unscored feasible architecture found ({done} scored; the space may be exhausted)"
                    break
                fixed = fresh.to_dict()
                bad = 0
            proposals += 1
            outcome = _run_trial(study, problem, prescreen, n_trials, fixed)
            if outcome == "surplus":  # another worker took the last slot at the same moment
                time.sleep(float(rng.uniform(0, poll_s)))
                continue
            bad = 0 if outcome == "evaluated" else bad + 1
    finally:
        if bar is not None:
            bar.close()
    if stop_reason:
        _log.warning("search %s", stop_reason)
    if rescore is not None:
        _rescore(study, problem, rescore, progress)
    result = collect_result(study, problem, info=run_info)
    if stop_reason:
        result.info["stopped"] = stop_reason
    if out is not None:
        result.save(out)
    return result


def _rescore(study: optuna.Study, problem: SearchProblem, rescore: Rescore, progress: bool) -> None:
    """Score the best ``rescore.top`` feasible candidates of the study with ``rescore.evaluator``
    (those not scored by it yet), storing each score in the study as soon as it exists."""
    evaluator = as_evaluator(rescore.evaluator, name=getattr(rescore.evaluator, "name", None))
    name = evaluator.name
    record = copy.deepcopy(study.user_attrs.get(RESCORED_ATTR)) or {"scorer": name, "scores": {}}
    if record["scorer"] != name:
        raise ConfigError(
            f"study {study.study_name!r} was re-scored with {record['scorer']!r}, not {name!r}; "
            "re-score with that scorer or use another study"
        )
    todo = [c for c in collect_result(study, problem).ranked()[: rescore.top] if c.arch.key not in record["scores"]]
    bar = _progress(progress, len(todo), 0, desc=f"re-scoring ({name})")
    try:
        for c in todo:
            record["scores"][c.arch.key] = evaluator(c.arch)
            study.set_user_attr(RESCORED_ATTR, record)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def _bookkeeping(study: optuna.Study) -> list[FrozenTrial]:
    """Fail the trials nobody will finish, then return every trial of the study.

    Running trials of dead workers on this machine fail at once (owner check, any storage); with
    heartbeats (RDB storages), so do those of workers elsewhere that went silent for the grace period.
    """
    heartbeats = bool(_heartbeat_interval(study._storage))
    if heartbeats:
        _fail_stale(study)
    trials = study.get_trials(deepcopy=False)
    failed = _fail_orphans(study, trials) + (_fail_unclaimed(study, trials) if heartbeats else 0)
    return study.get_trials(deepcopy=False) if failed else trials


def _fail_stale(study: optuna.Study) -> None:
    """``optuna.storages.fail_stale_trials`` (heartbeat older than the grace period: FAIL, then the
    storage's stale-trial callback), except for trials whose owner is alive on this machine: a worker
    whose heartbeat thread lags on a busy machine is not dead."""
    storage = study._storage
    failed = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):  # type: ignore[attr-defined]
        trial = storage.get_trial(trial_id)
        if owner_state(trial.system_attrs.get(OWNER_ATTR)) != "alive" and _fail(study, trial):
            failed.append(trial_id)
    callback = storage.get_heartbeat_stale_trial_callback()  # type: ignore[attr-defined]
    for trial_id in failed if callback is not None else ():
        callback(study, copy.deepcopy(storage.get_trial(trial_id)))


def _progress(enabled: bool, total: int, initial: int, desc: str = "search") -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=min(initial, total), desc=desc, unit="arch")


def _open_study(
    problem: SearchProblem,
    storage: str | BaseStorage | None,
    name: str,
    strategy: str,
    seed: int,
    options: dict[str, Any],
) -> optuna.Study:
    # sampler seed depends on how many trials exist, so resumes and extra workers propose new archs
    try:
        existing = optuna.load_study(study_name=name, storage=storage) if storage is not None else None
    except KeyError:
        existing = None
    n_existing = len(existing.get_trials(deepcopy=False)) if existing is not None else 0
    sampler = create_sampler(strategy, problem, seed=seed + n_existing, **options)
    directions = [
        optuna.study.StudyDirection.MAXIMIZE if m else optuna.study.StudyDirection.MINIMIZE for m in problem.maximise
    ]
    study = optuna.create_study(
        storage=storage, study_name=name, directions=directions, sampler=sampler, load_if_exists=True
    )
    want = problem.describe()
    have = study.user_attrs.get("problem")
    if have is None:
        study.set_user_attr("problem", want)
    elif have != want:
        raise ConfigError(
            f"study {name!r} in this storage was created for {have}, not {want}; "
            "use another --out, --storage or study name"
        )
    if list(study.directions) != directions:
        raise ConfigError(f"study {name!r} has other objective directions")
    if study.metric_names != list(problem.objectives):  # names the axes of Optuna's plots and dashboard
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(problem.objectives))
    if RESULT_SPEC_ATTR not in study.user_attrs:  # also for studies written by earlier versions
        study.set_user_attr(RESULT_SPEC_ATTR, result_spec(problem))
    return study


def _ask(study: optuna.Study, fixed_params: dict[str, Any] | None = None) -> Trial:
    """``study.ask()``, with this process recorded as the trial's owner (system attribute
    :data:`~autogtkd.search._owners.OWNER_ATTR`) in the same storage write that creates the trial, so a
    worker killed at any moment leaves no running trial without an owner. ``fixed_params`` are
    suggested as they are (what ``enqueue_trial`` does, without a WAITING trial another worker could take).

    Trials enqueued by someone else (WAITING) are taken first, as Optuna does; their owner is written
    just after they are taken.
    """
    owner = process_owner()
    study._thread_local.cached_all_trials = None  # as study.ask(): samplers read the current trials
    if fixed_params is None:
        for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                if study._storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING):
                    study._storage.set_trial_system_attr(waiting._trial_id, OWNER_ATTR, owner)
                    return Trial(study, waiting._trial_id)
    attrs: dict[str, Any] = {OWNER_ATTR: owner}
    if fixed_params is not None:
        attrs["fixed_params"] = fixed_params
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        values=None,
        datetime_start=datetime.now(),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs=attrs,
        intermediate_values={},
        trial_id=-1,
    )
    return Trial(study, study._storage.create_new_trial(study._study_id, template_trial=template))


def _run_trial(
    study: optuna.Study,
    problem: SearchProblem,
    prescreen: Prescreen | None,
    n_trials: int,
    fixed_params: dict[str, Any] | None = None,
) -> str:
    trial = _ask(study, fixed_params)
    try:
        with _heartbeat(study._storage, trial._trial_id):
            return _decide_and_score(study, trial, problem, prescreen, n_trials)
    except BaseException:
        if study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
            study.tell(trial, state=TrialState.FAIL)
        raise


def _decide_and_score(
    study: optuna.Study, trial: Trial, problem: SearchProblem, prescreen: Prescreen | None, n_trials: int
) -> str:
    arch = problem.space.canonical(
        {c.name: trial.suggest_categorical(c.name, list(c.options)) for c in problem.space.choices}
    )
    costs = problem.costs(arch)
    violations = problem.violations(costs)
    for name, value in violations.items():
        trial.set_constraint(name, value)
    trial.set_user_attr("arch", arch.to_dict())
    if any(v > 0 for v in violations.values()):
        trial.set_user_attr(STATUS_ATTR, "over_budget")
        study.tell(trial, problem.values({**costs, "accuracy": 0.0}))
        return "over_budget"
    # claim the architecture, then look for another claim (see _claimed_by_other)
    trial.set_user_attr("arch_key", arch.key)
    other, n_taken = _claimed_by_other(study, trial, arch)
    if other is not None or n_taken >= n_trials:
        trial.set_user_attr(STATUS_ATTR, "duplicate" if other is not None else "surplus")
        if other is not None:
            trial.set_user_attr("duplicate_of", other)
        trial.set_user_attr("arch_key", None)
        study.tell(trial, state=TrialState.FAIL)
        return "duplicate" if other is not None else "surplus"
    predicted = _predict(study, problem, prescreen, arch)
    if prescreen is not None and predicted is not None:
        trial.set_user_attr("predicted_accuracy", predicted)
        if _dominated(study, problem, {**costs, "accuracy": min(1.0, predicted + prescreen.margin)}):
            trial.set_user_attr(STATUS_ATTR, "screened")
            trial.set_user_attr("scorer", "predictor")
            study.tell(trial, problem.values({**costs, "accuracy": predicted}))
            return "screened"
    metrics = problem.evaluate(arch)
    trial.set_user_attr("metrics", metrics)
    trial.set_user_attr("scorer", problem.scorer)
    trial.set_user_attr(STATUS_ATTR, "evaluated")
    study.tell(trial, problem.values(metrics))
    return "evaluated"


def _claimed_by_other(study: optuna.Study, trial: Trial, arch: Arch) -> tuple[int | None, int]:
    """``(number of another trial that scored, screened or is scoring arch, or None; number of
    slots taken by others = evaluated trials + other running claims)``.

    Every worker writes its claim before reading the others', so of two concurrent claims at least
    one sees the other; a trial yields to any other live claim of the same architecture (or when
    the others fill ``n_trials``), so nothing is scored twice and ``n_trials`` is never exceeded
    (at worst both yield and retry).
    """
    key = arch.key
    other, taken = None, 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if t.number == trial.number:
            continue
        status = t.user_attrs.get(STATUS_ATTR)
        claimed = t.state == TrialState.RUNNING and t.user_attrs.get("arch_key") is not None
        taken += int(claimed or status == "evaluated")
        if t.user_attrs.get("arch_key") == key and (claimed or status in ("evaluated", "screened")):
            other = t.number if other is None else other
    return other, taken


def _unseen(
    problem: SearchProblem, trials: list[FrozenTrial], rng: np.random.Generator, tries: int = 200
) -> Arch | None:
    seen = {t.user_attrs.get("arch_key") for t in trials if t.state in (TrialState.COMPLETE, TrialState.RUNNING)}
    for _ in range(tries):
        a = problem.sample(rng)
        if a.key not in seen:
            return a
    return None


def _predict(study: optuna.Study, problem: SearchProblem, prescreen: Prescreen | None, arch: Arch) -> float | None:
    if prescreen is None:
        return None
    done = evaluated_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if len(done) < prescreen.min_train:
        return None
    x = problem.space.encode_many([t.user_attrs["arch"] for t in done])
    y = np.array([t.user_attrs["metrics"]["accuracy"] for t in done])
    prescreen.predictor.fit(x, y)
    return float(np.clip(prescreen.predictor.predict(problem.space.encode(arch)[None, :])[0], 0.0, 1.0))


def _dominated(study: optuna.Study, problem: SearchProblem, metrics: dict[str, float]) -> bool:
    from autogtkd.search._pareto import to_minimisation

    done = [
        t
        for t in evaluated_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if all(v <= 0 for v in t.constraints.values())
    ]
    if not done:
        return False
    pts = to_minimisation(np.array([t.values for t in done]), problem.maximise)
    me = to_minimisation(np.array([problem.values(metrics)]), problem.maximise)[0]
    return bool(((pts <= me).all(1) & (pts < me).any(1)).any())
