"""The IKM of PermenPANRB 14/2017 against worked examples: exact 1/9 weights, skipped
and unanswered elements, rounding only at the end, every grade boundary, and the
Krejcie-Morgan sample."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from services.surveys.ikm import (
    ELEMENTS,
    KREJCIE_MORGAN,
    grade_of,
    index,
    quarter_bounds,
    quarter_of,
    required_sample,
    round_half_up,
    summary,
)

WIB = ZoneInfo("Asia/Jakarta")


def everywhere(score: int) -> dict[str, int]:
    """One respondent giving the same score to all nine elements."""
    return dict.fromkeys(ELEMENTS, score)


def crowd(*groups: tuple[int, int]) -> list[dict[str, int]]:
    """(how many respondents, the score each gives everywhere)."""
    return [everywhere(score) for n, score in groups for _ in range(n)]


# -- worked examples ------------------------------------------------------------------
def test_all_fours_is_exactly_100_not_99_as_a_rounded_weight_of_0_11_would_give() -> None:
    report = summary([everywhere(4)])
    assert report["ikm"] == 100.0 and report["grade"] == "A"
    assert report["perception"] == 4.0 and report["weight"] == "1/9"
    # With the rounded weight 0.11: 9 x 4 x 0.11 x 25 = 99.00.
    assert round(9 * 4 * 0.11 * 25, 2) == 99.0


def test_all_ones_is_25_grade_d() -> None:
    report = summary(crowd((3, 1)))
    assert (report["ikm"], report["grade"], report["grade_label"]) == (25.0, "D", "tidak baik")


def test_skipped_elements_average_over_the_answers_given_for_each() -> None:
    responses = [
        everywhere(4),
        {k: 3 for k in ELEMENTS if k not in ("fee", "complaint_handling")},
        {"requirements": 2, "time": 2, "behaviour": 4},
    ]
    # requirements (4+3+2)/3 = 3      procedure (4+3)/2 = 3.5     time (4+3+2)/3 = 3
    # fee 4/1 = 4                     product 3.5                 competence 3.5
    # behaviour (4+3+4)/3 = 11/3      facilities 3.5              complaint_handling 4/1 = 4
    # sum = 95/3; perception = 95/27; IKM = 25 x 95/27 = 2375/27 = 87.962962... → 87.96 (B)
    assert index(responses) == Fraction(2375, 27)
    report = summary(responses)
    assert report["ikm"] == 87.96 and report["grade"] == "B" and report["grade_label"] == "baik"
    assert report["respondents"] == 3
    assert report["perception"] == 3.5185  # 95/27 = 3.518518...
    assert report["elements"]["requirements"] == {
        "name": "Persyaratan", "answers": 3, "average": 3.0, "score": 75.0, "grade": "C"}
    assert report["elements"]["behaviour"]["average"] == 3.67
    assert report["elements"]["behaviour"]["score"] == 91.67
    assert report["elements"]["fee"]["answers"] == 1
    # Weakest first; ties keep the regulation's order.
    assert report["weakest_first"] == [
        "requirements", "time", "procedure", "product", "competence", "facilities",
        "behaviour", "fee", "complaint_handling"]
    assert list(report["elements"]) == report["weakest_first"]
    # Not the mean of each respondent's own mean (that would be 85.65...).
    per_person = [sum(r.values()) / len(r) for r in responses]
    assert round(sum(per_person) / 3 * 25, 2) != report["ikm"]


def test_rounding_happens_only_at_the_end() -> None:
    # Every element averages 10/3 = 3.333...: exact IKM 83.333... → 83.33. Rounding each
    # average to 3.33 first would give 83.25.
    responses = crowd((1, 4), (1, 3), (1, 3))
    assert summary(responses)["ikm"] == 83.33
    assert round(round(10 / 3, 2) * 25, 2) == 83.25


def test_an_element_nobody_answered_spreads_its_weight_over_the_answered_ones() -> None:
    # Nobody has complained, so nobody scores complaint handling: the IKM is over eight
    # elements, 1/8 each (the regulation's "unsur yang terisi"), not a zero for the ninth.
    responses = [{k: 4 for k in ELEMENTS if k != "complaint_handling"}] * 2
    report = summary(responses)
    assert report["ikm"] == 100.0 and report["grade"] == "A"
    assert report["weight"] == "1/8"
    assert report["unanswered_elements"] == ["complaint_handling"]
    assert report["weakest_first"][-1] == "complaint_handling"
    assert report["elements"]["complaint_handling"] == {
        "name": "Penanganan pengaduan, saran dan masukan", "answers": 0, "average": None,
        "score": None, "grade": None}

    mixed = [{"requirements": 2, "time": 4}, {"requirements": 3}]
    # requirements 5/2, time 4: perception (5/2 + 4)/2 = 13/4 → IKM 81.25 (B)
    assert summary(mixed)["ikm"] == 81.25 and summary(mixed)["weight"] == "1/2"


def test_no_answers_at_all_has_no_ikm() -> None:
    report = summary([], population=120)
    assert report["ikm"] is None and report["grade"] is None and report["perception"] is None
    assert report["respondents"] == 0 and report["weight"] is None
    assert report["unanswered_elements"] == list(ELEMENTS)
    assert report["sample"] == {"population": 120, "required": 92, "respondents": 0,
                                "sufficient": False}


def test_a_score_outside_1_to_4_is_not_counted_silently() -> None:
    with pytest.raises(ValueError):
        index([{"time": 5}])
    with pytest.raises(ValueError):
        index([{"behavior": 3}])


# -- grade boundaries, with real respondents ---------------------------------------------
# 5,000 respondents who each give one score to all nine elements: the perception is
# total / 5000, so IKMs with a third decimal are reachable exactly.
@pytest.mark.parametrize(("groups", "exact", "published", "grade"), [
    (((2661, 4), (2339, 3)), "88.305", 88.31, "A"),   # half up: 88.305 → 88.31
    (((2660, 4), (2340, 3)), "88.3", 88.30, "B"),
    (((322, 4), (4678, 3)), "76.61", 76.61, "B"),
    (((321, 4), (4679, 3)), "76.605", 76.61, "B"),    # half up into B
    (((320, 4), (4680, 3)), "76.6", 76.60, "C"),
    (((3000, 3), (2000, 2)), "65", 65.00, "C"),
    (((2999, 3), (2001, 2)), "64.995", 65.00, "C"),   # half up into C
    (((2998, 3), (2002, 2)), "64.99", 64.99, "D"),
])
def test_grade_boundaries_on_the_published_ikm(groups: tuple[tuple[int, int], ...],
                                               exact: str, published: float,
                                               grade: str) -> None:
    responses = crowd(*groups)
    assert index(responses) == Fraction(exact)
    report = summary(responses)
    assert report["ikm"] == published and report["grade"] == grade


@pytest.mark.parametrize(("ikm", "grade"), [
    ("100.00", "A"), ("88.31", "A"), ("88.30", "B"), ("76.61", "B"), ("76.60", "C"),
    ("65.00", "C"), ("64.99", "D"), ("25.00", "D"),
])
def test_grade_table(ikm: str, grade: str) -> None:
    assert grade_of(Decimal(ikm))[0] == grade


def test_round_half_up_is_exact() -> None:
    assert round_half_up(Fraction("88.305")) == Decimal("88.31")
    assert round_half_up(Fraction("88.30499999")) == Decimal("88.30")
    # The same sum in binary floats lands just below the half and publishes a B.
    average = (2661 * 4 + 2339 * 3) / 5000
    assert round(sum([average] * 9) * (1 / 9) * 25, 2) == 88.30
    assert summary(crowd((2661, 4), (2339, 3)))["grade"] == "A"


# -- sample size ------------------------------------------------------------------------
def test_krejcie_morgan_table_matches_its_formula() -> None:
    # s = X²NP(1-P) / (d²(N-1) + X²P(1-P)), X² = 3.841, P = 0.5, d = 0.05: a typo in
    # the table would stand out.
    for n, s in KREJCIE_MORGAN:
        formula = 3.841 * n * 0.25 / (0.0025 * (n - 1) + 3.841 * 0.25)
        assert abs(formula - s) <= 1, (n, s, formula)
    assert [n for n, _ in KREJCIE_MORGAN] == sorted(n for n, _ in KREJCIE_MORGAN)


@pytest.mark.parametrize(("population", "required"), [
    (0, 0), (7, 7), (10, 10), (100, 80), (101, 86), (110, 86), (1000, 278), (1001, 285),
    (10_000, 370), (2_000_000, 384),
])
def test_required_sample(population: int, required: int) -> None:
    assert required_sample(population) == required


def test_sample_sufficiency() -> None:
    assert summary(crowd((80, 4)), population=100)["sample"]["sufficient"] is True
    assert summary(crowd((79, 4)), population=100)["sample"]["sufficient"] is False
    assert summary(crowd((1, 4)))["sample"]["sufficient"] is None  # population unknown


# -- periods ------------------------------------------------------------------------------
def test_quarters_follow_jakartas_calendar() -> None:
    assert quarter_of(datetime(2026, 3, 31, 23, 59, tzinfo=WIB)) == "2026-Q1"
    assert quarter_of(datetime(2026, 3, 31, 17, 30, tzinfo=ZoneInfo("UTC"))) == "2026-Q2"
    start, end = quarter_bounds("2026-Q4")
    assert start == datetime(2026, 10, 1, tzinfo=WIB) and end == datetime(2027, 1, 1, tzinfo=WIB)
    with pytest.raises(ValueError):
        quarter_bounds("2026-Q5")
