"""What delivery computes only when it is used, and its shortcuts: a template that never names
`unsubscribe_url` gets no token signed, one that does gets a valid one, an email always carries its
List-Unsubscribe header; plain `{{ a.b }}` sources render exactly as Liquid renders them; a delivery run
freezes the heap only while it runs."""

from __future__ import annotations

import gc
import re
from urllib.parse import parse_qs

import pytest

from activities.models import Profile
from messaging import tracking
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from messaging.rendering import _parsed, liquid_render
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.servers import provider_server, smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(monkeypatch):
    """The ids of the messages each token signed was for (tracking's own signing, counted)."""
    ids: list[int] = []
    make = tracking.token_make

    def counted(message_id: int, **extra):
        ids.append(message_id)
        return make(message_id, **extra)

    monkeypatch.setattr(tracking, "token_make", counted)
    return ids


def _sms(acme, server, body: str) -> dict[str, list[str]]:
    provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+15550001")
    template(acme, "code", "sms", {"body": body}, "transactional")
    journey_sending(acme, {"type": "send", "channel": "sms", "template": "code"}, event="login")
    track(acme, "ann", "login", traits={"phone": "+905551112233", "first_name": "Ann"}, code="4711")
    assert messages_deliver() == 1
    [call] = server.calls
    return parse_qs(call.body.decode())


def test_a_template_without_the_unsubscribe_link_signs_no_token(acme, signed):
    with provider_server() as server:
        sent = _sms(acme, server, "Hi {{ profile.first_name }}, your code is {{ event.code }}")
    assert sent["Body"] == ["Hi Ann, your code is 4711"]
    assert signed == []


def test_a_template_with_the_unsubscribe_link_gets_a_valid_one(acme, signed):
    with provider_server() as server:
        sent = _sms(acme, server, "Code {{ event.code }}. Stop: {{ unsubscribe_url }}")
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT
    [body] = sent["Body"]
    token = re.fullmatch(r"Code 4711\. Stop: https?://[^/]+/m/u/(\S+)", body)
    assert token is not None, body
    assert tracking.token_read(token.group(1)) == {"m": message.pk}
    assert signed == [message.pk]


def test_a_variant_naming_the_link_is_enough(acme, signed):
    with provider_server() as server:
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1555")
        code = template(acme, "code", "sms", {"body": "Code {{ event.code }}"}, "transactional")
        code.variants = {"tr": {"body": "Kod {{ event.code }} {{ unsubscribe_url }}"}}
        code.save()
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "code"}, event="login")
        track(acme, "ann", "login", traits={"phone": "+905551112233"}, code="4711")
        Profile.objects.update(locale="tr-TR")
        assert messages_deliver() == 1
    [call] = server.calls
    [body] = parse_qs(call.body.decode())["Body"]
    assert body.startswith("Kod 4711 ") and "/m/u/" in body
    assert signed == [Message.objects.get().pk]


def test_an_email_without_the_link_in_its_template_still_has_list_unsubscribe(acme):
    with smtp_server() as mailbox:
        provider(acme, "email", "smtp", host="127.0.0.1", port=mailbox.port)
        template(acme, "hello", "email", {"subject": "Hi {{ profile.first_name }}", "text": "Hello"})
        journey_sending(acme, {"type": "send", "channel": "email", "template": "hello"})
        track(acme, "ada", "signup", traits={"email": "ada@example.com", "first_name": "Ada"})
        assert messages_deliver() == 1
    [mail] = mailbox.received
    assert mail["Subject"] == "Hi Ada"
    header = re.sub(r"\s", "", str(mail["List-Unsubscribe"]))
    token = re.fullmatch(r"<https?://[^/]+/m/u/(\S+)>", header)
    assert token is not None, header
    assert tracking.token_read(token.group(1)) == {"m": Message.objects.get().pk}
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


CONTEXT = {
    "profile": {
        "first_name": "Ann",
        "size": "S",
        "count": 3,
        "vip": True,
        "score": 1.5,
        "nothing": None,
        "list": [1, 2],
        "address": {"city": "İzmir"},
    },
    "event": {"code": "4711"},
    "journey": {},
}


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ profile.first_name }}, code {{event.code}}",
        "{{ profile.size }} {{ journey.size }} {{ profile.first }}",
        "{{ profile.count }} {{ profile.vip }} {{ profile.score }} {{ profile.nothing }} {{ profile.list }}",
        "{{ profile.address.city }} {{ profile.address }} {{ profile.missing.deeper }}",
        "<style>p { color: red }</style>{ {{ profile.first_name }} }}",
        "{{ profile.first_name | upcase }}{%- if profile.vip %} ★{% endif %}",
        "{{profile.first_name}}{{profile.first_name}}",
        "no markup at all",
        "",
    ],
)
def test_plain_sources_render_as_liquid_renders_them(source):
    assert liquid_render(source, CONTEXT) == str(_parsed(source).render(**CONTEXT))


def test_a_delivery_run_freezes_the_heap_only_while_it_runs(acme):
    with provider_server() as server:
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1555")
        template(acme, "code", "sms", {"body": "Code {{ event.code }}"}, "transactional")
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "code"}, event="login")
        track(acme, "ann", "login", traits={"phone": "+905551112233"}, code="4711")
        assert gc.get_freeze_count() == 0
        assert messages_deliver() == 1
        assert gc.get_freeze_count() == 0  # what was alive before is collectable again

        track(acme, "ann", "login", code="4712")
        gc.freeze()  # someone else's freeze (a pre-fork server's, say) is left as it was
        try:
            assert messages_deliver() == 1
            assert gc.get_freeze_count() > 0  # still frozen: the run did not unfreeze it
        finally:
            gc.unfreeze()
    assert [parse_qs(c.body.decode())["Body"] for c in server.calls] == [["Code 4711"], ["Code 4712"]]
