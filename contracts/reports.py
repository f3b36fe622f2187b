"""The reports as the API answers them in JSON (`GET /reports/...`): the monthly
supervisor report, the satisfaction survey (SKM) of a quarter and the yearly evaluation.

The report modules compute plain dicts (pure, so a rebuilt read model gives the same
bytes, and the CSV and HTML renderings read the same dict); these Structs mirror those
dicts key for key, in their order, so the OpenAPI document shows every figure and a
drifting report fails loudly at the boundary (`msgspec.convert`) instead of silently.
"""

from __future__ import annotations

import msgspec

from contracts.evaluations import EvaluationView
from contracts.vocabulary import Tier


class Period(msgspec.Struct, kw_only=True):
    """[from, to) in Asia/Jakarta, ISO 8601."""

    from_: str = msgspec.field(name="from")
    to: str


# -- the satisfaction survey (SKM/IKM, PermenPANRB 14/2017) -----------------------------
class Sample(msgspec.Struct, kw_only=True):
    """Whether the respondents reach the regulation's minimum (Krejcie and Morgan) for
    the population served; all null but `respondents` when the population is unknown."""

    population: int | None
    required: int | None
    respondents: int
    sufficient: bool | None


class ElementScore(msgspec.Struct, kw_only=True):
    """One of the nine elements (unsur); null figures: nobody answered it."""

    name: str
    """Its name in the regulation."""
    answers: int
    average: float | None
    """Average score, 1-4."""
    score: float | None
    """The average on the IKM's 25-100 scale."""
    grade: str | None


class IkmSummary(msgspec.Struct, kw_only=True):
    """The published figures of a set of survey answers."""

    ikm: float | None
    """25-100, rounded half up to 2 decimals only at the end; null without any answer."""
    grade: str | None
    """A (sangat baik) to D (tidak baik), of the published IKM."""
    grade_label: str | None
    respondents: int
    perception: float | None
    """The weighted average score, 1-4, to 4 decimals."""
    weight: str | None
    """Each answered element's weight: `1/9`, or `1/8` when one element had no answers."""
    unanswered_elements: list[str]
    """Elements nobody answered: left out of the index."""
    elements: dict[str, ElementScore]
    """Every element, weakest first."""
    weakest_first: list[str]
    sample: Sample


class SurveyFigures(msgspec.Struct, kw_only=True):
    """The survey answers of a month: how many, and their IKM and grade (the quarterly
    report has the elements)."""

    respondents: int
    ikm: float | None
    grade: str | None


class ElementVsComplaints(msgspec.Struct, kw_only=True):
    """An element's score beside the complaints of the period about the same component of
    the service standard (`problem_type_of_element`)."""

    element: str
    name: str
    average: float | None
    score: float | None
    grade: str | None
    answers: int
    problem_type: str
    complaints: int
    shared: bool
    """The problem type `other` stands beside two elements: the same complaints twice,
    not twice as many."""


class ComplaintsByProblemType(msgspec.Struct, kw_only=True):
    received: int
    by_problem_type: dict[str, int]
    """Every problem type, then `unclassified` when some were not classified yet."""


class IkmOfPeriod(IkmSummary):
    """The IKM figures of a period, `period`, `from` and `to` first: msgspec puts a
    class's positional fields before the keyword-only ones it inherits."""

    period: str
    from_: str = msgspec.field(name="from")
    to: str


class SatisfactionReport(IkmOfPeriod, kw_only=True):
    """`GET /reports/satisfaction/{YYYY-Qn}`: the IKM of the quarter, the complaints
    beside the elements, and the IKM of each service."""

    complaints: ComplaintsByProblemType
    elements_vs_complaints: list[ElementVsComplaints]
    by_service: dict[str, IkmSummary]
    by_channel: dict[str, int]
    problem_type_of_element: dict[str, str]


# -- the monthly supervisor report --------------------------------------------------------
class WorkingDaysToIssue(msgspec.Struct, kw_only=True):
    median: float | None
    p90: float | None


class MonthlyApplications(msgspec.Struct, kw_only=True):
    received: int
    declared_complete: int
    issued: int
    rejected: int
    withdrawn: int
    issued_within_sla: int
    share_issued_within_sla: float | None
    """0-1, to 4 decimals; null when none was issued."""
    working_days_to_issue: WorkingDaysToIssue
    backlog_at_month_end: int
    breached: int


class Findings(msgspec.Struct, kw_only=True):
    """Step 6.e: what carrying out the handling plan proved, by outcome."""

    proven: int
    not_proven: int
    partly_proven: int


class ComplaintCounts(msgspec.Struct, kw_only=True):
    """Complaints of a month or a year, each counted in the month it was recorded."""

    received: int
    """Complaints only; suggestions are counted apart."""
    suggestions: int
    reclassified: int
    """Suggestions (late ones) taken on as complaints: their clock runs from then."""
    by_channel: dict[str, int]
    """Complaints and suggestions received, by channel."""
    by_problem_type: dict[str, int]
    """Complaints classified, by problem type."""
    by_track: dict[str, int]
    """Resolution tracks chosen."""
    apip: int
    findings: Findings
    answered: int
    """Complaints answered (a suggestion has no clock: `suggestions_answered`)."""
    answered_within_sla: int
    share_answered_within_sla: float | None
    suggestions_answered: int
    """Suggestions acknowledged: counted apart, never within or beyond a deadline."""


class MonthlyComplaints(ComplaintCounts, kw_only=True):
    open_at_month_end: int
    breached: int


class Escalations(msgspec.Struct, kw_only=True):
    manual: int
    automatic: int


class OfficerFigures(msgspec.Struct, kw_only=True):
    """One officer's month (or year): the cases whose clock stopped while they held them."""

    name: str | None
    """As the staff register names them; null for an actor it does not hold."""
    cases_handled: int
    median_working_days: float | None
    breached: int
    """Of those cases, how many had missed a deadline."""


class LaterCorrection(msgspec.Struct, kw_only=True):
    """A calendar correction declared after the month ended, of a day before its end: it
    moved the deadlines of clocks then still going, so the month's breaches may differ
    from the report as first read."""

    date: str
    kind: str
    reason: str
    declared_at: str
    declared_by: str


class MonthlyReport(msgspec.Struct, kw_only=True):
    """`GET /reports/monthly/{YYYY-MM}`: everything counted by the month (Asia/Jakarta)
    in which it happened; a closed month's figures do not change afterwards, but for a
    calendar correction declared later (then named here)."""

    month: str
    period: Period
    applications: MonthlyApplications
    complaints: MonthlyComplaints
    escalations_by_tier: dict[Tier, Escalations]
    days_per_tier: dict[Tier, float]
    by_officer: dict[str, OfficerFigures]
    """Per officer (actor id), the cases whose clock stopped in the month."""
    surveys: SurveyFigures
    calendar_corrections_after_month_end: list[LaterCorrection]
    """The only thing that changes a closed month's figures, named."""


# -- the yearly evaluation of the service standard ----------------------------------------
class YearlyApplications(msgspec.Struct, kw_only=True):
    received: int
    issued: int
    issued_within_sla: int
    share_issued_within_sla: float | None
    rejected: int
    breached: int


class YearlyComplaints(msgspec.Struct, kw_only=True):
    answered: int
    answered_within_sla: int
    share_answered_within_sla: float | None
    breached: int


class MonthCompliance(msgspec.Struct, kw_only=True):
    share_issued_within_sla: float | None
    applications_breached: int
    share_answered_within_sla: float | None
    complaints_breached: int


class YearlySla(msgspec.Struct, kw_only=True):
    """Summed from the twelve monthly reports, so the two never disagree."""

    applications: YearlyApplications
    complaints: YearlyComplaints
    by_month: dict[str, MonthCompliance]


class ComplaintHandling(ComplaintCounts, kw_only=True):
    """Summed from the twelve monthly reports."""

    breached: int
    open_at_year_end: int | None
    """As the last month ended; null when the year has no months yet."""


class QuarterFigures(msgspec.Struct, kw_only=True):
    ikm: float | None
    grade: str | None
    respondents: int
    sample_sufficient: bool | None
    weakest: str | None


class Trend(msgspec.Struct, kw_only=True):
    """The IKM's change from the first quarter surveyed to the last."""

    first: str | None
    last: str | None
    change: float | None


class YearlySatisfaction(IkmSummary, kw_only=True):
    """The IKM of the whole year, and of each quarter."""

    quarters: dict[str, QuarterFigures]
    quarters_surveyed: int
    surveyed_every_quarter: bool
    """The seed asks for a survey every quarter."""
    trend: Trend


class YearlyReport(msgspec.Struct, kw_only=True):
    """`GET /reports/yearly/{YYYY}`: SLA compliance, complaint handling and the IKM."""

    year: int
    period: Period
    sla: YearlySla
    complaint_handling: ComplaintHandling
    satisfaction: YearlySatisfaction
    complaints_by_problem_type: dict[str, int]
    elements_vs_complaints: list[ElementVsComplaints]
    by_officer: dict[str, OfficerFigures]
    """Per officer (actor id), the cases whose clock stopped in the year."""
    evaluations: list[EvaluationView]
    """The head's evaluations of the year and their improvement plans, as recorded."""
