"""Open311 GeoReport v2 as it travels: the standard's field names, JSON only.

Extensions beside the standard's fields: `tracking_number` (every service request) and
`pin` (the answer to a new one), which the channel hands to the person for
`GET /track/{tracking_number}?pin=`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Short = Annotated[str, msgspec.Meta(max_length=250)]
Long = Annotated[str, msgspec.Meta(max_length=1000)]
Key = Annotated[str, msgspec.Meta(max_length=4000)]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=16_000)]
"""Leaves room, within the intake's 20,000 characters, for the place and the media link
the office adds to it."""
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Reference = Annotated[str, msgspec.Meta(max_length=500)]
MediaUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://\S+$", max_length=2000)]


class Service(msgspec.Struct, kw_only=True):
    """One entry of `services.json`."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    """True: `services/{service_code}.json` lists the attributes it takes."""
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class AttributeValue(msgspec.Struct, kw_only=True):
    key: str
    name: str


class Attribute(msgspec.Struct, kw_only=True):
    """One `attribute[code]` a new request may carry."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist",
                      "multivaluelist"]
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue] = []


class ServiceDefinition(msgspec.Struct, kw_only=True):
    """`services/{service_code}.json`."""

    service_code: str
    attributes: list[Attribute]


class NewServiceRequest(msgspec.Struct, kw_only=True):
    """`POST requests.json`, form-encoded as the standard has it. `api_key` may come
    here, in the query string or as the bearer header. The standard's location fields
    (`lat`/`long`, `address_string`, `address_id`) are optional here: a complaint about
    a licensing office is about a service, not a place; given, they are kept with the
    description."""

    service_code: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    description: Description
    api_key: Key | None = None
    jurisdiction_id: Short | None = None
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: Long | None = None
    address_id: Short | None = None
    email: Short | None = None
    device_id: Short | None = None
    account_id: Short | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    phone: Short | None = None
    media_url: MediaUrl | None = None
    external_id: Reference | None = msgspec.field(
        default=None, name="attribute[external_id]")
    subject_matter: Long | None = msgspec.field(
        default=None, name="attribute[subject_matter]")
    service_received_on: Short | None = msgspec.field(
        default=None, name="attribute[service_received_on]")
    nik: Short | None = msgspec.field(default=None, name="attribute[nik]")
    related_application_id: Short | None = msgspec.field(
        default=None, name="attribute[related_application_id]")


class RequestCreated(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The one element of the answer to `POST requests.json`."""

    service_request_id: str
    service_notice: str
    tracking_number: str
    pin: str
    account_id: str | None = None


class ServiceRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One service request as `requests.json` and `requests/{id}.json` list it. The
    standard's `description`, `address`, `lat`, `long` and `media_url` are left out: what
    a person wrote stays inside the office (it is sealed personal data), and a channel
    reads back where its case stands, not what it sent."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    """The status in Bahasa Indonesia (a fixed text: no free text from the case)."""
    service_name: str
    service_code: str
    agency_responsible: str
    service_notice: str
    requested_datetime: datetime
    """When the channel received it."""
    updated_datetime: datetime
    tracking_number: str
    expected_datetime: datetime | None = None
    """While the 14-working-day clock runs: when it ends."""


class Open311Error(msgspec.Struct, kw_only=True):
    """The standard's error: every error answer is a list of these."""

    code: int
    """The HTTP status."""
    description: str
    """What is wrong, naming the field (`email: ...`)."""
