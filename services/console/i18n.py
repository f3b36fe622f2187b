"""The console's language: Bahasa Indonesia by default, English on request.

Messages are written in English in the code and the templates (`_("...")`, `N_("...")`)
and translated by a gettext catalog, `locale/id/LC_MESSAGES/console.po`, read with
Babel and compiled in memory at first use (no build step, no binary in the tree). English
is the messages themselves. Dates, times and numbers are formatted by Babel for the
chosen locale: "17 Maret 2026", "85,40", "100%".

`tests/unit/test_console_i18n.py` extracts every message of the templates and of this
package and fails on one the Indonesian catalog does not translate.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from services.domain.clock import JAKARTA

Language = Literal["id", "en"]
LANGUAGES: tuple[Language, ...] = ("id", "en")
DEFAULT_LANGUAGE: Language = "id"
LANGUAGE_NAMES: dict[Language, str] = {"id": "Bahasa Indonesia", "en": "English"}
"""Each language named in itself: the switch offers them so."""

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "console"


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; it is translated where it is
    shown (`Language.gettext`)."""
    return message


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: Language) -> gettext.NullTranslations:
    """The language's catalog (English: the messages as written)."""
    if language == "en":
        return gettext.NullTranslations()
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def language_of(value: str | None) -> Language:
    """A language the console speaks, from a cookie or a form; the default otherwise."""
    return "en" if value == "en" else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Speaker:
    """Everything a page needs to speak one language: messages, dates and numbers."""

    language: Language

    @property
    def locale(self) -> str:
        return self.language

    def gettext(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def __call__(self, message: str, **values: object) -> str:
        """`_("Due %(date)s", date=...)`: translated, then filled in."""
        text = self.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = translations(self.language).ngettext(singular, plural, n)
        return text % {"n": self.integer(n), **values}

    # -- dates and times (Asia/Jakarta, the office's time) ------------------------------
    def date(self, value: dt.date | dt.datetime | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, dt.datetime):
            value = value.astimezone(JAKARTA).date()
        return format_date(value, "d MMMM yyyy", locale=self.locale)

    def datetime(self, value: dt.datetime | None) -> str:
        """"17 Maret 2026 09.05" (Indonesian) or "17 March 2026 9:05 AM"."""
        if value is None:
            return "—"
        local = value.astimezone(JAKARTA)
        return (f"{format_date(local.date(), 'd MMMM yyyy', locale=self.locale)} "
                f"{format_time(local, 'short', tzinfo=JAKARTA, locale=self.locale)}")

    def deadline(self, value: dt.datetime | None, with_time: bool = False) -> str:
        """A deadline as people say it: one at 00:00 is the end of the day before ("1
        April 2026", a deadline of 2 April 00:00: the Nth working day is 1 April)."""
        if value is None:
            return "—"
        local = value.astimezone(JAKARTA)
        if local.time() == dt.time(0):
            last = local.date() - dt.timedelta(days=1)
            return self(N_("%(date)s, end of day"), date=self.date(last)) if with_time \
                else self.date(last)
        return self.datetime(local) if with_time else self.date(local)

    def month(self, value: dt.date) -> str:
        """"Maret 2026"."""
        return format_date(value, "LLLL yyyy", locale=self.locale)

    # -- numbers ------------------------------------------------------------------------
    def integer(self, value: int | None) -> str:
        return "—" if value is None else format_decimal(value, format="#,##0",
                                                        locale=self.locale)

    def number(self, value: float | None, places: int = 2) -> str:
        """Two decimals by default: "85,40"."""
        if value is None:
            return "—"
        pattern = "#,##0." + "0" * places if places else "#,##0"
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, share: float | None) -> str:
        """A share 0-1 as a percentage: "100%", "85,4%"."""
        if share is None:
            return "—"
        return format_percent(share, format="#,##0.##%", locale=self.locale)
