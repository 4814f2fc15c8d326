"""Quiet hours defer to the morning in the profile's timezone (DST days included); the frequency cap
suppresses the fourth promotional message of a day and never a transactional one; opt-outs hold."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from activities.models import Profile
from journeys.document import DocumentError, parse_journey
from journeys.services import journey_create, journey_publish
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus, MessagingPolicy, ProviderConfig
from messaging.pacing import caps_parse, opt_out, quiet_until
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.servers import provider_server

NIGHT = (time(22, 0), time(8, 0))
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "zone", "until"),
    [
        ("2025-06-10T21:30:00", BERLIN, "2025-06-11T06:00:00"),  # 23:30 CEST → 08:00 CEST next day
        ("2025-06-10T05:00:00", BERLIN, "2025-06-10T06:00:00"),  # 07:00 CEST → 08:00 the same day
        ("2025-06-10T06:00:00", BERLIN, None),  # 08:00: the window is over
        ("2025-06-10T19:59:59", BERLIN, None),  # 21:59:59: not yet
        # The night clocks go forward (30 March 2025, 02:00 → 03:00 in Berlin): 08:00 CEST is 06:00 UTC.
        ("2025-03-29T22:30:00", BERLIN, "2025-03-30T06:00:00"),
        # The night clocks go back (26 October 2025, 03:00 → 02:00): 08:00 CET is 07:00 UTC.
        ("2025-10-25T21:00:00", BERLIN, "2025-10-26T07:00:00"),
        ("2025-11-02T04:30:00", NEW_YORK, "2025-11-02T13:00:00"),  # 00:30 EDT, the night clocks go back: 08:00 EST
    ],
)
def test_quiet_hours_end_at_local_morning(now, zone, until):
    expected = _utc(until) if until else None
    assert quiet_until(_utc(now), zone, *NIGHT) == expected


def test_a_daytime_window_and_no_window():
    assert quiet_until(_utc("2025-06-10T12:00:00"), ZoneInfo("UTC"), time(12), time(13)) == _utc("2025-06-10T13:00:00")
    assert quiet_until(_utc("2025-06-10T12:00:00"), ZoneInfo("UTC"), None, None) is None


def test_opt_outs_by_channel_category_and_both():
    assert opt_out({"email": False}, "email", "promotional", transactional=False) == "opted out of email"
    assert opt_out({"promotional": False}, "sms", "promotional", transactional=False) == "opted out of promotional"
    assert opt_out({"push:news": False}, "push", "news", transactional=False) == "opted out of push:news"
    assert opt_out({"push:news": False}, "sms", "news", transactional=False) is None
    assert opt_out({"email": True}, "email", "promotional", transactional=False) is None
    assert opt_out({"email": False}, "email", "transactional", transactional=True) is None


def test_bad_caps_are_named():
    _, problems = caps_parse([{"max": -1}, {"max": 3, "per": "soon"}, "x"])
    assert [field for field, _ in problems] == ["frequency_caps[0].max", "frequency_caps[1].per", "frequency_caps[2]"]


@pytest.mark.django_db
def test_quiet_hours_defer_a_send_to_the_profiles_morning(acme):
    MessagingPolicy.objects.create(workspace=acme.workspace, quiet_hours_start=NIGHT[0], quiet_hours_end=NIGHT[1])
    with provider_server() as server, time_machine.travel(_utc("2025-03-29T22:30:00"), tick=False):
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1")
        template(acme, "promo", "sms", {"body": "Sale!"})
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="browse")
        track(acme, "lea", "browse", traits={"phone": "+4915550001"})
        Profile.objects.filter(user_id="lea").update(timezone="Europe/Berlin")
        assert messages_deliver() == 0
        message = Message.objects.get()
        assert message.status == MessageStatus.QUEUED
        assert message.send_after == _utc("2025-03-30T06:00:00")
        assert message.status_reason.startswith("deferred: quiet hours")
    with time_machine.travel(_utc("2025-03-30T05:59:00"), tick=False):
        assert messages_deliver() == 0
    with provider_server() as server, time_machine.travel(_utc("2025-03-30T06:00:01"), tick=False):
        ProviderConfig.objects.filter(channel="sms").update(
            settings={"base_url": server.url, "account_sid": "AC1", "from_number": "+1"}
        )
        assert messages_deliver() == 1
    assert len(server.delivered) == 1


@pytest.mark.django_db
def test_the_fourth_promotional_message_of_a_day_is_capped_not_a_transactional_one(acme):
    MessagingPolicy.objects.create(
        workspace=acme.workspace, frequency_caps=[{"channel": "*", "category": "promotional", "max": 3, "per": "P1D"}]
    )
    with provider_server() as server:
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1")
        template(acme, "promo", "sms", {"body": "Sale!"})
        template(acme, "otp", "sms", {"body": "Code"}, "transactional")
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="browse")
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "otp"}, event="login")
        for _ in range(4):
            track(acme, "max", "browse", traits={"phone": "+15550007"})
        track(acme, "max", "login")
        assert messages_deliver() == 4
    promo = list(Message.objects.filter(template="promo").order_by("pk").values_list("status", "status_reason"))
    assert [s for s, _ in promo] == ["sent", "sent", "sent", "suppressed"]
    assert promo[3][1] == "frequency cap: at most 3 promotional messages per P1D"
    assert Message.objects.get(template="otp").status == MessageStatus.SENT
    assert len(server.delivered) == 4
    # A day later the cap has room again.
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    with provider_server() as server, time_machine.travel(later, tick=False):
        ProviderConfig.objects.filter(channel="sms").update(
            settings={"base_url": server.url, "account_sid": "AC1", "from_number": "+1"}
        )
        track(acme, "max", "browse")
        assert messages_deliver() == 1


@pytest.mark.django_db
def test_a_journey_can_opt_out_of_quiet_hours_and_caps(acme):
    MessagingPolicy.objects.create(
        workspace=acme.workspace,
        quiet_hours_start=time(0, 0),
        quiet_hours_end=time(23, 59),  # always quiet
        frequency_caps=[{"channel": "*", "category": "*", "max": 0, "per": "P1D"}],  # never room
    )
    with provider_server() as server:
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1")
        template(acme, "alert", "sms", {"body": "Price drop"})
        document = {
            "name": "urgent",
            "entry": {"type": "event", "event": "price_drop"},
            "messaging": {"quiet_hours": False, "frequency_caps": False},
            "start": "s",
            "nodes": {"s": {"type": "send", "channel": "sms", "template": "alert", "next": None}},
        }
        journey_publish(
            journey=journey_create(workspace=acme.workspace, actor=acme.owner, document=document), actor=acme.owner
        )
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "alert"}, event="browse")
        track(acme, "ola", "price_drop", traits={"phone": "+15550200"})
        track(acme, "ola", "browse")
        assert messages_deliver() == 1
    outcomes = dict(Message.objects.values_list("enrollment__journey__name", "status"))
    assert outcomes == {"urgent": "sent", "on browse": "queued"}  # the other journey waits for the morning


def test_bad_journey_messaging_settings_are_named():
    with pytest.raises(DocumentError) as raised:
        parse_journey(
            {
                "name": "x",
                "entry": {"type": "event", "event": "e"},
                "messaging": {"quiet_hours": "no", "pacing": True},
                "start": "s",
                "nodes": {"s": {"type": "exit"}},
            }
        )
    assert {p.field for p in raised.value.problems} == {"messaging.quiet_hours", "messaging.pacing"}


@pytest.mark.django_db
def test_a_claim_counts_what_it_holds_back_with_one_upsert(acme, monkeypatch):
    """Counting each held-back message on its own, in message order, took the counters' row locks in
    different orders in two concurrent claims and deadlocked them; one sorted upsert per claim cannot."""
    from messaging import counters

    upserts: list[list[tuple]] = []
    real_stats_add = counters.stats_add

    def recording(counts):  # the real upsert, with a record of each call
        upserts.append(sorted(counts.items()))
        return real_stats_add(counts)

    monkeypatch.setattr(counters, "stats_add", recording)
    MessagingPolicy.objects.create(workspace=acme.workspace, quiet_hours_start=NIGHT[0], quiet_hours_end=NIGHT[1])
    with time_machine.travel(_utc("2025-06-10T23:30:00"), tick=False):
        template(acme, "promo", "sms", {"body": "Sale!"})
        browse = journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="browse")
        login = journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="login")
        for event in ("browse", "login", "browse", "login"):
            track(acme, "ned", event, traits={"phone": "+15550008"})
        upserts.clear()
        assert messages_deliver() == 0
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.QUEUED}  # deferred, all four
    [counted] = upserts
    assert [(key[0], key[3], key[5], count) for key, count in counted] == [
        (browse.pk, "message_status", "deferred", 2),
        (login.pk, "message_status", "deferred", 2),
    ]
