"""A form for each step, made from its command table row: inputs by the request's field
types, read back into the same request Struct, each problem named by its field."""

from __future__ import annotations

import pytest
from litestar.datastructures import FormMultiDict

from services.applications.commands import COMMANDS as APPLICATIONS
from services.applications.commands import Decision, FileVerification, ReturnForCorrection
from services.complaints.commands import COMMANDS as COMPLAINTS
from services.console.cases import STEPS
from services.console.forms import (
    NOT_A_CHOICE,
    REQUIRED,
    TOO_LONG,
    Choice,
    FormErrors,
    form_for,
    read,
)

CODES = [Choice(c, c, literal=True) for c in ("U1", "U2", "K1")]


def posted(*pairs: tuple[str, str]) -> FormMultiDict:
    return FormMultiDict(list(pairs))


def widgets(name: str, table: str = "application", **choices: list[Choice]) -> dict[str, str]:
    row = next(r for r in STEPS[table] if r.name == name)
    return {f.name: f.widget for f in form_for(row, choices).fields}


def test_every_step_makes_a_form() -> None:
    for rows in STEPS.values():
        for row in rows:
            form = form_for(row, {"results": CODES, "unmet": CODES})
            expected = [] if row.request is None else list(row.request.__struct_fields__)
            assert [f.name for f in form.fields] == expected, row.name


def test_inputs_follow_the_request_types() -> None:
    assert widgets("verification", results=CODES)["results"] == "checkboxes"
    assert widgets("verification")["note"] == "textarea"
    decision = form_for(APPLICATIONS["decision"]).fields
    assert (decision[0].widget, decision[0].vocabulary) == ("select", "verdict")
    assert [c.value for c in decision[0].choices] == ["approve", "reject"]
    analysis = widgets("analysis", "complaint")
    assert (analysis["standard_refs"], analysis["handling_plan"]) == ("lines", "select")
    assert widgets("return", unmet=CODES)["unmet"] == "checkboxes"
    assert widgets("track", "complaint")["agencies"] == "lines"
    assert widgets("classification", "complaint").get("concerns_head", "checkbox") == \
        "checkbox"


def test_a_ticked_checklist_reads_as_the_verification_request() -> None:
    form = form_for(APPLICATIONS["verification"], {"results": CODES})
    request = read(form, posted(("results", "U1"), ("results", "K1"), ("note", "cek")))
    assert isinstance(request, FileVerification)
    assert request.results == {"U1": True, "U2": False, "K1": True}
    assert request.note == "cek"


def test_lines_and_ticks_read_as_lists() -> None:
    form = form_for(APPLICATIONS["return"], {"unmet": CODES})
    request = read(form, posted(("reason", "kurang"), ("unmet", "U2")))
    assert isinstance(request, ReturnForCorrection) and request.unmet == ["U2"]
    analysis = form_for(COMPLAINTS["analysis"])
    request = read(analysis, posted(("core_problem", "pungutan"),
                                    ("standard_refs", "SP KBLI 10510\n\n  SOP loket \n"),
                                    ("handling_plan", "clarification")))
    assert request.standard_refs == ["SP KBLI 10510", "SOP loket"]  # type: ignore[union-attr]


def test_every_required_field_left_empty_is_named_at_once() -> None:
    form = form_for(COMPLAINTS["analysis"])
    with pytest.raises(FormErrors) as refused:
        read(form, posted(("core_problem", "  "), ("documents_checked", "")))
    assert set(refused.value.problems) == {"core_problem", "standard_refs", "handling_plan"}
    assert {p.message for p in refused.value.problems.values()} == {REQUIRED}


def test_a_wrong_value_is_named_with_what_is_wrong() -> None:
    with pytest.raises(FormErrors) as refused:
        read(form_for(APPLICATIONS["decision"]), posted(("outcome", "maybe")))
    assert refused.value.problems["outcome"].message == NOT_A_CHOICE
    with pytest.raises(FormErrors) as refused:
        read(form_for(APPLICATIONS["return"], {"unmet": CODES}),
             posted(("reason", "x" * 20_001)))
    problem = refused.value.problems["reason"]
    assert (problem.message, dict(problem.values)) == (TOO_LONG, {"n": 20_000})


def test_a_step_without_a_body_reads_as_none_and_optional_fields_as_defaults() -> None:
    assert read(form_for(APPLICATIONS["issuance"]), posted()) is None
    decision = read(form_for(APPLICATIONS["decision"]), posted(("outcome", "approve")))
    assert decision == Decision(outcome="approve", reason="")
    closure = read(form_for(COMPLAINTS["closure"]), posted())
    assert closure is not None and closure.note is None  # type: ignore[attr-defined]


def test_texts_by_key_leave_the_blank_ones_out() -> None:
    row = APPLICATIONS["verification"]
    if "exceptions" not in row.request.__struct_fields__:  # type: ignore[union-attr]
        pytest.skip("no exceptions on the verification request")
    form = form_for(row, {"results": CODES, "exceptions": CODES})
    request = read(form, posted(("results", "U1"), ("exceptions.U1", "Pasal 65"),
                                ("exceptions.U2", "  ")))
    assert request.exceptions == {"U1": "Pasal 65"}  # type: ignore[union-attr]
