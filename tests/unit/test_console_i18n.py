"""The console speaks Bahasa Indonesia: every message of its templates and code has an
Indonesian translation with the same placeholders, every wire name it shows has a
label, and dates and numbers are written the Indonesian way."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from msgspec import inspect as mi

import contracts.applications
import contracts.complaints
from contracts import vocabulary
from services.console import labels
from services.console.cases import STEPS
from services.console.i18n import Speaker, catalog_path
from services.domain.clock import JAKARTA

CONSOLE = Path(labels.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def messages() -> set[str]:
    """Every message the console's code and templates mark for translation."""
    found = extract_from_dir(
        str(CONSOLE), method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
        keywords={**DEFAULT_KEYWORDS, "N_": None})
    return {m if isinstance(m, str) else m[0] for _, _, m, _, _ in found}


def catalog() -> dict[str, str]:
    with catalog_path("id").open("rb") as po:
        return {m.id: m.string for m in read_po(po) if m.id and isinstance(m.id, str)}


def test_every_message_has_an_indonesian_translation() -> None:
    translated = catalog()
    missing = sorted(m for m in messages() if not translated.get(m))
    assert missing == [], f"add these to {catalog_path('id')}: {missing}"


def test_translations_keep_their_placeholders() -> None:
    wrong = {msgid: text for msgid, text in catalog().items()
             if set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(text))}
    assert wrong == {}


def test_every_fixed_list_value_has_a_label() -> None:
    lists = {
        "role": vocabulary.ROLES, "tier": vocabulary.TIERS, "unit": vocabulary.UNITS,
        "channel": vocabulary.CHANNELS, "case_type": vocabulary.CASE_TYPES,
        "kind": vocabulary.COMPLAINT_KINDS, "problem_type": vocabulary.PROBLEM_TYPES,
        "handling_plan": vocabulary.HANDLING_PLANS, "track": vocabulary.TRACKS,
        "verdict": vocabulary.VERDICTS, "scale": vocabulary.BUSINESS_SCALES,
        "suggestion_reason": vocabulary.SUGGESTION_REASONS, "day_kind": vocabulary.DAY_KINDS,
        "sla_state": vocabulary.SLA_STATES,
        "status": vocabulary.APPLICATION_STATUSES + vocabulary.COMPLAINT_STATUSES,
        "finding": get_args(getattr(vocabulary, "FindingsOutcome", str)) or (),
    }
    missing = {name: [v for v in values if v not in labels.VOCABULARY[name]]
               for name, values in lists.items()}
    assert {k: v for k, v in missing.items() if v} == {}


def test_every_step_field_and_event_has_a_label() -> None:
    steps = {row.name for rows in STEPS.values() for row in rows}
    assert steps - set(labels.COMMANDS) == set()
    fields = {f.name for rows in STEPS.values() for row in rows if row.request is not None
              for f in mi.type_info(row.request).fields}  # type: ignore[attr-defined]
    assert fields - set(labels.FIELDS) == set()
    tags = {t.__struct_config__.tag for t in (*contracts.applications.EVENT_TYPES,
                                              *contracts.complaints.EVENT_TYPES)}
    unlabelled = {tag for tag in tags if str(tag).partition(".")[2] not in labels.EVENTS}
    assert unlabelled == set()


def test_every_refusal_a_step_documents_is_told_in_words() -> None:
    rules = {rule for rows in STEPS.values() for row in rows for rule in row.conflicts}
    for rule in rules:
        concrete = rule.replace("<status>", "complete")
        message, values = labels.rule_message(concrete)
        assert message, f"no message for the rule {rule}"
        assert set(PLACEHOLDER.findall(message)) == set(values), rule


def test_a_not_allowed_rule_names_the_status() -> None:
    message, values = labels.rule_message("verification_not_allowed_when_complete")
    say = Speaker("id")
    assert say(message, status=say(labels.vocabulary_label("status", values["status"]))) == \
        "Langkah ini tidak dapat dilakukan selama status perkara “Berkas lengkap”."


@pytest.mark.parametrize(("language", "expected"), [
    ("id", ("17 Maret 2026", "85,40", "100%", "85,4%", "1.234", "Antrian saya")),
    ("en", ("17 March 2026", "85.40", "100%", "85.4%", "1,234", "My queue")),
])
def test_dates_and_numbers_in_each_language(language: str, expected: tuple[str, ...]) -> None:
    say = Speaker(language)  # type: ignore[arg-type]
    assert (say.date(date(2026, 3, 17)), say.number(85.4), say.percent(1.0),
            say.percent(0.854), say.integer(1234), say("My queue")) == expected


def test_a_deadline_at_midnight_is_the_working_day_before_it() -> None:
    say = Speaker("id")
    due = datetime(2026, 4, 3, 0, 0, tzinfo=JAKARTA)
    assert say.deadline(due) == "2 April 2026"
    assert say.deadline(due, with_time=True) == "2 April 2026, akhir hari"
    assert say.deadline(datetime(2026, 4, 3, 9, 30, tzinfo=JAKARTA), with_time=True) == \
        "3 April 2026 09.30"
    assert say.datetime(datetime(2026, 3, 17, 2, 5, tzinfo=msgspec.json.decode(
        b'"2026-03-17T02:05:00Z"', type=datetime).tzinfo)) == "17 Maret 2026 09.05"
