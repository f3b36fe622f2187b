"""The words of every notification, in Bahasa Indonesia, from one Jinja2 template per
step (`templates/<case type>/<step>.txt`). Each template has three blocks:

- `subject` and `body`: the e-mail (plain text);
- `short`: the text a channel adapter sends (WhatsApp, SMS...): one or two sentences,
  no greeting by name (the adapter's conversation already is the person's).

Rendering is strict: a fact a template names but the step lacks is an error, never a
blank in a letter to a citizen."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec
from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, Undefined

from services.domain.clock import JAKARTA
from services.notifications.steps import STEPS

TEMPLATES = Path(__file__).with_name("templates")
BLOCKS = ("subject", "body", "short")
SHORT_MAX = 1000
"""Characters of the channel's text at most (an SMS adapter splits it; WhatsApp takes
4,096): an answer longer than this is cut, and the e-mail carries it whole."""


class Message(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    body: str
    short: str


def tanggal(value: date | datetime) -> str:
    """`Senin, 23 Maret 2026`: the day in Jakarta."""
    value = _a_date(value)
    day = value.astimezone(JAKARTA).date() if isinstance(value, datetime) else value
    return str(format_date(day, format="full", locale="id"))


def waktu(value: datetime) -> str:
    """`Senin, 23 Maret 2026 pukul 10.15 WIB`."""
    text = format_datetime(_a_date(value), "EEEE, d MMMM y 'pukul' HH.mm", tzinfo=JAKARTA,
                           locale="id")
    return f"{text} WIB"


def _a_date(value: Any) -> Any:
    """A filter is handed a missing fact as it is: fail as the strict template would (and
    never let babel write today's date for a missing one)."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined: raises UndefinedError naming the fact
    if not isinstance(value, date):
        raise TypeError(f"a date is needed, not {value!r}")
    return value


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=False)
    env.filters["tanggal"] = tanggal
    env.filters["waktu"] = waktu
    return env


ENVIRONMENT = _environment()


def template(case_type: str, step: str) -> Template:
    if step not in STEPS.get(case_type, ()):
        raise ValueError(f"no notification for step {step!r} of a {case_type}")
    return ENVIRONMENT.get_template(f"{case_type}/{step}.txt")


def render(case_type: str, step: str, facts: dict[str, Any]) -> Message:
    """The message of one step from its facts (`KeyError`-like `UndefinedError` when one
    the template names is missing)."""
    chosen = template(case_type, step)
    context = chosen.new_context(dict(facts))
    text = {name: _tidy("".join(chosen.blocks[name](context))) for name in BLOCKS}
    short = text["short"].replace("\n", " ")
    if len(short) > SHORT_MAX:
        short = short[:SHORT_MAX - 1].rstrip() + "…"
    return Message(subject=text["subject"].replace("\n", " "), body=text["body"] + "\n",
                   short=short)


def _tidy(text: str) -> str:
    """Blocks are written for legibility: trailing spaces and blank runs go."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy)
