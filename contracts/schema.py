"""JSON Schema of every contract, exported from the Structs themselves."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import applications, complaints, evaluations, staff, surveys


def contract_schemas() -> dict[str, Any]:
    intake = [applications.ApplicationIntake, complaints.ComplaintIntake, surveys.SurveyIntake]
    events = (list(applications.EVENT_TYPES) + list(complaints.EVENT_TYPES)
              + list(surveys.EVENT_TYPES) + list(staff.EVENT_TYPES)
              + list(evaluations.EVENT_TYPES))
    (schemas, components) = msgspec.json.schema_components(intake + events)
    return {
        "intake": {t.__name__: s for t, s in zip(intake, schemas[: len(intake)], strict=True)},
        "events": {t.__struct_config__.tag: s
                   for t, s in zip(events, schemas[len(intake):], strict=True)},
        "$defs": components,
    }
