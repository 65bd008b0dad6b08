from __future__ import annotations

import pytest


@pytest.mark.postgres
def test_private_postgres_server_accepts_an_optuna_study(postgres_url: str) -> None:
    import optuna

    storage = optuna.storages.RDBStorage(postgres_url)
    study = optuna.create_study(storage=storage, study_name="fixture-check")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(optuna.load_study(study_name="fixture-check", storage=postgres_url).trials) == 3
