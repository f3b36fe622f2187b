"""A form for each step of a case, made from its row of the command table.

The row's request Struct says what the step takes; its fields become inputs by their
type (msgspec's `inspect`): a short text an input, a long one a text area, a Literal a
choice, a bool a checkbox, a list of texts one line each (or ticks, when the case offers
the choices: requirement codes), a dict of bools a checklist. What is posted back is
read into the same Struct with msgspec, so the console takes exactly what the API takes,
and each problem is named by its field, to be shown beside it.

Which choices a field offers for one case (its requirement codes, the catalogue's
services, the officers of its unit) is the caller's: `form_for(row, choices)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec
from msgspec import inspect as mi

from services.cases.commands import Command
from services.console.i18n import N_
from services.console.labels import VOCABULARY, vocabulary_of

Widget = Literal["text", "textarea", "select", "checkbox", "checkboxes", "lines", "number",
                 "keyed"]
FORM = "__form__"
"""The key of a problem that belongs to the whole form, not to one field."""
SHORT_TEXT = 500
"""Texts allowed up to this many characters get a one-line input; longer, a text area."""


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    """A message (translated when shown) or, with `literal`, a text shown as it is."""
    literal: bool = False
    hint: str = ""
    """Shown beside the choice as it is (a requirement's text from the catalogue)."""


@dataclass(frozen=True)
class Field:
    name: str
    widget: Widget
    required: bool
    choices: tuple[Choice, ...] = ()
    max_length: int | None = None
    vocabulary: str | None = None


@dataclass(frozen=True)
class StepForm:
    command: Command
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Problem:
    message: str
    """A message for the catalog."""
    values: Mapping[str, object] = field(default_factory=dict)
    detail: str = ""
    """What the domain said, in its own (English) words, for the precise cause."""


class FormErrors(Exception):
    """What is wrong with a posted form, by field (`FORM`: the form as a whole)."""

    def __init__(self, problems: Mapping[str, Problem]) -> None:
        super().__init__(", ".join(problems))
        self.problems = dict(problems)


class MultiValues(Protocol):
    """A posted form: every value of a name (Litestar's FormMultiDict)."""

    def getall(self, key: str) -> list[Any]: ...

    def __contains__(self, key: object) -> bool: ...


# -- the form from the request Struct ------------------------------------------------------
def _inner(t: mi.Type) -> tuple[mi.Type, bool]:
    """The type without None, and whether None was allowed."""
    if isinstance(t, mi.UnionType):
        rest = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(t.types)
    return t, False


def _literal_choices(values: Iterable[Any]) -> tuple[tuple[Choice, ...], str | None]:
    texts = tuple(str(v) for v in values)
    vocabulary = vocabulary_of(texts)
    if vocabulary is not None:  # in the fixed list's own order (the seed's)
        ordered = [v for v in VOCABULARY[vocabulary] if v in texts]
        return tuple(Choice(v, VOCABULARY[vocabulary][v]) for v in ordered), vocabulary
    return tuple(Choice(v, v, literal=True) for v in sorted(texts)), None


def field_of(f: mi.Field, choices: Sequence[Choice] | None) -> Field:
    t, _ = _inner(f.type)
    given = tuple(choices) if choices is not None else None
    required = f.required
    if isinstance(t, mi.StrType):
        if given:
            return Field(f.name, "select", required, given)
        long = t.max_length is None or t.max_length > SHORT_TEXT
        return Field(f.name, "textarea" if long else "text", required,
                     max_length=t.max_length)
    if isinstance(t, mi.LiteralType):
        literal, vocabulary = _literal_choices(t.values)
        return Field(f.name, "select", required, given or literal, vocabulary=vocabulary)
    if isinstance(t, mi.BoolType):
        return Field(f.name, "checkbox", False)
    if isinstance(t, mi.IntType):
        return Field(f.name, "number", required)
    if isinstance(t, mi.ListType):
        item, _ = _inner(t.item_type)
        if isinstance(item, mi.LiteralType):
            literal, vocabulary = _literal_choices(item.values)
            return Field(f.name, "checkboxes", required, given or literal, vocabulary=vocabulary)
        if given is not None:
            return Field(f.name, "checkboxes", required, given)
        return Field(f.name, "lines", required)
    if isinstance(t, mi.DictType) and isinstance(t.value_type, mi.BoolType):
        return Field(f.name, "checkboxes", required, given or ())
    if isinstance(t, mi.DictType) and isinstance(_inner(t.value_type)[0], mi.StrType):
        # A text for each of the offered keys (`exceptions.U4`), the blank ones left out.
        return Field(f.name, "keyed", required, given or ())
    return Field(f.name, "text", required)


def form_for(command: Command, choices: Mapping[str, Sequence[Choice]] | None = None
             ) -> StepForm:
    """The form of one step; `choices`: what the case offers, by field name."""
    if command.request is None:
        return StepForm(command)
    info = mi.type_info(command.request)
    assert isinstance(info, mi.StructType)
    offered = choices or {}
    return StepForm(command, tuple(field_of(f, offered.get(f.name)) for f in info.fields))


# -- reading a posted form -------------------------------------------------------------------
def _values(form: MultiValues, name: str) -> list[str]:
    return [v for v in form.getall(name) if isinstance(v, str)] if name in form else []


def _posted(field: Field, form: MultiValues, struct: mi.Field) -> tuple[bool, Any]:
    """(given?, the value as the Struct takes it)."""
    values = _values(form, field.name)
    first = values[0].strip() if values else ""
    t, _ = _inner(struct.type)
    if field.widget == "checkbox":
        return True, bool(values)
    if field.widget == "checkboxes":
        if isinstance(t, mi.DictType):  # a checklist: every offered code, ticked or not
            ticked = set(values)
            return True, {c.value: c.value in ticked for c in field.choices}
        return bool(values) or not field.required, values
    if field.widget == "keyed":
        texts = {c.value: text for c in field.choices
                 if (text := next(iter(_values(form, f"{field.name}.{c.value}")), "")).strip()}
        return bool(texts) or not field.required, texts
    if field.widget == "lines":
        lines = [line.strip() for line in first.splitlines() if line.strip()]
        return bool(lines) or not field.required, lines
    if field.widget == "number":
        return bool(first), first
    # A text kept as typed (leading spaces of a paragraph mean something); blank is none.
    text = values[0] if values else ""
    return bool(text.strip()), text


REQUIRED = N_("This field is required.")
TOO_LONG = N_("Too long: at most %(n)s characters.")
NOT_A_CHOICE = N_("Choose one of the options.")
NOT_VALID = N_("This value is not valid.")
NOT_ACCEPTED = N_("This value is not accepted.")


def problem_of(error: msgspec.ValidationError) -> tuple[str, Problem]:
    """Which field a msgspec error names, and what to tell."""
    text = str(error)
    where = re.search(r"at `\$\.([A-Za-z_][\w-]*)", text) or re.search(
        r"missing required field `([^`]+)`", text)
    name = where.group(1) if where else FORM
    if "missing required field" in text or "length >= 1" in text:
        return name, Problem(REQUIRED)
    if (longest := re.search(r"length <= (\d+)", text)) is not None:
        return name, Problem(TOO_LONG, {"n": int(longest.group(1))})
    if "Invalid enum value" in text:
        return name, Problem(NOT_A_CHOICE)
    return name, Problem(NOT_VALID, detail=text)


def read(step: StepForm, form: MultiValues) -> msgspec.Struct | None:
    """The step's request from a posted form, or FormErrors naming each field at fault
    (every required field left empty at once, then the first other problem)."""
    request = step.command.request
    if request is None:
        return None
    info = mi.type_info(request)
    assert isinstance(info, mi.StructType)
    structs = {f.name: f for f in info.fields}
    data: dict[str, Any] = {}
    missing: dict[str, Problem] = {}
    for f in step.fields:
        given, value = _posted(f, form, structs[f.name])
        if given:
            data[f.name] = value
        elif f.required:
            missing[f.name] = Problem(REQUIRED)
    if missing:
        raise FormErrors(missing)
    try:
        return msgspec.convert(data, request, strict=False)
    except msgspec.ValidationError as exc:
        name, problem = problem_of(exc)
        raise FormErrors({name if name in structs else FORM: problem}) from None
