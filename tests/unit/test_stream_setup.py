"""The relay makes its streams on a JetStream cluster that may still be forming (started
together with it, as compose and the drill start it): "no suitable peers for placement"
and a missing meta leader are waited out, within a bound; anything else is raised."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from nats.js.errors import BadRequestError, ServiceUnavailableError

from services.infra.relay import NO_SUITABLE_PEERS, ensure_streams


@dataclass
class FormingCluster:
    """A JetStream context answering as a forming cluster does, then as a formed one."""

    refusals: list[Exception]
    made: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    async def add_stream(self, config: Any) -> None:
        if self.refusals:
            raise self.refusals.pop(0)
        self.made.append(config.name)

    async def update_stream(self, config: Any) -> None:
        self.updated.append(config.name)


@dataclass
class OneStream:
    jetstream_name: str = "PTSP_APPLICATIONS"
    subjects: str = "ptsp.applications.>"


def no_peers() -> BadRequestError:
    return BadRequestError(code=400, err_code=NO_SUITABLE_PEERS,
                           description="no suitable peers for placement")


async def test_a_forming_cluster_is_waited_for() -> None:
    js = FormingCluster([no_peers(), ServiceUnavailableError(code=503), no_peers()])
    await ensure_streams(js, [OneStream()], replicas=3)  # type: ignore[arg-type, list-item]
    assert js.made == ["PTSP_APPLICATIONS"] and js.updated == []


async def test_an_existing_stream_is_updated_at_once() -> None:
    exists = BadRequestError(code=400, err_code=10058, description="stream name already in use")
    js = FormingCluster([exists])
    await ensure_streams(js, [OneStream()], replicas=3)  # type: ignore[arg-type, list-item]
    assert js.updated == ["PTSP_APPLICATIONS"] and js.made == []


async def test_a_cluster_that_never_forms_is_reported_within_the_bound() -> None:
    js = FormingCluster([ServiceUnavailableError(code=503) for _ in range(100)])
    with pytest.raises(ServiceUnavailableError):
        await ensure_streams(js, [OneStream()], replicas=3,  # type: ignore[arg-type, list-item]
                             patience=1.2)
    assert len(js.refusals) > 90  # gave up after a few tries, not after all of them
