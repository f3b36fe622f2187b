"""The monthly, quarterly and yearly reports as a head of office signs them: every figure
with its unit, beside its target (the service standard's 7 and 14 working days, every
case within them, no breach) and the previous period's figure, the office named and the
period in words; printable on A4 and as a PDF.

The figures are the read side's own reports (`projections.monthly_report`,
`satisfaction_report`, `yearly_report`: the same dicts the JSON and CSV endpoints
answer); this module only arranges them for the page (`templates/report.html`). The PDF
is that page printed by WeasyPrint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from services.console.i18n import N_, Speaker
from services.console.labels import vocabulary_label
from services.domain.clock import JAKARTA
from services.surveys import ikm

Kind = Literal["count", "share", "days", "calendar_days", "index", "grade", "text"]
Period = Literal["monthly", "quarterly", "yearly"]

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
YEAR = re.compile(r"^(\d{4})$")
ROMAN = ("I", "II", "III", "IV")
GRADE_B = float(next(lowest for grade, lowest, _ in ikm.GRADES if grade == "B"))
"""The lowest IKM of grade B (baik), PermenPANRB 14/2017: the office's floor."""


@dataclass(frozen=True)
class Targets:
    """The service standard's promises the figures are read against."""

    application_days: tuple[int, ...]
    """The catalogue's deadlines (7 working days for KBLI 10510)."""
    complaint_days: int
    """14 working days to answer a complaint."""

    @property
    def application_days_text(self) -> str:
        days = sorted(set(self.application_days))
        return str(days[0]) if len(days) == 1 else f"{days[0]}–{days[-1]}"

    @property
    def application_days_max(self) -> int:
        return max(self.application_days)


@dataclass(frozen=True)
class Figure:
    label: str
    """A message."""
    value: Any
    kind: Kind = "count"
    previous: Any = None
    target: str = ""
    """A message; `target_values` fill it."""
    target_values: Mapping[str, object] = field(default_factory=dict)
    met: bool | None = None
    """Whether the figure meets its target (None: no target, or nothing to judge)."""
    path: tuple[str, ...] = ()
    """Where the report holds it (`applications`, `share_issued_within_sla`)."""

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[tuple[str, float | None]]
    """(name, value); None: nothing to measure (no case issued that month), shown "—"."""
    vocabulary: str | None = None
    """The fixed list the bars' names come from (labelled), None: shown as they are."""
    kind: Kind = "count"

    @property
    def top(self) -> float:
        return max((v for _, v in self.bars if v is not None), default=0) or 1


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    """Messages."""
    rows: list[list[tuple[Kind, Any]]]
    first_column_vocabulary: str | None = None


@dataclass
class Section:
    title: str
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""
    note_values: Mapping[str, object] = field(default_factory=dict)


@dataclass
class ReportPage:
    period: Period
    key: str
    """2026-03, 2026-Q1, 2026."""
    title: str
    period_words: str
    previous_key: str
    previous_words: str
    sections: list[Section]


# -- periods -----------------------------------------------------------------------------
def check_key(period: Period, key: str) -> bool:
    pattern = {"monthly": MONTH, "quarterly": QUARTER, "yearly": YEAR}[period]
    match = pattern.match(key)
    return match is not None and 2000 <= int(match.group(1)) <= 2100


def previous_key(period: Period, key: str) -> str:
    if period == "monthly":
        year, month = (int(x) for x in key.split("-"))
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    if period == "quarterly":
        year, n = int(key[:4]), int(key[-1])
        return f"{year - 1}-Q4" if n == 1 else f"{year}-Q{n - 1}"
    return str(int(key) - 1)


def current_key(period: Period, now: datetime) -> str:
    local = now.astimezone(JAKARTA)
    if period == "monthly":
        return f"{local:%Y-%m}"
    if period == "quarterly":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return str(local.year)


def in_words(period: Period, key: str, say: Speaker) -> str:
    """"Maret 2026 (1 Maret 2026 – 31 Maret 2026)", "Triwulan I 2026 (Januari – Maret
    2026)", "Tahun 2026"."""
    if period == "monthly":
        year, month = (int(x) for x in key.split("-"))
        first = date(year, month, 1)
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1))
        return f"{say.month(first)} ({say.date(first)} – {say.date(last)})"
    if period == "quarterly":
        year, n = int(key[:4]), int(key[-1])
        first, last = date(year, 3 * n - 2, 1), date(year, 3 * n, 1)
        return say(N_("Quarter %(roman)s %(year)s (%(first)s – %(last)s)"), roman=ROMAN[n - 1],
                   year=year, first=say.month(first).rsplit(" ", 1)[0], last=say.month(last))
    return say(N_("Year %(year)s"), year=key)


def first_day(month: str) -> date:
    """`YYYY-MM` → its first day."""
    return date(int(month[:4]), int(month[5:7]), 1)


# -- figures -----------------------------------------------------------------------------
def _get(report: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = report
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _share(label: str, report: Mapping[str, Any], previous: Mapping[str, Any] | None,
           *path: str) -> Figure:
    value = _get(report, *path)
    return Figure(label, value, "share", _get(previous, *path), N_("100%"),
                  met=None if value is None else value >= 1.0, path=path)


def _count(label: str, report: Mapping[str, Any], previous: Mapping[str, Any] | None,
           *path: str, zero_target: bool = False) -> Figure:
    value = _get(report, *path)
    if zero_target:
        return Figure(label, value, "count", _get(previous, *path), N_("none"),
                      met=None if value is None else value == 0, path=path)
    return Figure(label, value, "count", _get(previous, *path), path=path)


def _days(label: str, report: Mapping[str, Any], previous: Mapping[str, Any] | None,
          limit: int, limit_text: str, *path: str) -> Figure:
    value = _get(report, *path)
    return Figure(label, value, "days", _get(previous, *path),
                  N_("at most %(days)s working days"), {"days": limit_text},
                  met=None if value is None else value <= limit, path=path)


def _bars(data: Mapping[str, Any] | None) -> list[tuple[str, float | None]]:
    return [(str(k), None if v is None else float(v)) for k, v in (data or {}).items()]


def _applications(report: Mapping[str, Any], previous: Mapping[str, Any] | None,
                  targets: Targets, path: tuple[str, ...] = ("applications",)) -> list[Figure]:
    days, text = targets.application_days_max, targets.application_days_text
    return [
        _count(N_("Applications received"), report, previous, *path, "received"),
        _count(N_("Files declared complete"), report, previous, *path, "declared_complete"),
        _count(N_("Certificates issued"), report, previous, *path, "issued"),
        _count(N_("Issued within the deadline"), report, previous, *path, "issued_within_sla"),
        _share(N_("Share issued within the deadline"), report, previous, *path,
               "share_issued_within_sla"),
        _days(N_("Working days to issue (median)"), report, previous, days, text,
              *path, "working_days_to_issue", "median"),
        _days(N_("Working days to issue (90th percentile)"), report, previous, days, text,
              *path, "working_days_to_issue", "p90"),
        _count(N_("Rejected"), report, previous, *path, "rejected"),
        _count(N_("Withdrawn"), report, previous, *path, "withdrawn"),
        _count(N_("Still open at the end of the month"), report, previous, *path,
               "backlog_at_month_end"),
        _count(N_("Deadlines breached"), report, previous, *path, "breached",
               zero_target=True),
    ]


def _present(figures: list[Figure], report: Mapping[str, Any]) -> list[Figure]:
    """The figures this report has (a yearly report counts fewer things than a monthly
    one)."""
    return [f for f in figures
            if isinstance(parent := _get(report, *f.path[:-1]), Mapping) and f.path[-1] in parent]


def _complaints(report: Mapping[str, Any], previous: Mapping[str, Any] | None,
                section: str, targets: Targets) -> Section:
    s = Section(N_("Complaints"), note=N_("The deadline: an answer within %(days)s working "
                                          "days of receipt."),
                note_values={"days": targets.complaint_days})
    s.figures = _present([
        _count(N_("Complaints received"), report, previous, section, "received"),
        _count(N_("Suggestions received"), report, previous, section, "suggestions"),
        _count(N_("Answered"), report, previous, section, "answered"),
        _count(N_("Answered within the deadline"), report, previous, section,
               "answered_within_sla"),
        _share(N_("Share answered within the deadline"), report, previous, section,
               "share_answered_within_sla"),
        _count(N_("Suggestions reclassified as complaints"), report, previous, section,
               "reclassified"),
        _count(N_("Suggestions acknowledged"), report, previous, section,
               "suggestions_answered"),
        _count(N_("Handled with APIP"), report, previous, section, "apip"),
        _count(N_("Still open at the end of the month"), report, previous, section,
               "open_at_month_end"),
        _count(N_("Still open at the end of the year"), report, previous, section,
               "open_at_year_end"),
        _count(N_("Deadlines breached"), report, previous, section, "breached",
               zero_target=True),
    ], report)
    s.charts = [
        Chart(N_("Complaints by channel"), _bars(_get(report, section, "by_channel")),
              "channel"),
        Chart(N_("Complaints by problem type"),
              _bars(_get(report, section, "by_problem_type")), "problem_type"),
        Chart(N_("Complaints by resolution track"), _bars(_get(report, section, "by_track")),
              "track"),
        Chart(N_("Findings of the investigations (step 6.e)"),
              _bars(_get(report, section, "findings")), "finding"),
    ]
    return s


def _officers(report: Mapping[str, Any], period_note: str) -> Section:
    """Who saw which cases through: the service guarantee's sanctions need to know."""
    s = Section(N_("Each officer"), note=period_note)
    s.tables = [Table(N_("Cases whose clock stopped while the officer held them"),
                      [N_("Officer"), N_("Name"), N_("Cases handled"),
                       N_("Working days taken (median)"), N_("Deadlines breached")],
                      [[("text", officer), ("text", v.get("name") or "—"),
                        ("count", v.get("cases_handled")),
                        ("days", v.get("median_working_days")), ("count", v.get("breached"))]
                       for officer, v in (report.get("by_officer") or {}).items()])]
    return s


def _corrections(report: Mapping[str, Any], say: Speaker) -> Section | None:
    """Calendar corrections declared after the month ended: the one thing that may
    change a closed month's figures, so the report names them."""
    corrections = report.get("calendar_corrections_after_month_end") or []
    if not corrections:
        return None
    s = Section(N_("Calendar corrections declared after the month ended"),
                note=N_("They moved the deadlines of clocks still running; the figures "
                        "above count them."))
    s.tables = [Table(N_("Corrections"), [N_("Date"), N_("Now"), N_("Reason"),
                                          N_("Declared on"), N_("Declared by")],
                      [[("text", say.date(date.fromisoformat(c["date"]))),
                        ("text", say(vocabulary_label("day_kind", c["kind"]))),
                        ("text", c["reason"]),
                        ("text", say.datetime(datetime.fromisoformat(c["declared_at"]))),
                        ("text", c["declared_by"])] for c in corrections])]
    return s


def _evaluations(report: Mapping[str, Any], say: Speaker) -> Section:
    """The head's evaluations of the year and their improvement plans, as recorded."""
    s = Section(N_("Evaluation and improvement plan"),
                note=N_("As the head of office recorded them (POST /evaluations)."))
    for e in report.get("evaluations") or []:
        recorded = say.date(datetime.fromisoformat(str(e["recorded_at"])).astimezone(JAKARTA))
        s.tables.append(Table(
            say(N_("Evaluation of %(date)s by %(who)s: %(summary)s"), date=recorded,
                who=e["recorded_by"], summary=e["summary"]),
            [N_("Action"), N_("Owner"), N_("Due"), N_("Done")],
            [[("text", a["action"]), ("text", a["owner"]),
              ("text", say.date(date.fromisoformat(str(a["due_on"])))),
              ("text", say(N_("Yes")) if a.get("done") else say(N_("Not yet")))]
             for a in e.get("actions") or []]))
    if not s.tables:
        s.note = N_("No evaluation recorded for this year yet.")
    return s


def _elements_table(report: Mapping[str, Any]) -> Table:
    return Table(N_("Each element, weakest first, beside the complaints about it"),
                 [N_("Element"), N_("Average (1–4)"), N_("Score (25–100)"),
                  N_("Grade"), N_("Complaints of this kind")],
                 [[("text", e.get("name")), ("index", e.get("average")),
                   ("index", e.get("score")), ("grade", e.get("grade")),
                   ("count", e.get("complaints"))]
                  for e in report.get("elements_vs_complaints") or []])


def _survey(say: Speaker, report: Mapping[str, Any] | None,
            previous: Mapping[str, Any] | None, *path: str) -> list[Figure]:
    return [
        _count(N_("Survey respondents"), report or {}, previous, *path, "respondents"),
        Figure(N_("Satisfaction index (IKM, 25–100)"), _get(report, *path, "ikm"), "index",
               _get(previous, *path, "ikm"), N_("at least %(ikm)s (grade B)"),
               {"ikm": say.number(GRADE_B)}, met=None if _get(report, *path, "ikm") is None
               else _get(report, *path, "ikm") >= GRADE_B, path=(*path, "ikm")),
        Figure(N_("Grade"), _get(report, *path, "grade"), "grade",
               _get(previous, *path, "grade"), path=(*path, "grade")),
    ]


def monthly(report: Mapping[str, Any], previous: Mapping[str, Any] | None,
            targets: Targets, say: Speaker) -> ReportPage:
    key = str(report["month"])
    apps = Section(N_("Licence applications"), _applications(report, previous, targets),
                   note=N_("The deadline: %(days)s working days from a complete file."),
                   note_values={"days": targets.application_days_text})
    apps.charts = [Chart(N_("Applications this month"), [
        (N_("Received"), float(_get(report, "applications", "received") or 0)),
        (N_("Files declared complete"),
         float(_get(report, "applications", "declared_complete") or 0)),
        (N_("Issued"), float(_get(report, "applications", "issued") or 0)),
        (N_("Rejected"), float(_get(report, "applications", "rejected") or 0)),
        (N_("Breached"), float(_get(report, "applications", "breached") or 0)),
    ], vocabulary="message")]
    escalations = Section(N_("Escalations and time at each tier"))
    escalations.tables = [Table(N_("Escalations to each tier"),
                                [N_("Tier"), N_("By hand"), N_("Automatic (breach)")],
                                [[("text", tier), ("count", v.get("manual")),
                                  ("count", v.get("automatic"))]
                                 for tier, v in (report.get("escalations_by_tier") or {}).items()],
                                first_column_vocabulary="tier")]
    escalations.charts = [Chart(N_("Calendar days cases spent at each tier"),
                                _bars(report.get("days_per_tier")), "tier", "calendar_days")]
    survey = Section(N_("Satisfaction survey (SKM)"), _survey(say, report, previous, "surveys"))
    officers = _officers(report, N_("Cases issued, rejected or answered this month."))
    corrections = _corrections(report, say)
    return ReportPage("monthly", key, N_("Monthly service report"),
                      in_words("monthly", key, say), previous_key("monthly", key),
                      in_words("monthly", previous_key("monthly", key), say),
                      [apps, _complaints(report, previous, "complaints", targets), escalations,
                       officers, survey, *([corrections] if corrections else [])])


def _months_table(months: Sequence[Mapping[str, Any]], say: Speaker) -> Table:
    return Table(N_("Each month"), [N_("Month"), N_("Issued within the deadline"),
                                    N_("Applications breached"),
                                    N_("Answered within the deadline"),
                                    N_("Complaints breached")],
                 [[("text", say.month(first_day(str(m["month"])))),
                   ("share", _get(m, "share_issued_within_sla")),
                   ("count", _get(m, "applications_breached")),
                   ("share", _get(m, "share_answered_within_sla")),
                   ("count", _get(m, "complaints_breached"))] for m in months])


def quarterly(report: Mapping[str, Any], previous: Mapping[str, Any] | None,
              months: Sequence[Mapping[str, Any]], targets: Targets, say: Speaker
              ) -> ReportPage:
    """`report`: the satisfaction report of the quarter; `months`: its three monthly
    reports (for the deadlines)."""
    key = str(report["period"])
    survey = Section(N_("Satisfaction survey (SKM)"), _survey(say, report, previous),
                     note=N_("The index of PermenPANRB 14/2017; the grade of the published "
                             "figure."))
    survey.figures.append(Figure(N_("Complaints received"), _get(report, "complaints",
                                                                 "received"),
                                 previous=_get(previous, "complaints", "received")))
    survey.tables = [_elements_table(report), Table(
        N_("Each service"), [N_("Service"), N_("Satisfaction index"), N_("Grade"),
                             N_("Respondents"), N_("Respondents required")],
        [[("text", code), ("index", v.get("ikm")), ("grade", v.get("grade")),
          ("count", v.get("respondents")), ("count", _get(v, "sample", "required"))]
         for code, v in (report.get("by_service") or {}).items()])]
    survey.charts = [Chart(N_("Complaints by problem type"),
                           _bars(_get(report, "complaints", "by_problem_type")), "problem_type"),
                     Chart(N_("Score of each element (25–100)"),
                           [(str(e.get("name")), e.get("score"))
                            for e in report.get("elements_vs_complaints") or []],
                           None, "index")]
    deadlines = Section(N_("Deadlines, month by month"),
                        note=N_("Applications: %(days)s working days; complaints: "
                                "%(complaint_days)s working days."),
                        note_values={"days": targets.application_days_text,
                                     "complaint_days": targets.complaint_days})
    deadlines.tables = [_months_table([{
        "month": m["month"],
        "share_issued_within_sla": _get(m, "applications", "share_issued_within_sla"),
        "applications_breached": _get(m, "applications", "breached"),
        "share_answered_within_sla": _get(m, "complaints", "share_answered_within_sla"),
        "complaints_breached": _get(m, "complaints", "breached")} for m in months], say)]
    return ReportPage("quarterly", key, N_("Quarterly service report"),
                      in_words("quarterly", key, say), previous_key("quarterly", key),
                      in_words("quarterly", previous_key("quarterly", key), say),
                      [survey, deadlines])


def yearly(report: Mapping[str, Any], previous: Mapping[str, Any] | None,
           targets: Targets, say: Speaker) -> ReportPage:
    key = str(report["year"])
    sla = Section(N_("Licence applications"),
                  _present(_applications(report, previous, targets, ("sla", "applications")),
                           report),
                  note=N_("The deadline: %(days)s working days from a complete file."),
                  note_values={"days": targets.application_days_text})
    by_month = [{"month": m, **v} for m, v in (_get(report, "sla", "by_month") or {}).items()]
    sla.tables = [_months_table(by_month, say)]
    sla.charts = [Chart(N_("Share issued within the deadline, each month"),
                        [(say.month(first_day(m["month"])), m.get("share_issued_within_sla"))
                         for m in by_month],
                        None, "share")]
    complaints = _complaints(report, previous, "complaint_handling", targets)
    sat = Section(N_("Satisfaction survey (SKM)"), _survey(say, report, previous, "satisfaction"))
    quarters = _get(report, "satisfaction", "quarters") or {}
    sat.tables = [Table(N_("Each quarter"), [N_("Quarter"), N_("Satisfaction index"),
                                             N_("Grade"), N_("Respondents")],
                        [[("text", say(N_("Quarter %(roman)s"), roman=ROMAN[int(q[-1]) - 1])),
                          ("index", v.get("ikm")), ("grade", v.get("grade")),
                          ("count", v.get("respondents"))] for q, v in quarters.items()]),
                  _elements_table(report)]
    officers = _officers(report, N_("Cases issued, rejected or answered this year."))
    return ReportPage("yearly", key, N_("Yearly evaluation of the service standard"),
                      in_words("yearly", key, say), previous_key("yearly", key),
                      in_words("yearly", previous_key("yearly", key), say),
                      [sla, complaints, officers, sat, _evaluations(report, say)])


def pdf(html: str) -> bytes:
    """The printed page (A4, from its own print styles). The page holds everything it
    shows (its style sheet inline, its charts as SVG), so nothing is fetched: a URL in
    it is refused rather than requested from the server's side."""
    from weasyprint import HTML  # heavy: loaded only when a PDF is asked for
    from weasyprint.urls import URLFetcher

    nothing = URLFetcher(allowed_protocols=("data",))
    return bytes(HTML(string=html, url_fetcher=nothing).write_pdf())
