"""Which channels a message can reach (services/notifications/outbox.py): the settled
list, against the office's 13 intake channels (contracts/vocabulary.py)."""

from __future__ import annotations

from contracts.vocabulary import APPLICATION_CHANNELS, CHANNELS, COMPLAINT_CHANNELS
from services.notifications.outbox import ELECTRONIC_CHANNELS, NOT_ELECTRONIC, reachable


def test_the_channels_no_electronic_message_can_reach() -> None:
    # In person (at the office or the MPP counter), a phone call, paper (a letter, the
    # complaint form) and the complaint box: nothing to send a message to.
    assert set(NOT_ELECTRONIC) == {"officer", "mpp_counter", "phone", "letter", "form",
                                   "complaint_box"}
    assert set(ELECTRONIC_CHANNELS) == {"oss", "web_dpmptsp", "web_mpp", "sms", "whatsapp",
                                        "email", "twitter", "instagram"}


def test_every_channel_is_one_or_the_other() -> None:
    assert set(ELECTRONIC_CHANNELS) | set(NOT_ELECTRONIC) == set(CHANNELS)
    assert not set(ELECTRONIC_CHANNELS) & set(NOT_ELECTRONIC)
    assert set(NOT_ELECTRONIC) <= set(CHANNELS)  # a misspelt name would exclude nothing
    assert len(CHANNELS) == len(set(APPLICATION_CHANNELS) | set(COMPLAINT_CHANNELS))


def test_reachable() -> None:
    assert reachable("whatsapp") and reachable("oss")
    assert not reachable("letter") and not reachable("complaint_box")
    assert not reachable("mpp_counter")
    # Not yet known (a row older than the step consumer's knowing it): the sender reads
    # the case and decides then.
    assert reachable(None)
    # A channel added to the vocabulary later gets messages until it is listed: its
    # messages then wait in sight (`ptsp notifications list`, `/ready`), never vanish.
    assert reachable("telegram")
