"""The console's pages under `/console/`: server-rendered with Litestar's template engine
(Jinja2), htmx for the lists that update themselves. Every handler is thin: the data
comes from the services (a case through its `CaseService`, steps through
`CaseService.execute`), the read models' queries and the audit service; who may see a
page is the policy's role lists (`services.domain.policy`, `services.audit.api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_204_NO_CONTENT

from contracts.staff import StaffEntry
from contracts.vocabulary import DAY_KINDS, TIERS, UNITS
from projections import escalation_queues, monthly_report, satisfaction_report, yearly_report
from services.audit.api import AUDIT_READERS
from services.audit.history import AS_OF_HELP
from services.calendar.application import CalendarService
from services.complaints.domain import RESPONSE_WORKING_DAYS
from services.console import queries, reports
from services.console.access import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    PATH,
    PRE_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    Console,
    CsrfRefused,
    NotSignedIn,
    SignIn,
    StaffUser,
    console_of,
    provide_user,
    signed_in,
)
from services.console.cases import case_page, choices, located, service_of, step_named
from services.console.forms import (
    FORM,
    NOT_ACCEPTED,
    FormErrors,
    Problem,
    form_for,
    problem_of,
    read,
)
from services.console.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Speaker, language_of
from services.console.labels import (
    COMMANDS,
    FIELDS,
    VOCABULARY,
    event_label,
    humanized,
    rule_message,
    vocabulary_label,
)
from services.console.rendering import STATIC_DIR
from services.domain.actors import Actor
from services.domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
)
from services.domain.policy import (
    APPROVES_APIP,
    CASE_READERS,
    ERASES,
    HEAD_ONLY,
    OVERSEERS,
    REPORT_READERS,
    STAFF_READERS,
    STAFF_WRITERS,
    authorize,
    require_role,
)
from services.infra.tracking_key import normalized
from services.staff.domain import PEOPLE_ROLES
from services.staff.passwords import MIN_LENGTH, check_strength, set_password
from services.tracking.lookup import candidates

MAX_ACTOR = 200
"""The staff register's longest actor id."""
MAX_PASSWORD = 1024
POLL_SECONDS = 5
"""How often an open queue or board asks whether anything changed (a cheap query)."""
MAX_LIST = 500


# -- rendering ----------------------------------------------------------------------------
def speaker(request: Request[Any, Any, Any]) -> Speaker:
    """The language the person chose in the console: Bahasa Indonesia unless they chose
    English, whatever their browser asks for (API.md)."""
    return Speaker(language_of(request.cookies.get(LANGUAGE_COOKIE)))


def api_speaker(request: Request[Any, Any, Any]) -> Speaker:
    """For a caller of the API (no console cookie): English when its `Accept-Language`
    puts English first, else Bahasa Indonesia."""
    return Speaker(language_of(request.headers.get("accept-language", "")[:2].lower()))


def navigation(actor: Actor) -> list[tuple[str, str]]:
    """The menu: only what this person's role may open."""
    items = [("/console/", N_("My queue")), ("/console/unassigned", N_("Unassigned"))]
    if actor.role in OVERSEERS:
        items += [("/console/sla", N_("SLA board")),
                  ("/console/escalations", N_("Escalation queue"))]
    if actor.role in REPORT_READERS:
        items.append(("/console/reports", N_("Reports")))
    if actor.role in APPROVES_APIP.roles or actor.role in ERASES.roles:
        items.append(("/console/approvals", N_("Approvals")))
    items.append(("/console/calendar", N_("Calendar")))
    if actor.role in STAFF_READERS:
        items.append(("/console/staff", N_("Staff register")))
    if actor.role in AUDIT_READERS:
        items.append(("/console/audit", N_("Audit")))
    return items


def page(request: Request[Any, Any, Any], template: str, user: StaffUser | None,
         status_code: int = 200, cookies: list[Cookie] | None = None,
         csrf: str | None = None, say: Speaker | None = None, **context: Any) -> Template:
    """A console page with what every page needs: the language (the person's choice
    unless `say` is given), the person, the menu."""
    say = say or speaker(request)
    system = request.app.state.system
    return Template(template, status_code=status_code, cookies=cookies, context={
        "_": say, "say": say, "lang": say.language, "languages": LANGUAGES,
        "language_names": LANGUAGE_NAMES, "user": user,
        "actor": user.actor if user is not None else None,
        "csrf": csrf or (user.csrf if user is not None else ""), "csrf_field": CSRF_FIELD,
        "nav": navigation(user.actor) if user is not None else [],
        "path": request.url.path, "office": system.settings.office_name,
        "now": system.clock.now(), "simulated": system.clock.simulated,
        "label": vocabulary_label, "vocabulary": VOCABULARY, "command_label": COMMANDS,
        "field_label": lambda name: FIELDS.get(name) or humanized(name),
        "event_label": event_label, "poll": POLL_SECONDS, **context})


def cookie(console: Console, request: Request[Any, Any, Any], key: str, value: str,
           max_age: int | None = None) -> Cookie:
    """HttpOnly, SameSite=Lax, Secure behind TLS, for the console's paths only."""
    return Cookie(key=key, value=value, path=PATH, httponly=True, samesite="lax",
                  secure=console.secure_cookies(request), max_age=max_age)


def back_to(target: str | None) -> str:
    """A redirect target inside the console only (never another site)."""
    if target and target.startswith(f"{PATH}/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return f"{PATH}/"


# -- sign-in ------------------------------------------------------------------------------
REFUSALS = {
    SignIn.WRONG: (N_("The user ID or the password is wrong."), 401),
    SignIn.LOCKED: (N_("Too many wrong passwords: signing in with this user ID is refused "
                       "for a while. Try again in 15 minutes."), 429),
    SignIn.DISABLED: (N_("This user ID is disabled. Ask the head of office."), 403),
}


def sign_in_page(request: Request[Any, Any, Any], console: Console, error: str = "",
                 status_code: int = 200, actor: str = "") -> Template:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    return page(request, "login.html", None, status_code=status_code,
                cookies=[cookie(console, request, PRE_COOKIE, pre)],
                csrf=console.pre_token(pre), error=error, entered_actor=actor)


@get("/login", opt={PUBLIC: True}, name="console-login")
async def login_form(request: Request[Any, Any, Any], state: State) -> Template:
    return sign_in_page(request, console_of(state))


@post("/login", opt={PUBLIC: True})
async def login(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    console = console_of(state)
    form = await request.form()
    actor = str(form.get("actor") or "").strip()
    password = str(form.get("password") or "")
    if not actor or not password:
        return sign_in_page(request, console, N_("Enter your user ID and password."), 400,
                            actor)
    if len(actor) > MAX_ACTOR or len(password) > MAX_PASSWORD:
        # Nobody's id or password is this long: no hash is worked out for it.
        message, status = REFUSALS[SignIn.WRONG]
        return sign_in_page(request, console, message, status)
    outcome, session_id = await console.sign_in(actor, password)
    if outcome is not SignIn.OK or session_id is None:
        message, status = REFUSALS[outcome]
        return sign_in_page(request, console, message, status, actor)
    lifetime = int(console.sessions.policy.lifetime.total_seconds())
    return Redirect(f"{PATH}/", status_code=303, cookies=[
        cookie(console, request, SESSION_COOKIE, session_id, max_age=lifetime),
        cookie(console, request, PRE_COOKIE, "", max_age=0)])


@post("/logout")
async def logout(request: Request[Any, Any, Any], state: State,
                 user: StaffUser) -> Redirect:
    console = console_of(state)
    await console.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    return Redirect(f"{PATH}/login", status_code=303,
                    cookies=[cookie(console, request, SESSION_COOKIE, "", max_age=0)])


@post("/language", opt={PUBLIC: True})
async def choose_language(request: Request[Any, Any, Any], state: State) -> Redirect:
    form = await request.form()
    language = language_of(str(form.get("language") or ""))
    return Redirect(back_to(str(form.get("next") or "")), status_code=303, cookies=[
        cookie(console_of(state), request, LANGUAGE_COOKIE, language, max_age=400 * 86400)])


# -- queues -------------------------------------------------------------------------------
def unit_of(actor: Actor) -> str | None:
    """An officer sees the cases of their unit; supervision spans every unit."""
    return actor.unit if actor.role == "officer" else None


async def queue_items(state: State, actor: Actor, unassigned: bool = False
                      ) -> list[queries.QueueItem]:
    require_role(actor, *CASE_READERS)
    system = state.system
    async with system.pool.acquire() as conn:
        return await queries.open_cases(conn, system.clock.now(), unit=unit_of(actor),
                                        unassigned=unassigned, limit=MAX_LIST)


async def current_stamp(state: State) -> str:
    system = state.system
    async with system.pool.acquire() as conn:
        return await queries.stamp(conn, system.clock.now())


@get("/")
async def my_queue(request: Request[Any, Any, Any], state: State, user: StaffUser) -> Template:
    """"Antrian saya": the open cases of the person's unit, nearest deadline first."""
    items = await queue_items(state, user.actor)
    return page(request, "queue.html", user, items=items, stamp=await current_stamp(state),
                rows_url=f"{PATH}/queue/rows", title=N_("My queue"), unassigned=False)


@get("/unassigned")
async def unassigned(request: Request[Any, Any, Any], state: State,
                     user: StaffUser) -> Template:
    items = await queue_items(state, user.actor, unassigned=True)
    return page(request, "queue.html", user, items=items, stamp=await current_stamp(state),
                rows_url=f"{PATH}/unassigned/rows", title=N_("Unassigned cases"),
                unassigned=True)


async def rows_or_nothing(request: Request[Any, Any, Any], state: State, user: StaffUser,
                          stamp: str | None, unassigned: bool) -> Response[Any]:
    """The queue's rows when anything changed since `stamp`; 204 (htmx swaps nothing)
    otherwise."""
    now_stamp = await current_stamp(state)
    if stamp == now_stamp:
        return Response(None, status_code=HTTP_204_NO_CONTENT)
    items = await queue_items(state, user.actor, unassigned=unassigned)
    return page(request, "queue_rows.html", user, items=items, stamp=now_stamp,
                rows_url=f"{PATH}/{'unassigned' if unassigned else 'queue'}/rows",
                unassigned=unassigned)


@get("/queue/rows")
async def queue_rows(request: Request[Any, Any, Any], state: State, user: StaffUser,
                     stamp: str | None = None) -> Response[Any]:
    return await rows_or_nothing(request, state, user, stamp, unassigned=False)


@get("/unassigned/rows")
async def unassigned_rows(request: Request[Any, Any, Any], state: State, user: StaffUser,
                          stamp: str | None = None) -> Response[Any]:
    return await rows_or_nothing(request, state, user, stamp, unassigned=True)


@get("/search")
async def search(request: Request[Any, Any, Any], state: State, user: StaffUser,
                 q: Annotated[str, Parameter(max_length=64)] = "") -> Response[Any]:
    """A tracking number → its case page; not found (or another unit's case: the same
    answer) → the queue with a message."""
    system = state.system
    assert system.audit is not None
    tables = {stream: s.table for stream, s in system.audit.eventlog.streams.items()
              if stream in ("applications", "complaints")}
    async with system.pool.acquire() as conn:
        found = await candidates(conn, tables, system.applications.tracking, q)
    for _, case_id in found:
        with contextlib.suppress(NotFound):
            _, view = await located(system, case_id, user.actor)
            if view.tracking_number == normalized(q):
                return Redirect(f"{PATH}/cases/{case_id}", status_code=303)
    items = await queue_items(state, user.actor)
    return page(request, "queue.html", user, items=items, stamp=await current_stamp(state),
                rows_url=f"{PATH}/queue/rows", title=N_("My queue"), unassigned=False,
                searched=q, status_code=404)


# -- a case -------------------------------------------------------------------------------
async def render_case(request: Request[Any, Any, Any], state: State, user: StaffUser,
                      case_id: UUID, status_code: int = 200, failed: str | None = None,
                      problems: Mapping[str, Problem] | None = None,
                      posted: Mapping[str, list[str]] | None = None) -> Template:
    shown = await case_page(state.system, case_id, user.actor)
    return page(request, "case.html", user, status_code=status_code, case=shown,
                view=shown.view, failed=failed, problems=problems or {}, posted=posted or {},
                done=request.query_params.get("done"), rule_message=rule_message)


@get("/cases/{case_id:uuid}")
async def case(request: Request[Any, Any, Any], state: State, user: StaffUser,
               case_id: UUID) -> Template:
    return await render_case(request, state, user, case_id)


def problems_of(error: DomainError, say: Speaker) -> tuple[int, dict[str, Problem]]:
    """A refused step's status and what to tell beside which field."""
    message, values = rule_message(error.rule)
    if isinstance(error, InvalidInput):
        # Beside the field (`results.U4` beside `results`), in words when the rule has some.
        return 422, {error.field.partition(".")[0] or FORM: Problem(
            message or NOT_ACCEPTED, detail=error.detail)}
    shown = {k: say.gettext(vocabulary_label("status", v)) for k, v in values.items()}
    return 409, {FORM: Problem(message or N_("This step is not possible now."), shown,
                               detail="" if message else error.detail)}


@post("/cases/{case_id:uuid}/steps/{name:str}")
async def take_step(request: Request[Any, Any, Any], state: State, user: StaffUser,
                    case_id: UUID, name: str) -> Response[Any]:
    """Run one step through the case's service, as the API would; on a refusal the page
    again, with the problem beside its field."""
    system = state.system
    case_type, view = await located(system, case_id, user.actor)
    row = step_named(case_type, name)
    if row is None:
        raise NotFound(f"no step {name}")
    form = await request.form()
    posted = {key: [v for v in form.getall(key) if isinstance(v, str)] for key in form}
    step = form_for(row, await choices(system, case_type, view))
    try:
        body = read(step, form)
        await service_of(system, case_type).execute(row, case_id, body, user.actor)
    except FormErrors as exc:
        return await render_case(request, state, user, case_id, 422, name, exc.problems,
                                 posted)
    except DomainError as exc:
        if isinstance(exc, Forbidden | NotFound):
            raise  # the error page, as the API's 403 and 404
        status, problems = problems_of(exc, speaker(request))
        return await render_case(request, state, user, case_id, status, name, problems,
                                 posted)
    return Redirect(f"{PATH}/cases/{case_id}?done={name}", status_code=303)


# -- supervision --------------------------------------------------------------------------
async def board(state: State, actor: Actor) -> queries.Board:
    require_role(actor, *OVERSEERS)
    system = state.system
    async with system.pool.acquire() as conn:
        items = await queries.open_cases(conn, system.clock.now(), states=queries.URGENT,
                                         limit=MAX_LIST)
    # Breached first, then at risk; each by deadline.
    items.sort(key=lambda i: (i.sla_state != "breached", i.due_at is None, i.due_at))
    return queries.board_of(items, TIERS)


@get("/sla")
async def sla_board(request: Request[Any, Any, Any], state: State,
                    user: StaffUser) -> Template:
    return page(request, "sla.html", user, board=await board(state, user.actor),
                stamp=await current_stamp(state), tiers=TIERS)


@get("/sla/rows")
async def sla_rows(request: Request[Any, Any, Any], state: State, user: StaffUser,
                   stamp: str | None = None) -> Response[Any]:
    now_stamp = await current_stamp(state)
    if stamp == now_stamp:
        return Response(None, status_code=HTTP_204_NO_CONTENT)
    return page(request, "sla_board.html", user, board=await board(state, user.actor),
                stamp=now_stamp, tiers=TIERS)


@get("/escalations")
async def escalations(request: Request[Any, Any, Any], state: State, user: StaffUser,
                      tier: str | None = None) -> Template:
    """Open cases at a tier (or every tier), breached first, then at risk, then by
    deadline (`projections.escalation_queues`)."""
    require_role(user.actor, *OVERSEERS)
    chosen = tier if tier in TIERS else None
    system = state.system
    async with system.pool.acquire() as conn:
        rows, _ = await escalation_queues.queue(conn, system.clock.now(), chosen,
                                                limit=MAX_LIST)
        items = await queries.items_of(conn, rows, system.clock.now())
    return page(request, "escalations.html", user, items=items, tier=chosen, tiers=TIERS)


# -- reports ------------------------------------------------------------------------------
def targets(state: State) -> reports.Targets:
    catalogue = state.system.applications.catalogue
    return reports.Targets(
        application_days=tuple(s.sla_working_days for s in catalogue.all()) or (7,),
        complaint_days=RESPONSE_WORKING_DAYS)


async def report_page(state: State, period: reports.Period, key: str,
                      say: Speaker) -> tuple[reports.ReportPage, dict[str, Any]]:
    """The report of `key` beside the one before it; and the report itself (for CSV)."""
    if not reports.check_key(period, key):
        raise InvalidInput("period", {"monthly": "must be YYYY-MM", "quarterly":
                                      "must be YYYY-Qn", "yearly": "must be YYYY"}[period])
    system = state.system
    now = system.clock.now()
    before = reports.previous_key(period, key)
    names = {m.actor: m.name for m in await system.staff.members()}
    async with system.pool.acquire() as conn:
        if period == "monthly":
            report = await monthly_report.load(conn, key, now, names)
            previous = await monthly_report.load(conn, before, now, names)
            return reports.monthly(report, previous, targets(state), say), report
        if period == "quarterly":
            report = await satisfaction_report.load(conn, key)
            previous = await satisfaction_report.load(conn, before)
            year, n = int(key[:4]), int(key[-1])
            months = [await monthly_report.load(conn, f"{year}-{m:02d}", now, names)
                      for m in range(3 * n - 2, 3 * n + 1)]
            return reports.quarterly(report, previous, months, targets(state), say), report
        evaluations = [msgspec.to_builtins(e)
                       for e in await system.evaluations.of_year(int(key))]
        report = await yearly_report.load(conn, int(key), now, evaluations, names)
        previous = await yearly_report.load(conn, int(before), now, (), names)
        return reports.yearly(report, previous, targets(state), say), report


async def printed_report(request: Request[Any, Any, Any], state: State,
                         period: reports.Period, key: str, user: StaffUser | None) -> str:
    """The report as a head of office would sign it: the console's page, whole (its
    style inside, no menu), for the PDF (`user` signed in) and for `GET /reports/...`
    asked as HTML (no `user`: the language from `Accept-Language`)."""
    say = speaker(request) if user is not None else api_speaker(request)
    shown, _ = await report_page(state, period, key, say)
    engine = request.app.template_engine
    assert engine is not None  # the app is made with the console's template config
    return str(engine.get_template("report.html").render(
        **page(request, "report.html", user, say=say, report=shown, printable=True,
               targets=targets(state),
               report_css=(STATIC_DIR / "report.css").read_text()).context))


CSV_OF = {"monthly": monthly_report.to_csv, "quarterly": satisfaction_report.to_csv,
          "yearly": yearly_report.to_csv}


def period_of(text: str) -> reports.Period:
    if text == "monthly":
        return "monthly"
    if text == "quarterly":
        return "quarterly"
    if text == "yearly":
        return "yearly"
    raise NotFound(f"no report {text}")


@get("/reports")
async def reports_index(request: Request[Any, Any, Any], state: State,
                        user: StaffUser) -> Template:
    require_role(user.actor, *REPORT_READERS)
    now = state.system.clock.now()
    return page(request, "reports.html", user, current={
        p: reports.current_key(p, now) for p in ("monthly", "quarterly", "yearly")},
        previous={p: reports.previous_key(p, reports.current_key(p, now))
                  for p in ("monthly", "quarterly", "yearly")})


@get("/reports/{period:str}")
async def report_of(period: str, user: StaffUser,
                    key: Annotated[str, Parameter(max_length=16)] = "") -> Redirect:
    """The reports page's period picker."""
    require_role(user.actor, *REPORT_READERS)
    chosen = period_of(period)
    if not reports.check_key(chosen, key.strip()):
        raise InvalidInput("period", "not a period of this report")
    return Redirect(f"{PATH}/reports/{chosen}/{key.strip()}", status_code=303)


@get("/reports/{period:str}/{key:str}")
async def report(request: Request[Any, Any, Any], state: State, user: StaffUser,
                 period: str, key: str) -> Template:
    require_role(user.actor, *REPORT_READERS)
    shown, _ = await report_page(state, period_of(period), key, speaker(request))
    return page(request, "report.html", user, report=shown, printable=False,
                targets=targets(state))


def _download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@get("/reports/{period:str}/{key:str}/pdf")
async def report_pdf(request: Request[Any, Any, Any], state: State, user: StaffUser,
                     period: str, key: str) -> Response[bytes]:
    require_role(user.actor, *REPORT_READERS)
    html = await printed_report(request, state, period_of(period), key, user)
    pdf = await asyncio.to_thread(reports.pdf, html)
    return Response(pdf, media_type="application/pdf",
                    headers=_download(f"laporan-{period}-{key}.pdf"))


@get("/reports/{period:str}/{key:str}/csv")
async def report_csv(request: Request[Any, Any, Any], state: State, user: StaffUser,
                     period: str, key: str) -> Response[str]:
    """The same CSV as `GET /reports/...` with `Accept: text/csv`, as a download."""
    require_role(user.actor, *REPORT_READERS)
    chosen = period_of(period)
    _, raw = await report_page(state, chosen, key, speaker(request))
    return Response(CSV_OF[chosen](raw), media_type="text/csv; charset=utf-8",
                    headers=_download(f"laporan-{period}-{key}.csv"))


# -- the head: approvals, calendar, staff -------------------------------------------------
@get("/approvals")
async def approvals(request: Request[Any, Any, Any], state: State,
                    user: StaffUser) -> Template:
    """Complaints waiting on the head: analysed, not yet approved for APIP. Erasure is
    asked for case by case: found by tracking number, erased from its page."""
    if user.actor.role not in (*APPROVES_APIP.roles, *ERASES.roles):
        raise Forbidden("approvals are the head's", rule="forbidden")
    system = state.system
    async with system.pool.acquire() as conn:
        items = await queries.open_cases(conn, system.clock.now(), limit=MAX_LIST)
        waiting = {r["id"] for r in await conn.fetch(
            "SELECT id FROM case_views WHERE type = 'complaint' AND status = 'analysed' "
            "AND NOT coalesce((doc->>'apip_approved')::boolean, false)")}
    return page(request, "approvals.html", user, items=[i for i in items if i.id in waiting])


@get("/calendar")
async def calendar(request: Request[Any, Any, Any], state: State, user: StaffUser,
                   year: int | None = None) -> Template:
    return await calendar_page(request, state, user, year)


async def calendar_page(request: Request[Any, Any, Any], state: State, user: StaffUser,
                        year: int | None = None, problems: Mapping[str, Problem] | None = None,
                        posted: Mapping[str, str] | None = None,
                        status_code: int = 200) -> Template:
    chosen = year if year is not None and 2000 <= year <= 2060 else \
        state.system.clock.now().year
    service: CalendarService = state.system.calendar
    # The national days off and the office's corrections; weekends go without saying.
    days = [{**d, "date": date.fromisoformat(d["date"])} for d in service.current.year(chosen)
            if d["source"] == "office" or date.fromisoformat(d["date"]).weekday() < 5]
    may_correct = user.actor.role in HEAD_ONLY.roles
    return page(request, "calendar.html", user, status_code=status_code, year=chosen,
                days=days, may_correct=may_correct, kinds=DAY_KINDS, problems=problems or {},
                posted=posted or {})


@post("/calendar")
async def correct_calendar(request: Request[Any, Any, Any], state: State,
                           user: StaffUser) -> Response[Any]:
    """The head records a correction (`POST /calendar/days`, the same service)."""
    authorize(HEAD_ONLY, user.actor)
    form = await request.form()
    posted = {k: str(form.get(k) or "") for k in ("date", "kind", "reason")}
    problems: dict[str, Problem] = {}
    try:
        day = date.fromisoformat(posted["date"])
    except ValueError:
        problems["date"] = Problem(N_("This value is not valid."))
    if posted["kind"] not in DAY_KINDS:
        problems["kind"] = Problem(N_("Choose one of the options."))
    if not posted["reason"].strip():
        problems["reason"] = Problem(N_("This field is required."))
    if not problems:
        try:
            await state.system.calendar.declare_day(day, posted["kind"], posted["reason"],
                                                    user.actor)
        except InvalidInput as exc:
            problems[exc.field] = Problem(NOT_ACCEPTED, detail=exc.detail)
    if problems:
        return await calendar_page(request, state, user, None, problems, posted, 422)
    return Redirect(f"{PATH}/calendar?year={day.year}", status_code=303)


@get("/staff")
async def staff(request: Request[Any, Any, Any], state: State, user: StaffUser) -> Template:
    """The staff register (the same as `GET /staff`)."""
    return await staff_page(request, state, user)


async def staff_page(request: Request[Any, Any, Any], state: State, user: StaffUser,
                     problems: Mapping[str, Problem] | None = None,
                     posted: Mapping[str, str] | None = None, status_code: int = 200,
                     done: str = "") -> Template:
    require_role(user.actor, *STAFF_READERS)
    members = await state.system.staff.members()
    return page(request, "staff.html", user, status_code=status_code, members=members,
                may_write=user.actor.role in STAFF_WRITERS, roles=PEOPLE_ROLES, units=UNITS,
                tiers=TIERS, problems=problems or {}, posted=posted or {}, done=done)


@post("/staff")
async def register_staff(request: Request[Any, Any, Any], state: State,
                         user: StaffUser) -> Response[Any]:
    """The head registers a person (as `POST /staff`), with a first password for the
    console (as `ptsp staff add`)."""
    require_role(user.actor, *STAFF_WRITERS)
    form = await request.form()
    posted = {k: str(form.get(k) or "").strip()
              for k in ("actor", "name", "role", "unit", "tier", "password")}
    entry = {k: v for k, v in posted.items() if v and k != "password"}
    problems: dict[str, Problem] = {}
    try:
        parsed = msgspec.convert(entry, StaffEntry)
    except msgspec.ValidationError as exc:
        name, problem = problem_of(exc)
        problems[name] = problem
    if posted["password"]:
        try:
            check_strength(str(form.get("password") or ""))
        except ValueError as exc:
            problems["password"] = Problem(N_("Too short: at least %(n)s characters."),
                                           {"n": MIN_LENGTH}, detail=str(exc))
    if not problems:
        try:
            await state.system.staff.register(parsed, user.actor)
        except InvalidInput as exc:
            problems[exc.field] = Problem(NOT_ACCEPTED, detail=exc.detail)
    if problems:
        return await staff_page(request, state, user, problems, posted, 422)
    if posted["password"]:
        async with state.system.pool.acquire() as conn:
            await set_password(conn, parsed.actor, str(form.get("password")))
    return Redirect(f"{PATH}/staff?done={parsed.actor}", status_code=303)


@post("/staff/{member:str}/disable")
async def disable_staff(request: Request[Any, Any, Any], state: State, user: StaffUser,
                        member: str) -> Response[Any]:
    """The person works no more cases and signs in no more; their sessions end at their
    next request, their tokens are revoked (as `POST /staff/{actor}/disable`)."""
    require_role(user.actor, *STAFF_WRITERS)
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    if not reason:
        return await staff_page(request, state, user, {
            f"reason-{member}": Problem(N_("This field is required."))}, {}, 422)
    await state.system.staff.disable(member, reason, user.actor)
    return Redirect(f"{PATH}/staff", status_code=303)


# -- auditors -----------------------------------------------------------------------------
@get("/audit")
async def audit_home(request: Request[Any, Any, Any], state: State,
                     user: StaffUser) -> Template:
    require_role(user.actor, *AUDIT_READERS)
    return page(request, "audit.html", user, verification=None)


@post("/audit/verify")
async def audit_verify(request: Request[Any, Any, Any], state: State,
                       user: StaffUser) -> Template:
    """Recompute the whole store's chain (as `GET /audit/verify`)."""
    require_role(user.actor, *AUDIT_READERS)
    assert state.system.audit is not None
    result = await state.system.audit.verify()
    return page(request, "audit.html", user, verification=result)


@get("/audit/cases/{case_id:uuid}")
async def audit_case(request: Request[Any, Any, Any], state: State, user: StaffUser,
                     case_id: UUID,
                     as_of: Annotated[str | None, Parameter(max_length=64)] = None,
                     ) -> Template:
    """The case's history with each event's hash links, and the case as of a time or a
    version (`GET /cases/{id}/history`, `GET /cases/{id}?as_of=`)."""
    require_role(user.actor, *AUDIT_READERS)
    audit = state.system.audit
    assert audit is not None
    history = await audit.history(case_id)
    problems: dict[str, Problem] = {}
    then = None
    if as_of:
        try:
            then = msgspec.to_builtins(await audit.state(case_id, as_of, user.actor))
        except (InvalidInput, NotFound) as exc:
            problems["as_of"] = Problem(NOT_ACCEPTED, detail=exc.detail)
    return page(request, "audit_case.html", user, case_id=case_id, history=history,
                as_of=as_of or "", then=then, problems=problems, as_of_help=AS_OF_HELP,
                status_code=422 if problems else 200)


# -- errors as pages ----------------------------------------------------------------------
def error_page(request: Request[Any, Any, Any], status_code: int, message: str,
               detail: str = "") -> Response[Any]:
    user = getattr(request.state, "console_user", None)
    return page(request, "error.html", user if isinstance(user, StaffUser) else None,
                status_code=status_code, message=message, detail=detail)


def on_not_signed_in(request: Request[Any, Any, Any], _: NotSignedIn) -> Response[Any]:
    target = f"{PATH}/login"
    if request.headers.get("hx-request"):
        return Response(None, status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def on_csrf(request: Request[Any, Any, Any], _: CsrfRefused) -> Response[Any]:
    return error_page(request, 403, N_("The form's security token is missing or out of "
                                       "date. Go back, reload the page and try again."))


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, NotFound):
        return error_page(request, 404, N_("Not found, or not yours to see."))
    if isinstance(exc, Forbidden):
        said, _ = rule_message(exc.rule)
        return error_page(request, 403, said or N_("Your role may not do this."), exc.detail)
    if isinstance(exc, InvalidInput):
        return error_page(request, 400, NOT_ACCEPTED, exc.detail)
    message, _ = rule_message(exc.rule)
    return error_page(request, 409, message or N_("This step is not possible now."),
                      exc.detail)


def on_not_found(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    return error_page(request, 404, N_("Not found, or not yours to see."))


static_files = create_static_files_router(
    path="/static", directories=[STATIC_DIR], opt={PUBLIC: True}, name="console-static",
    include_in_schema=False)

console_router = Router(
    path=PATH,
    route_handlers=[
        login_form, login, logout, choose_language, my_queue, unassigned, queue_rows,
        unassigned_rows, search, case, take_step, sla_board, sla_rows, escalations,
        reports_index, report_of, report, report_pdf, report_csv, approvals, calendar,
        correct_calendar, staff, register_staff, disable_staff, audit_home, audit_verify,
        audit_case, static_files,
    ],
    guards=[signed_in],
    dependencies={"user": Provide(provide_user)},
    # The console has its own sign-in (sessions), not bearer tokens.
    opt={"exclude_from_auth": True},
    include_in_schema=False,
    exception_handlers={
        NotSignedIn: on_not_signed_in, CsrfRefused: on_csrf, DomainError: on_domain_error,
        NotFoundException: on_not_found,
    },
)
