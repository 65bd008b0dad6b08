from __future__ import annotations

import pytest

from autogtkd.budget import ACCEPTED_FORMS, Budget, format_count, parse_budget
from autogtkd.exceptions import BudgetError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300MFLOPs", Budget("flops", 300e6)),
        ("0.3GFLOPs", Budget("flops", 0.3e9)),
        ("300MMACs", Budget("flops", 300e6)),
        ("5e8FLOPs", Budget("flops", 5e8)),
        ("2.5Mparams", Budget("params", 2.5e6)),
        ("800Kparams", Budget("params", 800e3)),
        ("12ms", Budget("latency_ms", 12.0)),
        ("12ms@pixel7", Budget("latency_ms", 12.0, "pixel7")),
        ("1.5ms@cpu-ort_1t", Budget("latency_ms", 1.5, "cpu-ort_1t")),
        (" 300MFLOPs ", Budget("flops", 300e6)),
    ],
)
def test_parse_accepted_forms(text: str, expected: Budget) -> None:
    got = parse_budget(text)
    assert got.metric == expected.metric
    assert got.limit == pytest.approx(expected.limit) and got.target == expected.target


@pytest.mark.parametrize(
    "text", ["", "300", "300M", "300mflops", "300 MB", "abcFLOPs", "12s", "12ms@", "-5MFLOPs", "0MFLOPs", "0ms", "infms"]
)
def test_malformed_budgets_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(BudgetError) as err:
        parse_budget(text)
    message = str(err.value)
    assert ACCEPTED_FORMS in message and "\n" not in message


def test_flops_and_macs_are_synonyms_and_str_round_trips() -> None:
    assert parse_budget("300MFLOPs") == parse_budget("300MMACs")
    for text in ["300MFLOPs", "2.5Mparams", "12ms@pixel7", "12ms"]:
        assert parse_budget(str(parse_budget(text))) == parse_budget(text)


def test_allows_and_format_count() -> None:
    b = parse_budget("300MFLOPs")
    assert b.allows(300e6) and not b.allows(300e6 + 1)
    assert format_count(300_000_000) == "300M" and format_count(2_500_000) == "2.5M"
