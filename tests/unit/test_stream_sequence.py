"""projections/runner.py `stream_sequence`: a message's stream sequence read from its
reply subject is what nats-py's `msg.metadata` reads, in both forms of the subject."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from projections.runner import stream_sequence

REPLIES = [
    # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
    "$JS.ACK.PTSP_APPLICATIONS.case_views-applications.1.4711.4700.1764763200000000000.12",
    # $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>.<r>
    "$JS.ACK._.ACCHASH.PTSP_COMPLAINTS.sla_timers-complaints.3.99.98.1764763200000000000.0.x7",
    "$JS.ACK.hub.ACCHASH.S.c.1.123456789.5.1764763200000000000.7",  # 11 tokens, no random
]


@pytest.mark.parametrize("reply", REPLIES)
def test_the_stream_sequence_is_what_nats_py_reads(reply: str) -> None:
    msg = Msg(_client=None, subject="ptsp.applications.submitted", reply=reply)  # type: ignore[arg-type]
    assert stream_sequence(msg) == Msg(_client=None, reply=reply).metadata.sequence.stream  # type: ignore[arg-type]


@pytest.mark.parametrize("reply", ["_INBOX.abc", "$JS.ACK.a.b.c.d.e.f.g.h"])  # 10 tokens
def test_a_message_that_is_not_from_jetstream_is_refused_as_nats_py_refuses_it(
        reply: str) -> None:
    with pytest.raises(NotJSMessageError):
        stream_sequence(Msg(_client=None, subject="x", reply=reply))  # type: ignore[arg-type]
