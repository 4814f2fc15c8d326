"""Provider callbacks (`/m/sms/<token>`, `/m/status/<token>`): Twilio's are verified with its
`X-Twilio-Signature` (Twilio's published examples, and signatures computed here from its documentation),
unsigned or badly signed ones are refused with 403 and change nothing; the URL token is per provider
and an owner can rotate it in the admin (the old URLs stop working at once, the page shows the new);
the workspace-wide URLs of before keep working until the first rotation."""

from __future__ import annotations

import json

import pytest
from django.core import signing
from django.test import Client

from activities.models import Profile
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus, ProviderConfig
from messaging.providers.sms import twilio_request_valid, twilio_signature
from tests.messaging.helpers import journey_sending, provider, template, track, twilio_post
from tests.messaging.servers import provider_server
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.django_db
AUTH_TOKEN = "f3a9c2e1d4b5a6978877665544332211"

# Twilio's published examples (twilio-python's request-validator tests).
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Digits": ["1234"],
    "From": ["+14158675309"],
    "To": ["+18005551212"],
    "Caller": ["+14158675309"],
}


def test_the_signature_is_twilios():
    assert twilio_signature("12345", EXAMPLE_URL, EXAMPLE_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = {"Sid": ["CA123"], "SidAccount": ["AC123"], "Digits": ["5678", "1234"]}
    assert twilio_signature("12345", EXAMPLE_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (EXAMPLE_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (EXAMPLE_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # signed without the port
        (EXAMPLE_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443
        (EXAMPLE_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # signed with :80
    ],
)
def test_a_signature_with_or_without_the_port_is_valid(url, signature):
    assert twilio_request_valid("12345", signature, [url], EXAMPLE_PARAMS, b"")


def test_a_json_callback_signs_its_body_hash():
    body = b'{"property": "value", "boolean": true}'
    url = EXAMPLE_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert twilio_request_valid("12345", "a9nBmqA0ju/hNViExpshrM61xv4=", [url], {}, body)
    assert not twilio_request_valid("12345", "a9nBmqA0ju/hNViExpshrM61xv4=", [url], {}, body + b" ")


@pytest.mark.parametrize(
    "signature",
    ["", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "rsoydt4t1cutdk1pdd93/vvr8b8=", twilio_signature("54321", EXAMPLE_URL, {})],
)
def test_a_wrong_signature_is_invalid(signature):
    assert not twilio_request_valid("12345", signature, [EXAMPLE_URL], EXAMPLE_PARAMS, b"")


# --- The endpoints --------------------------------------------------------------------------------------


@pytest.fixture
def sms(acme) -> ProviderConfig:
    """A Twilio provider that has sent Sam one SMS (provider id SM123)."""
    with provider_server() as server:
        config = provider(
            acme, "sms", "twilio", secret=AUTH_TOKEN, base_url=server.url, account_sid="AC1", from_number="+1"
        )
        template(acme, "promo", "sms", {"body": "Sale"})
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "promo"}, event="browse")
        track(acme, "sam", "browse", traits={"phone": "+15550100"})
        assert messages_deliver() == 1
    return config


STOP = {"From": "+15550100", "Body": "STOP", "MessageSid": "SMin1"}
DELIVERED = {"MessageSid": "SM123", "MessageStatus": "delivered"}


def _consent() -> dict:
    return dict(Profile.objects.get(user_id="sam").consent or {})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_TWILIO_SIGNATURE": ""},
        {"HTTP_X_TWILIO_SIGNATURE": "bm90IGEgc2lnbmF0dXJl"},
        {"HTTP_X_TWILIO_SIGNATURE": twilio_signature(AUTH_TOKEN, "http://testserver/m/sms/x", {})},
    ],
    ids=["unsigned", "empty", "garbage", "other-url"],
)
def test_an_inbound_sms_not_signed_by_twilio_is_refused(client, sms, headers):
    response = client.post(f"/m/sms/{sms.inbound_token}", STOP, **headers)
    assert response.status_code == 403
    assert _consent() == {}


def test_an_inbound_sms_signed_with_another_token_or_altered_is_refused(client, sms):
    path = f"/m/sms/{sms.inbound_token}"
    assert twilio_post(client, path, STOP, token="someone-elses-auth-token").status_code == 403
    signed = twilio_signature(AUTH_TOKEN, "http://127.0.0.1:8000" + path, {k: [v] for k, v in STOP.items()})
    altered = {**STOP, "From": "+15550199"}
    assert client.post(path, altered, HTTP_X_TWILIO_SIGNATURE=signed).status_code == 403
    assert _consent() == {}


def test_a_signed_inbound_sms_is_taken(client, sms, settings):
    path = f"/m/sms/{sms.inbound_token}"
    assert twilio_post(client, path, STOP, token=AUTH_TOKEN).status_code == 200
    assert _consent() == {"sms": False}
    settings.NUDGE_PUBLIC_URL = "https://nudge.example"  # Twilio was given the public URL
    start = {**STOP, "Body": "START"}
    assert twilio_post(client, path, start, token=AUTH_TOKEN).status_code == 200
    assert _consent() == {"sms": True}


def test_the_address_the_request_came_to_is_accepted_too(client, sms):
    """Behind a proxy that keeps the Host, Twilio signs the URL as the request names it."""
    path = f"/m/sms/{sms.inbound_token}"
    signature = twilio_signature(AUTH_TOKEN, "http://testserver" + path, {k: [v] for k, v in STOP.items()})
    assert client.post(path, STOP, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200


def test_a_delivery_report_not_signed_by_twilio_is_refused(client, sms):
    path = f"/m/status/{sms.inbound_token}"
    assert client.post(path, DELIVERED).status_code == 403
    assert client.post(path, json.dumps({"id": "SM123", "status": "delivered"}), "application/json").status_code == 403
    assert twilio_post(client, path, DELIVERED, token="not-the-auth-token").status_code == 403
    assert Message.objects.get().status == MessageStatus.SENT
    assert twilio_post(client, path, DELIVERED, token=AUTH_TOKEN).json() == {"status": "delivered"}
    assert Message.objects.get().status == MessageStatus.DELIVERED


def test_a_token_reaches_only_its_own_providers_messages(client, acme, globex, sms):
    other = provider(globex, "sms", "twilio", secret="globex-auth-token", account_sid="AC2", from_number="+2")
    response = twilio_post(client, f"/m/status/{other.inbound_token}", DELIVERED, token="globex-auth-token")
    assert response.status_code == 404  # acme's SM123 is not globex's
    email = provider(acme, "email", "smtp", host="mx.example")
    assert client.post(f"/m/sms/{email.inbound_token}", STOP).status_code == 404  # not an SMS provider
    assert client.post("/m/sms/forged", STOP).status_code == 404
    assert Message.objects.get().status == MessageStatus.SENT
    assert _consent() == {}


def test_a_provider_that_does_not_sign_has_its_url_token_only(client, acme):
    """An ESP's delivery report in the generic shape ({"id", "status"}): the token is the proof."""

    def postmark(call) -> bytes:
        to = json.loads(call.body)["To"]
        return json.dumps(
            {"To": to, "SubmittedAt": "2026-11-23T00:00:00Z", "MessageID": "pm-1", "ErrorCode": 0, "Message": "OK"}
        ).encode()

    with provider_server(reply=postmark) as server:
        config = provider(acme, "email", "anymail", secret="server-token", esp="postmark", api_url=server.url + "/")
        template(acme, "hi", "email", {"subject": "Hi", "text": "Hello"})
        journey_sending(acme, {"type": "send", "channel": "email", "template": "hi"})
        track(acme, "pam", "signup", traits={"email": "pam@example.com"})
        assert messages_deliver() == 1, Message.objects.get().status_reason
    assert Message.objects.get().provider_message_id == "pm-1"
    path = f"/m/status/{config.inbound_token}"
    assert client.post(path, "{", "application/json").status_code == 400
    bounced = client.post(path, json.dumps({"id": "pm-1", "status": "bounced"}), "application/json")
    assert bounced.json() == {"status": "failed"}
    assert Message.objects.get().status == MessageStatus.FAILED


# --- Rotation -------------------------------------------------------------------------------------------


@pytest.fixture
def operator(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("op", "op@x.test", "pw"))
    return browser


def _rotate(browser: Client, *configs: ProviderConfig):
    return browser.post(
        "/admin/messaging/providerconfig/",
        {"action": "rotate_callback_urls", "_selected_action": [c.pk for c in configs]},
        follow=True,
    )


def test_rotating_issues_new_urls_and_the_old_ones_stop_working(client, operator, sms):
    old = sms.inbound_token
    page = operator.get(f"/admin/messaging/providerconfig/{sms.pk}/change/").content.decode()
    assert f"/m/sms/{old}" in page and f"/m/status/{old}" in page
    response = _rotate(operator, sms)
    assert "New callback URLs for 1 provider(s)" in response.content.decode()
    sms.refresh_from_db()
    assert sms.inbound_token != old
    assert twilio_post(client, f"/m/sms/{old}", STOP, token=AUTH_TOKEN).status_code == 404
    assert twilio_post(client, f"/m/status/{old}", DELIVERED, token=AUTH_TOKEN).status_code == 404
    assert _consent() == {}
    page = operator.get(f"/admin/messaging/providerconfig/{sms.pk}/change/").content.decode()
    assert f"/m/sms/{sms.inbound_token}" in page and old not in page
    assert twilio_post(client, f"/m/sms/{sms.inbound_token}", STOP, token=AUTH_TOKEN).status_code == 200
    assert _consent() == {"sms": False}
    entry = AuditLogEntry.objects.get(action="rotated_callback_urls")
    assert (entry.workspace_id, entry.object_id) == (sms.workspace_id, str(sms.pk))


def _staff(tenant, role: str) -> Client:
    user = tenant.members[role]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


def test_only_an_owner_of_the_workspace_rotates(acme, globex, sms):
    old = sms.inbound_token
    _rotate(_staff(acme, Role.MARKETER), sms)
    _rotate(_staff(globex, Role.OWNER), sms)
    sms.refresh_from_db()
    assert sms.inbound_token == old
    _rotate(_staff(acme, Role.OWNER), sms)
    sms.refresh_from_db()
    assert sms.inbound_token != old


def test_the_workspace_wide_urls_of_before_work_until_the_first_rotation(client, operator, sms):
    legacy = signing.dumps(sms.workspace_id, salt="nudge.messaging.inbound")  # what the admin showed before
    path = f"/m/sms/{legacy}"
    assert twilio_post(client, path, STOP, token=AUTH_TOKEN).status_code == 404  # a provider made since: no
    ProviderConfig.objects.filter(pk=sms.pk).update(legacy_inbound_token=True)  # one from before (migration 0005)
    assert client.post(path, STOP).status_code == 403  # still signed by Twilio, or refused
    assert twilio_post(client, path, STOP, token=AUTH_TOKEN).status_code == 200
    assert twilio_post(client, f"/m/status/{legacy}", DELIVERED, token=AUTH_TOKEN).status_code == 200
    _rotate(operator, sms)
    assert twilio_post(client, path, STOP, token=AUTH_TOKEN).status_code == 404
