"""In-app messages fetched by the SDK with the write key (impressions recorded), SMS STOP replies,
provider delivery reports; each outcome an activity and a journey counter; bad input named. Callbacks
from Twilio carry its signature (computed here as Twilio documents it)."""

from __future__ import annotations

from functools import partial

import pytest

from activities.models import Activity, Profile
from journeys.selectors import journey_analytics
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.conftest import basic_auth
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.helpers import twilio_post as signed_post
from tests.messaging.servers import provider_server

pytestmark = pytest.mark.django_db
AUTH_TOKEN = "twilio-auth-token"
twilio_post = partial(signed_post, token=AUTH_TOKEN)


def test_in_app_messages_are_handed_out_once_with_their_fields(acme, globex, client):
    template(acme, "banner", "in_app", {"title": "Hi {{ profile.first_name }}", "body": "New in", "layout": "banner"})
    journey = journey_sending(acme, {"type": "send", "channel": "in_app", "template": "banner"}, event="open")
    track(acme, "ivy", "open", traits={"first_name": "Ivy"})
    assert messages_deliver() == 1
    auth = {"HTTP_AUTHORIZATION": basic_auth(acme.write_key)}
    assert client.get("/v1/inapp?userId=ivy", HTTP_AUTHORIZATION=basic_auth(globex.write_key)).json() == {
        "messages": []
    }
    first = client.get("/v1/inapp?userId=ivy", **auth)
    assert first.status_code == 200
    [shown] = first.json()["messages"]
    assert (shown["title"], shown["body"], shown["layout"]) == ("Hi Ivy", "New in", "banner")
    assert client.get("/v1/inapp?userId=ivy", **auth).json() == {"messages": []}
    assert Message.objects.get().status == MessageStatus.DELIVERED
    assert Activity.objects.filter(name="message_delivered", properties__impression=True).count() == 1
    statuses = journey_analytics(journey=journey)["nodes"]["send"]["message_statuses"]
    assert statuses == {"sent": 1, "delivered": 1}


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("userId=ivy", {}, 401),
        ("userId=ivy", {"HTTP_AUTHORIZATION": basic_auth("wk_unknown")}, 401),
        ("", "acme", 400),
    ],
)
def test_in_app_bad_requests(acme, client, query, headers, status):
    if headers == "acme":
        headers = {"HTTP_AUTHORIZATION": basic_auth(acme.write_key)}
    assert client.get(f"/v1/inapp?{query}", **headers).status_code == status


def test_sms_stop_opts_the_sender_out_and_start_back_in(acme, client):
    with provider_server() as server:
        sms = provider(
            acme, "sms", "twilio", secret=AUTH_TOKEN, base_url=server.url, account_sid="AC1", from_number="+1"
        )
        template(acme, "promo", "sms", {"body": "Sale"})
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="browse")
        track(acme, "sam", "browse", traits={"phone": "+15550100"})
        assert messages_deliver() == 1
        url = f"/m/sms/{sms.inbound_token}"
        reply = twilio_post(client, url, {"From": "+15550100", "Body": "stop please"})
        assert reply.status_code == 200 and b"<Response/>" in reply.content
        assert Profile.objects.get(user_id="sam").consent == {"sms": False}
        assert Activity.objects.filter(name="unsubscribed", properties__channel="sms").count() == 1
        track(acme, "sam", "browse")
        assert messages_deliver() == 0
        assert Message.objects.order_by("pk").last().status_reason == "opted out of sms"
        twilio_post(client, url, {"From": "+15550100", "Body": "START"})
        assert Profile.objects.get(user_id="sam").consent == {"sms": True}
    assert twilio_post(client, "/m/sms/forged", {"From": "+1", "Body": "STOP"}).status_code == 404
    assert twilio_post(client, url, {"Body": "STOP"}).status_code == 400


def test_delivery_reports_move_the_message_and_record_activities(acme, client):
    with provider_server() as server:
        sms = provider(
            acme, "sms", "twilio", secret=AUTH_TOKEN, base_url=server.url, account_sid="AC1", from_number="+1"
        )
        template(acme, "promo", "sms", {"body": "Sale"})
        journey = journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="browse")
        track(acme, "tia", "browse", traits={"phone": "+15550101"})
        messages_deliver()
    url = f"/m/status/{sms.inbound_token}"
    assert twilio_post(client, url, {"MessageSid": "SM123", "MessageStatus": "sent"}).json() == {"ignored": "sent"}
    delivered = twilio_post(client, url, {"MessageSid": "SM123", "MessageStatus": "delivered"})
    assert delivered.json() == {"status": "delivered"}
    assert Message.objects.get().status == MessageStatus.DELIVERED
    assert Activity.objects.filter(name="message_delivered").count() == 1
    assert journey_analytics(journey=journey)["nodes"]["send"]["message_statuses"] == {"sent": 1, "delivered": 1}
    assert twilio_post(client, url, {"MessageSid": "SM999", "MessageStatus": "delivered"}).status_code == 404
    assert twilio_post(client, url, {"MessageStatus": "delivered"}).status_code == 400
    assert (
        twilio_post(client, "/m/status/forged", {"MessageSid": "SM123", "MessageStatus": "failed"}).status_code == 404
    )
