"""The IKM (Indeks Kepuasan Masyarakat) as PermenPANRB 14/2017 computes it. Pure.

    element average  = sum of the scores given for the element / answers given for it
    perception (1-4) = sum of the element averages x 1/9
    IKM (25-100)     = perception x 25, rounded half up to 2 decimals (only at the end)

Every step is an exact fraction; the only rounding is of the published figures. The
grade belongs to the published (rounded) IKM, so a published 88.31 is always an A and a
published 88.30 always a B.

An element that no respondent answered at all (typically complaint handling: most
respondents never complained) drops out of the index and its weight is spread over the
elements that were answered: 1/8 each when one element has no answers. This is the
regulation's own formula, "total nilai persepsi per unsur / total unsur yang terisi"
(the elements filled in), and it keeps the IKM on its 25-100 scale; counting the
unanswered element as 0 would push a perfect service into grade B. The report names such
elements (`unanswered_elements`) and the weight used. With no answers at all the IKM
and its grade are null.

The sample: the regulation sets the minimum number of respondents from the population
served with Krejcie and Morgan's table (1970).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from typing import Any

from contracts.surveys import Scores
from services.domain.clock import JAKARTA

# The nine elements (unsur) of the regulation, in API.md's order (the regulation
# numbers them U1-U9 with complaint handling eighth and facilities ninth): the fields of
# the intake's `scores`.
ELEMENTS: tuple[str, ...] = Scores.__struct_fields__
ELEMENT_NAMES: dict[str, str] = {
    "requirements": "Persyaratan",
    "procedure": "Sistem, mekanisme, dan prosedur",
    "time": "Waktu penyelesaian",
    "fee": "Biaya/tarif",
    "product": "Produk spesifikasi jenis pelayanan",
    "competence": "Kompetensi pelaksana",
    "behaviour": "Perilaku pelaksana",
    "facilities": "Sarana dan prasarana",
    "complaint_handling": "Penanganan pengaduan, saran dan masukan",
}
MIN_SCORE, MAX_SCORE = 1, 4
CONVERSION = 25  # perception 1-4 → IKM 25-100

# The lowest published IKM of each grade (mutu pelayanan), best first.
GRADES: tuple[tuple[str, Decimal, str], ...] = (
    ("A", Decimal("88.31"), "sangat baik"),
    ("B", Decimal("76.61"), "baik"),
    ("C", Decimal("65.00"), "kurang baik"),
    ("D", Decimal("25.00"), "tidak baik"),
)

# Krejcie & Morgan (1970), the table the regulation cites: population N → sample S.
KREJCIE_MORGAN: tuple[tuple[int, int], ...] = (
    (10, 10), (15, 14), (20, 19), (25, 24), (30, 28), (35, 32), (40, 36), (45, 40),
    (50, 44), (55, 48), (60, 52), (65, 56), (70, 59), (75, 63), (80, 66), (85, 70),
    (90, 73), (95, 76), (100, 80), (110, 86), (120, 92), (130, 97), (140, 103),
    (150, 108), (160, 113), (170, 118), (180, 123), (190, 127), (200, 132), (210, 136),
    (220, 140), (230, 144), (240, 148), (250, 152), (260, 155), (270, 159), (280, 162),
    (290, 165), (300, 169), (320, 175), (340, 181), (360, 186), (380, 191), (400, 196),
    (420, 201), (440, 205), (460, 210), (480, 214), (500, 217), (550, 226), (600, 234),
    (650, 242), (700, 248), (750, 254), (800, 260), (850, 265), (900, 269), (950, 274),
    (1000, 278), (1100, 285), (1200, 291), (1300, 297), (1400, 302), (1500, 306),
    (1600, 310), (1700, 313), (1800, 317), (1900, 320), (2000, 322), (2200, 327),
    (2400, 331), (2600, 335), (2800, 338), (3000, 341), (3500, 346), (4000, 351),
    (4500, 354), (5000, 357), (6000, 361), (7000, 364), (8000, 367), (9000, 368),
    (10000, 370), (15000, 375), (20000, 377), (30000, 379), (40000, 380), (50000, 381),
    (75000, 382), (1000000, 384),
)
_KM_POPULATIONS = [n for n, _ in KREJCIE_MORGAN]


# -- rounding and grades --------------------------------------------------------------
def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    """Exact half-up rounding of a non-negative fraction (no binary floats on the way)."""
    scale: int = 10 ** places
    return Decimal(math.floor(value * scale + Fraction(1, 2))) / scale


def grade_of(ikm: Decimal) -> tuple[str, str]:
    """(grade, label) of a published IKM (2 decimals, 25-100)."""
    for grade, lowest, label in GRADES:
        if ikm >= lowest:
            return grade, label
    return GRADES[-1][0], GRADES[-1][2]


def required_sample(population: int) -> int:
    """The minimum number of respondents for a population: the table's row for the
    smallest tabulated population at or above it (never fewer than the table asks);
    below 10 everyone served; above a million, 384."""
    if population <= 0:
        return 0
    if population <= KREJCIE_MORGAN[0][0]:
        return population
    i = bisect.bisect_left(_KM_POPULATIONS, population)
    return KREJCIE_MORGAN[min(i, len(KREJCIE_MORGAN) - 1)][1]


# -- the index ----------------------------------------------------------------------
@dataclass(frozen=True)
class Element:
    """The answers one element got."""

    key: str
    answers: int = 0
    total: int = 0

    @property
    def average(self) -> Fraction | None:
        return Fraction(self.total, self.answers) if self.answers else None


def elements_of(responses: Iterable[Mapping[str, int | None]]) -> dict[str, Element]:
    """Per element: how many answered it and the sum of their scores (None: not answered)."""
    answers = dict.fromkeys(ELEMENTS, 0)
    totals = dict.fromkeys(ELEMENTS, 0)
    for scores in responses:
        for key, score in scores.items():
            if score is None:
                continue
            if key not in answers or not MIN_SCORE <= score <= MAX_SCORE:
                raise ValueError(f"not a survey score: {key}={score!r}")
            answers[key] += 1
            totals[key] += score
    return {k: Element(k, answers[k], totals[k]) for k in ELEMENTS}


def perception(elements: Mapping[str, Element]) -> Fraction | None:
    """The weighted perception (nilai interval, 1-4), exact: each answered element's
    average weighted 1/(elements answered) — exactly 1/9 when all nine were."""
    averages = [e.average for e in elements.values() if e.average is not None]
    if not averages:
        return None
    return sum(averages, Fraction(0)) / len(averages)


def index(responses: Iterable[Mapping[str, int]]) -> Fraction | None:
    """The IKM, exact (25-100), before any rounding; None without any answer."""
    p = perception(elements_of(responses))
    return None if p is None else p * CONVERSION


def weakest_first(elements: Mapping[str, Element]) -> list[str]:
    """Answered elements from the lowest average up (ties in the regulation's order),
    then the unanswered ones."""
    answered = sorted((e for e in elements.values() if e.average is not None),
                      key=lambda e: (e.average, ELEMENTS.index(e.key)))
    return [e.key for e in answered] + [k for k in ELEMENTS if elements[k].answers == 0]


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def sample(population: int | None, respondents: int) -> dict[str, Any]:
    """Whether the respondents reach the regulation's minimum for the population served."""
    if population is None:
        return {"population": None, "required": None, "respondents": respondents,
                "sufficient": None}
    required = required_sample(population)
    return {"population": population, "required": required, "respondents": respondents,
            "sufficient": respondents >= required}


def summary(responses: Sequence[Mapping[str, int]], population: int | None = None,
            ) -> dict[str, Any]:
    """The published figures (JSON-ready): IKM, grade, respondents, each element's score
    weakest first, and the sample check against `population` (people served)."""
    elements = elements_of(responses)
    p = perception(elements)
    ikm = None if p is None else round_half_up(p * CONVERSION)
    grade, label = grade_of(ikm) if ikm is not None else (None, None)
    answered = sum(1 for e in elements.values() if e.answers)
    order = weakest_first(elements)
    return {
        "ikm": _number(ikm),
        "grade": grade,
        "grade_label": label,
        "respondents": len(responses),
        "perception": _number(round_half_up(p, 4)) if p is not None else None,
        "weight": f"1/{answered}" if answered else None,
        "unanswered_elements": [k for k in ELEMENTS if elements[k].answers == 0],
        "elements": {k: element_view(elements[k]) for k in order},
        "weakest_first": order,
        "sample": sample(population, len(responses)),
    }


def element_view(element: Element) -> dict[str, Any]:
    avg = element.average
    score = None if avg is None else round_half_up(avg * CONVERSION)
    return {
        "name": ELEMENT_NAMES[element.key],
        "answers": element.answers,
        "average": _number(round_half_up(avg, 2)) if avg is not None else None,
        "score": _number(score),
        "grade": grade_of(score)[0] if score is not None else None,
    }


# -- periods ----------------------------------------------------------------------------
def quarter_of(instant: datetime) -> str:
    """`YYYY-Qn` of an instant, on Jakarta's calendar."""
    local = instant.astimezone(JAKARTA)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """[start, end) of `YYYY-Qn` in Asia/Jakarta."""
    year_text, _, n_text = quarter.partition("-Q")
    year, n = int(year_text), int(n_text)
    if not 1 <= n <= 4:
        raise ValueError(f"not a quarter: {quarter}")
    start = datetime.combine(date(year, 3 * n - 2, 1), time(0), tzinfo=JAKARTA)
    end = (datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=JAKARTA) if n == 4
           else datetime.combine(date(year, 3 * n + 1, 1), time(0), tzinfo=JAKARTA))
    return start, end


def quarters_of(year: int) -> list[str]:
    return [f"{year}-Q{n}" for n in range(1, 5)]
