"""The reports as a head of office signs them: each figure beside its target and the
previous period, shares as percentages, the period in words."""

from __future__ import annotations

from typing import Any

from services.console import reports
from services.console.i18n import Speaker

TARGETS = reports.Targets(application_days=(7,), complaint_days=14)
ID = Speaker("id")


def month(key: str, *, share: float | None, median: float | None,
          breached: int) -> dict[str, Any]:
    return {
        "month": key, "period": {"from": "", "to": ""},
        "applications": {"received": 12, "declared_complete": 10, "issued": 8,
                         "rejected": 1, "withdrawn": 0, "issued_within_sla": 8,
                         "share_issued_within_sla": share,
                         "working_days_to_issue": {"median": median, "p90": 9.0},
                         "backlog_at_month_end": 3, "breached": breached},
        "complaints": {"received": 4, "suggestions": 1, "by_channel": {"whatsapp": 3},
                       "by_problem_type": {"fee": 2, "time": 2}, "by_track": {"internal": 4},
                       "apip": 0, "answered": 4, "answered_within_sla": 3,
                       "share_answered_within_sla": 0.75, "open_at_month_end": 1,
                       "breached": 1},
        "escalations_by_tier": {"kepala_seksi": {"manual": 1, "automatic": 2}},
        "days_per_tier": {"pelaksana": 20.5},
        "surveys": {"respondents": 30, "ikm": 85.4, "grade": "B"},
    }


def figures(page: reports.ReportPage) -> dict[str, reports.Figure]:
    return {f.key: f for s in page.sections for f in s.figures}


def test_each_figure_stands_beside_its_target_and_the_month_before() -> None:
    page = reports.monthly(month("2026-03", share=1.0, median=4.0, breached=0),
                           month("2026-02", share=0.8, median=8.0, breached=2), TARGETS, ID)
    shown = figures(page)
    share = shown["applications.share_issued_within_sla"]
    assert (share.value, share.previous, share.target, share.met) == (1.0, 0.8, "100%", True)
    median = shown["applications.working_days_to_issue.median"]
    assert (median.value, median.previous, median.met) == (4.0, 8.0, True)
    assert ID(median.target, **median.target_values) == "paling lama 7 hari kerja"
    breached = shown["applications.breached"]
    assert breached.met is True and breached.previous == 2
    assert shown["surveys.ikm"].met is True
    assert ID(shown["surveys.ikm"].target, **shown["surveys.ikm"].target_values) == \
        "paling rendah 76,61 (mutu B)"


def test_a_missed_target_is_marked() -> None:
    page = reports.monthly(month("2026-03", share=0.5, median=9.0, breached=3), None,
                           TARGETS, ID)
    shown = figures(page)
    assert shown["applications.share_issued_within_sla"].met is False
    assert shown["applications.working_days_to_issue.median"].met is False
    assert shown["complaints.share_answered_within_sla"].met is False
    assert shown["applications.share_issued_within_sla"].previous is None  # no month before it


def test_the_period_in_words() -> None:
    assert reports.in_words("monthly", "2026-03", ID) == \
        "Maret 2026 (1 Maret 2026 – 31 Maret 2026)"
    assert reports.in_words("monthly", "2024-02", ID) == \
        "Februari 2024 (1 Februari 2024 – 29 Februari 2024)"
    assert reports.in_words("quarterly", "2026-Q1", ID) == "Triwulan I 2026 (Januari – Maret 2026)"
    assert reports.in_words("yearly", "2026", ID) == "Tahun 2026"
    assert reports.in_words("quarterly", "2026-Q4", Speaker("en")) == \
        "Quarter IV 2026 (October – December 2026)"


def test_the_period_before_and_the_keys_a_report_takes() -> None:
    assert reports.previous_key("monthly", "2026-01") == "2025-12"
    assert reports.previous_key("quarterly", "2026-Q1") == "2025-Q4"
    assert reports.previous_key("yearly", "2026") == "2025"
    assert reports.check_key("monthly", "2026-03")
    assert not reports.check_key("monthly", "2026-13")
    assert not reports.check_key("quarterly", "2026-Q5")
    assert not reports.check_key("yearly", "1999")


def test_the_pdf_is_a_pdf() -> None:
    pdf = reports.pdf("<html lang='id'><head>"
                      "<link rel='stylesheet' href='http://127.0.0.1:9/x.css'>"
                      "</head><body><h1>Laporan bulanan</h1></body></html>")
    assert pdf.startswith(b"%PDF-")  # the link is refused, not fetched


def tables(page: reports.ReportPage) -> dict[str, list[list[Any]]]:
    return {t.title: [[value for _, value in row] for row in t.rows]
            for s in page.sections for t in s.tables}


def test_the_month_shows_findings_officers_suggestions_and_late_corrections() -> None:
    # Issue 12: the new figures reach the page a head signs, not only the JSON and CSV.
    report = month("2026-03", share=1.0, median=5.0, breached=0)
    report["complaints"] |= {"reclassified": 1, "suggestions_answered": 2,
                             "findings": {"proven": 2, "not_proven": 1, "partly_proven": 0}}
    report["by_officer"] = {"dewi": {"name": "Dewi Lestari", "cases_handled": 3,
                                     "median_working_days": 4.0, "breached": 1}}
    report["calendar_corrections_after_month_end"] = [
        {"date": "2026-03-23", "kind": "working_day", "reason": "cuti bersama dicabut",
         "declared_at": "2026-04-02T09:00:00+07:00", "declared_by": "kepala"}]
    page = reports.monthly(report, None, TARGETS, ID)
    shown = figures(page)
    assert shown["complaints.reclassified"].value == 1
    assert shown["complaints.suggestions_answered"].value == 2
    findings = next(c for s in page.sections for c in s.charts if "6.e" in c.title)
    assert findings.bars == [("proven", 2.0), ("not_proven", 1.0), ("partly_proven", 0.0)]
    rows = tables(page)
    assert rows["Cases whose clock stopped while the officer held them"] == [
        ["dewi", "Dewi Lestari", 3, 4.0, 1]]
    assert rows["Corrections"][0][:3] == ["23 Maret 2026", "Hari kerja", "cuti bersama dicabut"]
    # Without late corrections the section is left out.
    del report["calendar_corrections_after_month_end"]
    assert "Corrections" not in tables(reports.monthly(report, None, TARGETS, ID))


def test_the_year_shows_the_evaluations_and_their_plan() -> None:
    report = {"year": 2026, "sla": {"applications": {"received": 1}, "by_month": {}},
              "complaint_handling": {"received": 0}, "satisfaction": {"quarters": {}},
              "elements_vs_complaints": [], "by_officer": {},
              "evaluations": [{"id": "e1", "summary": "Loket kurang", "recorded_by": "kepala",
                               "recorded_at": "2026-07-01T10:00:00+07:00", "actions_done": 1,
                               "actions": [
                                   {"n": 1, "action": "Tambah petugas loket", "owner": "tu",
                                    "due_on": "2026-09-01", "done": {"at": "x", "by": "k"}},
                                   {"n": 2, "action": "SOP baru", "owner": "perizinan",
                                    "due_on": "2026-12-01", "done": None}]}]}
    page = reports.yearly(report, None, TARGETS, ID)
    plan = next(rows for title, rows in tables(page).items() if "Loket kurang" in title)
    assert plan == [["Tambah petugas loket", "tu", "1 September 2026", "Ya"],
                    ["SOP baru", "perizinan", "1 Desember 2026", "Belum"]]
    report["evaluations"] = []
    empty = next(s for s in reports.yearly(report, None, TARGETS, ID).sections
                 if s.title == "Evaluation and improvement plan")
    assert empty.note == "No evaluation recorded for this year yet." and not empty.tables
