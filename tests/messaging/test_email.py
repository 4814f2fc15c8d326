"""A journey step sends a real email over SMTP (aiosmtpd): rendered, with one-click unsubscribe and
tracked links; the click, the pixel and the unsubscribe come back as activities, and the unsubscribe
stops the next send."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from activities.models import Activity, Profile
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.servers import provider_server, smtp_server

pytestmark = pytest.mark.django_db

WELCOME = {
    "subject": 'Welcome, {{ profile.first_name | default: "friend" }}',
    "html": '<html><body><p>Hi {{ profile.first_name }}, see <a href="https://shop.example/new?x=1">what is new</a>.'
    '</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>',
    "text": "Hi {{ profile.first_name }}. You signed up from {{ event.source }}.",
    "from_email": "hello@acme.test",
}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_journey_email_goes_out_tracked_and_its_unsubscribe_stops_the_next(acme):
    client = Client()
    with smtp_server() as mailbox:
        provider(acme, "email", "smtp", host="127.0.0.1", port=mailbox.port)
        template(acme, "welcome", "email", WELCOME)
        journey_sending(acme, {"type": "send", "channel": "email", "template": "welcome"})
        track(acme, "ada", "signup", traits={"email": "ada@example.com", "first_name": "Ada"}, source="ios")
        assert messages_deliver() == 1

        [mail] = mailbox.received
        assert mail["Subject"] == "Welcome, Ada"
        assert mail["To"] == "ada@example.com"
        assert mail["From"] == "hello@acme.test"
        message = Message.objects.get()
        assert message.status == MessageStatus.SENT
        assert mail["Message-ID"] == message.provider_message_id
        unsubscribe = re.sub(r"\s", "", str(mail["List-Unsubscribe"])).strip("<>")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = (part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart())
        assert text == "Hi Ada. You signed up from ios."
        assert "https://shop.example/new" not in html  # every link goes through the click redirect
        click = next(link for link in html.split('"') if "/m/c/" in link)
        pixel = next(link for link in html.split('"') if "/m/o/" in link)

        response = client.get(_path(click))
        assert response.status_code == 302
        assert response["Location"] == "https://shop.example/new?x=1"
        assert client.get(_path(pixel)).status_code == 200
        assert client.get(_path(pixel)).status_code == 200  # a second open is not a second activity
        names = sorted(Activity.objects.filter(name__startswith="message_").values_list("name", flat=True))
        assert names == ["message_clicked", "message_opened"]
        assert Message.objects.get().status == MessageStatus.CLICKED

        page = client.get(_path(unsubscribe))
        assert page.status_code == 200 and b"Unsubscribe" in page.content
        assert client.post(_path(unsubscribe)).status_code == 200  # RFC 8058 one-click POST
        assert Profile.objects.get(user_id="ada").consent == {"email": False}
        assert Activity.objects.filter(name="unsubscribed", properties__channel="email").count() == 1

        track(acme, "ada", "signup", source="web")
        assert messages_deliver() == 0
        assert len(mailbox.received) == 1
        second = Message.objects.order_by("pk").last()
        assert second.status == MessageStatus.SUPPRESSED
        assert second.status_reason == "opted out of email"


def test_tracking_links_are_signed(acme, client):
    assert client.get("/m/c/forged-token").status_code == 404
    assert client.get("/m/o/forged.gif").status_code == 404
    assert client.post("/m/u/forged").status_code == 404


def test_a_transactional_email_ignores_the_opt_out(acme):
    with smtp_server() as mailbox:
        provider(acme, "email", "smtp", host="127.0.0.1", port=mailbox.port)
        template(acme, "receipt", "email", {"subject": "Receipt", "text": "Thanks"}, category="transactional")
        journey_sending(acme, {"type": "send", "channel": "email", "template": "receipt"}, event="order")
        track(acme, "bo", "order", traits={"email": "bo@example.com"})
        Profile.objects.filter(user_id="bo").update(consent={"email": False, "promotional": False})
        assert messages_deliver() == 1
        assert len(mailbox.delivered) == 1


def test_a_refused_recipient_fails_the_message_with_the_servers_reason(acme):
    with smtp_server() as mailbox:
        provider(acme, "email", "smtp", host="127.0.0.1", port=mailbox.port)
        template(acme, "welcome", "email", WELCOME)
        journey_sending(acme, {"type": "send", "channel": "email", "template": "welcome"})
        track(acme, "cy", "signup")  # no email address
        assert messages_deliver() == 0
    message = Message.objects.get()
    assert message.status == MessageStatus.SUPPRESSED
    assert message.status_reason == "the profile has no email address"


def test_an_esp_api_through_anymail(acme):
    """Postmark's API (a local server standing in for it): the rendered email and the ESP's id."""

    def postmark(call) -> bytes:
        sent = json.loads(call.body)
        return json.dumps(
            {
                "To": sent["To"],
                "SubmittedAt": "2026-11-23T00:00:00Z",
                "MessageID": "pm-1",
                "ErrorCode": 0,
                "Message": "OK",
            }
        ).encode()

    with provider_server(reply=postmark) as server:
        provider(
            acme,
            "email",
            "anymail",
            secret="server-token",
            esp="postmark",
            api_url=server.url + "/",
            from_email="hi@acme.test",
        )
        template(acme, "welcome", "email", WELCOME)
        journey_sending(acme, {"type": "send", "channel": "email", "template": "welcome"})
        track(acme, "pam", "signup", traits={"email": "pam@example.com", "first_name": "Pam"})
        assert messages_deliver() == 1
    [call] = server.calls
    body = json.loads(call.body)
    assert call.path == "/email"
    assert call.headers["X-Postmark-Server-Token"] == "server-token"
    assert (body["To"], body["Subject"], body["From"]) == ("pam@example.com", "Welcome, Pam", "hello@acme.test")
    assert any(h["Name"] == "List-Unsubscribe" for h in body["Headers"])
    assert Message.objects.get().provider_message_id == "pm-1"
