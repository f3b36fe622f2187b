"""The staff register's rules (issue 12, item 5), as given / when / then on the events of
the `StaffRegister` aggregate: who is in it, and who may be assigned a case."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from contracts import staff as contracts
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput, NotFound, RuleViolation
from services.staff.domain import StaffRegister, why_not_assignable
from services.staff.register import CONTRACTS
from tests.unit.gwt import given, then_raises, when
from tests.unit.roundtrip import round_trip

HEAD = {"id": "kepala", "role": "head"}
T0 = datetime(2026, 3, 16, 9, 0, tzinfo=JAKARTA)


def opened() -> StaffRegister:
    return StaffRegister(actor=HEAD, at=T0)


def register(member: str = "budi", role: str = "officer", unit: str | None = "perizinan",
             tier: str | None = None, **more: Any) -> Any:
    fields = {"name": f"Nama {member}", "competences": [], **more}
    return lambda r: r.register(member, fields["name"], role, unit, tier,
                                fields["competences"], HEAD, T0)


def test_registering_a_person_records_their_whole_entry() -> None:
    r = given(opened)
    diklat = {"name": "Diklat PTSP", "certified_on": date(2025, 11, 3)}
    assert when(r, register(competences=[diklat, {"name": "Diklat OSS"}])) == [
        "MemberRegistered"]
    assert r.members["budi"] == {
        "actor": "budi", "name": "Nama budi", "role": "officer", "unit": "perizinan",
        "tier": "pelaksana", "competences": [diklat, {"name": "Diklat OSS",
                                                      "certified_on": None}],
        "active": True, "registered_at": T0, "disabled_reason": None}


def test_an_officer_needs_a_unit_and_starts_at_the_first_tier() -> None:
    err = then_raises(given(opened), register(unit=None), InvalidInput)
    assert err.field == "unit"
    r = given(opened, register())
    assert r.members["budi"]["tier"] == "pelaksana"
    # Supervisors, the head and auditors span units and tiers.
    r = given(opened, register("sri", role="supervisor", unit=None))
    assert (r.members["sri"]["unit"], r.members["sri"]["tier"]) == (None, None)


@pytest.mark.parametrize(("change", "field"), [
    ({"role": "channel"}, "role"),
    ({"role": "system"}, "role"),
    ({"tier": "kepala_kantor"}, "tier"),
    ({"member": " "}, "actor"),
    ({"name": " "}, "name"),
    ({"competences": [{"name": ""}]}, "competences[0].name"),
])
def test_an_entry_names_a_person_a_role_and_a_known_tier(change: dict[str, Any],
                                                         field: str) -> None:
    args: dict[str, Any] = {"member": "budi", "role": "officer", "unit": "perizinan",
                            "tier": None, **change}
    err = then_raises(given(opened), register(**args), InvalidInput)
    assert err.field == field


def test_the_same_entry_again_records_nothing_and_a_changed_one_replaces_it() -> None:
    r = given(opened, register())
    assert when(r, register()) == []
    assert when(r, register(tier="kepala_seksi")) == ["MemberRegistered"]
    assert r.members["budi"]["tier"] == "kepala_seksi"


def test_a_disabled_person_stays_in_the_register_and_registering_again_re_enables() -> None:
    r = given(opened, register())
    assert when(r, lambda r: r.disable("budi", "pindah tugas", HEAD, T0)) == ["MemberDisabled"]
    assert r.members["budi"]["active"] is False
    assert r.members["budi"]["disabled_reason"] == "pindah tugas"
    then_raises(r, lambda r: r.disable("budi", "lagi", HEAD, T0), RuleViolation,
                "staff_member_already_disabled")
    then_raises(r, lambda r: r.disable("ani", "x", HEAD, T0), NotFound)
    assert when(r, register()) == ["MemberRegistered"]
    assert r.members["budi"]["active"] is True


def test_a_disabling_gives_its_reason() -> None:
    then_raises(given(opened, register()), lambda r: r.disable("budi", " ", HEAD, T0),
                InvalidInput)


# -- who may be assigned a case -------------------------------------------------------------
def officer(**changes: Any) -> dict[str, Any]:
    return {"actor": "budi", "role": "officer", "unit": "perizinan", "tier": "pelaksana",
            "active": True, **changes}


@pytest.mark.parametrize(("member", "unit", "tier", "why"), [
    (None, "perizinan", "pelaksana", "not in the staff register"),
    (officer(active=False), "perizinan", "pelaksana", "disabled"),
    (officer(role="supervisor"), "perizinan", "pelaksana", "not an officer"),
    (officer(), "pengaduan", "pelaksana", "not of pengaduan"),
    (officer(), "perizinan", "kepala_seksi", "the case is at kepala_seksi"),
])
def test_only_a_registered_active_officer_of_the_unit_and_tier_is_assignable(
        member: dict[str, Any] | None, unit: str, tier: str, why: str) -> None:
    reason = why_not_assignable(member, "budi", unit, tier)
    assert reason is not None and why in reason


def test_an_officer_of_the_unit_at_the_case_s_tier_or_above_is_assignable() -> None:
    assert why_not_assignable(officer(), "budi", "perizinan", "pelaksana") is None
    assert why_not_assignable(officer(tier="kepala_bidang"), "budi", "perizinan",
                              "kepala_seksi") is None


def test_every_event_has_a_contract_that_round_trips() -> None:
    r = opened()
    register(competences=[{"name": "Diklat PTSP", "certified_on": date(2025, 11, 3)}])(r)
    r.disable("budi", "pindah tugas", HEAD, T0)
    registered = round_trip(CONTRACTS, r.collect_events(), contracts.EVENT_TYPES, "staff.")[1]
    assert isinstance(registered, contracts.MemberRegistered)
    assert registered.entry.actor == "budi" and registered.actor.id == "kepala"
    assert registered.entry.tier == "pelaksana"
    assert registered.entry.competences == [contracts.Competence(
        name="Diklat PTSP", certified_on=date(2025, 11, 3))]
