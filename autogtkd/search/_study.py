"""Study reading: open a study's storage, turn a study into a :class:`SearchResult`, read a search
output directory back (live from its study, or from the files written at the end).

Below the search loop (:mod:`autogtkd.search._search` imports this module, never the reverse), so
``autogtkd pareto`` and :func:`load_result` read a study without importing the loop.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from autogtkd.budget import parse_budget
from autogtkd.exceptions import ConfigError
from autogtkd.search._owners import OWNER_ATTR, owner_state
from autogtkd.search._problem import SearchProblem
from autogtkd.search._results import Candidate, SearchResult, read_result_files
from autogtkd.search._strategies import STATUS_ATTR, evaluated_trials
from autogtkd.space import Arch

__all__ = [
    "RESCORED_ATTR",
    "RESULT_SPEC_ATTR",
    "STUDY_FILE",
    "collect_result",
    "load_result",
    "open_storage",
    "rescored_candidates",
    "result_spec",
    "study_result",
    "without_password",
]

#: Written into a search's ``out`` when it starts: where its study lives, so that ``autogtkd pareto``
#: can read the front of a search that is still running (or ran on another machine's storage).
STUDY_FILE = "study.json"
#: Study user attribute holding :func:`result_spec` (what a reader needs besides the trials).
RESULT_SPEC_ATTR = "result_spec"
#: Study user attribute of the re-scored candidates: ``{"scorer": name, "scores": {arch key: metrics}}``.
RESCORED_ATTR = "rescored"
_log = logging.getLogger("autogtkd.search")


def open_storage(
    storage: str | BaseStorage | None,
    out: str | Path | None = None,
    *,
    heartbeat_interval: int | None = 10,
    grace_period: int | None = None,
) -> str | BaseStorage | None:
    """The storage of a study: an Optuna storage, a URL (``sqlite:///...``, ``postgresql://...``),
    or ``None`` = SQLite ``study.db`` inside ``out`` (in memory when ``out`` is ``None``).

    RDB URLs get heartbeats (``heartbeat_interval`` s; a worker silent for ``grace_period`` s,
    default 3 intervals, has its running trial marked failed).
    """
    if isinstance(storage, BaseStorage):
        return storage
    if storage is None:
        if out is None:
            return None
        Path(out).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{Path(out).resolve() / 'study.db'}"
    if storage.startswith(("sqlite:", "postgresql", "mysql")):
        hb = heartbeat_interval if heartbeat_interval else None
        for attempt in range(6):
            try:
                with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return RDBStorage(
                        storage,
                        heartbeat_interval=hb,
                        grace_period=(grace_period or 3 * hb) if hb else None,
                        engine_kwargs={"connect_args": {"timeout": 60}} if storage.startswith("sqlite:") else None,
                    )
            except Exception as exc:  # noqa: BLE001 -- sqlalchemy and drivers raise many kinds
                # two workers creating the same fresh database race on its schema: retry
                if attempt == 5 or "UNIQUE constraint failed" not in str(exc) and "already exists" not in str(exc):
                    raise ConfigError(f"cannot open storage {storage!r}: {str(exc).splitlines()[0]}") from None
                time.sleep(0.2 * (attempt + 1))
    raise ConfigError(f"unsupported storage {storage!r}; use sqlite:///PATH or postgresql://USER@HOST/DB")


def result_spec(problem: SearchProblem) -> dict[str, Any]:
    """What a :class:`SearchResult` needs besides the trials (stored in the study for readers)."""
    return {
        "objectives": list(problem.objectives),
        "budgets": [str(b) for b in problem.budgets],
        "reference": problem.reference_costs(),
        "space": problem.space.name,
    }


def collect_result(
    study: optuna.Study, problem: SearchProblem | None = None, *, info: Mapping[str, Any] | None = None
) -> SearchResult:
    """The :class:`SearchResult` of a study: every scored trial, the feasible front, hypervolume and
    (with pre-screening) Kendall's tau of the predictor on the scored proposals.

    Without ``problem`` the objectives, budgets and hypervolume reference recorded in the study when
    the search created it are used, so any process can read a study, also while it runs.
    """
    from scipy.stats import kendalltau

    spec = result_spec(problem) if problem is not None else study.user_attrs.get(RESULT_SPEC_ATTR)
    if spec is None:
        raise ConfigError(f"study {study.study_name!r} was not created by autogtkd search (no {RESULT_SPEC_ATTR!r})")
    all_trials = study.get_trials(deepcopy=False)
    done = evaluated_trials(all_trials)
    cands = [
        Candidate.from_metrics(
            Arch.from_dict(t.user_attrs["arch"]), t.user_attrs["metrics"], scorer=t.user_attrs["scorer"], trial=t.number
        )
        for t in sorted(done, key=lambda t: t.number)
    ]
    extra: dict[str, Any] = {"study": study.study_name, "space": spec["space"], **(info or {})}
    pairs = [
        (t.user_attrs["predicted_accuracy"], t.user_attrs["metrics"]["accuracy"])
        for t in done
        if "predicted_accuracy" in t.user_attrs
    ]
    n_screened = sum(1 for t in all_trials if t.user_attrs.get(STATUS_ATTR) == "screened")
    if pairs or n_screened:
        tau = float(kendalltau(*zip(*pairs)).statistic) if len(pairs) >= 3 else None
        extra["predictor"] = {"kendall_tau": tau, "n_pairs": len(pairs), "n_screened": n_screened}
    extra["n_over_budget"] = sum(1 for t in all_trials if t.user_attrs.get(STATUS_ATTR) == "over_budget")
    extra["n_duplicates"] = sum(1 for t in all_trials if t.user_attrs.get(STATUS_ATTR) == "duplicate")
    extra["n_running"] = sum(
        1
        for t in all_trials
        if t.state == TrialState.RUNNING
        and t.user_attrs.get("arch_key")
        and owner_state(t.system_attrs.get(OWNER_ATTR)) != "dead"  # an orphan the next search fails
    )
    return SearchResult(
        cands,
        objectives=spec["objectives"],
        budgets=[parse_budget(b) for b in spec["budgets"]],
        reference=spec["reference"],
        info=extra,
        rescored=rescored_candidates(cands, study.user_attrs.get(RESCORED_ATTR)),
    )


def rescored_candidates(cands: list[Candidate], record: Mapping[str, Any] | None) -> list[Candidate]:
    """The candidates of ``cands`` that ``record`` (the study's :data:`RESCORED_ATTR`) holds a score
    for, with that score as accuracy and the search's score as metric ``search_accuracy``."""
    if not record:
        return []
    scores = record["scores"]
    return [
        replace(
            c,
            accuracy=float(scores[c.arch.key]["accuracy"]),
            scorer=str(record["scorer"]),
            metrics={**c.metrics, **scores[c.arch.key], "search_accuracy": c.accuracy},
        )
        for c in cands
        if c.arch.key in scores
    ]


def study_result(storage: str, study_name: str | None = None, *, info: Mapping[str, Any] | None = None) -> SearchResult:
    """Read the current front of a study in ``storage`` (a URL), finished or still running.

    ``study_name`` may be omitted when the storage holds one study. Nothing is written to the study,
    and a SQLite file that does not exist is an error (it is not created).
    """
    if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
        path = Path(storage[len("sqlite:///") :])
        if not path.is_file():
            raise ConfigError(f"no SQLite study file {path}")
    st = open_storage(storage, heartbeat_interval=None)
    assert isinstance(st, BaseStorage)
    names = [s.study_name for s in st.get_all_studies()]
    if study_name is None:
        if len(names) != 1:
            raise ConfigError(f"{without_password(storage)} holds studies {names}; name one with --study")
        study_name = names[0]
    if study_name not in names:
        raise ConfigError(f"no study {study_name!r} in {without_password(storage)} (it holds {names})")
    return collect_result(optuna.load_study(study_name=study_name, storage=st), info=info)


def without_password(url: str) -> str:
    """``url`` with any password removed (libpq still finds one in ``PGPASSWORD`` or ``~/.pgpass``)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 -- not a database URL: nothing to hide
        return url
    return parsed._replace(password=None).render_as_string(hide_password=False) if parsed.password else url


def load_result(path: str | Path, *, live: bool = True) -> SearchResult:
    """Read a search output directory back.

    With ``live`` (default) and a ``study.json`` in the directory (written when the search starts),
    the front is rebuilt from the study itself, so a search that is still running, or one whose
    workers share a PostgreSQL study, shows every trial scored so far; ``info["n_running"]`` counts
    the trials being scored. When the study cannot be opened, the ``pareto.json`` + ``trials.csv``
    snapshot written at the end of the search is read instead (a warning says so).
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"no search output at {p} (expected a directory written by `autogtkd search --out`)")
    d = p if p.is_dir() else p.parent
    pj = d / "pareto.json"
    ref = d / STUDY_FILE
    if live and ref.is_file():
        try:
            doc = json.loads(ref.read_text(encoding="utf-8"))
            return study_result(doc["storage"], doc["study"], info=doc.get("info"))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            problem = f"cannot read {ref}: {exc}"
        except ConfigError as exc:
            problem = str(exc)
        if not pj.is_file():
            raise ConfigError(f"{problem}; and there is no {pj} yet")
        _log.warning("%s; showing the snapshot in %s", problem, pj)
    return read_result_files(d)
