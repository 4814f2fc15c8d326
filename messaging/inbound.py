"""What comes back from apps and providers:

- `GET /v1/inapp?userId=…` (write key, like ingestion): the profile's in-app messages not yet shown;
  handing them out records the impression (`delivered`, activity `message_delivered`).
- `POST /m/sms/<token>`: a provider's inbound SMS webhook (Twilio form fields `From`, `Body`). STOP words
  opt the sender's profiles out of SMS (activity `unsubscribed`); START words opt them back in.
- `POST /m/status/<token>`: a provider's delivery report (`MessageSid`/`MessageStatus`, or `id`/`status`)
  moves the message to delivered or failed (activities `message_delivered`, `message_failed`).

`<token>` is the provider configuration's `inbound_token`, shown on its admin page and rotatable there
(the old URLs stop working at once). Where the provider signs its callbacks (Twilio's
`X-Twilio-Signature`), an unsigned or badly signed request is refused with 403.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from activities.ingestion import BodyError, write_key_of
from activities.models import Identity, IdentityKind, Profile
from messaging.counters import message_counted
from messaging.models import Message, MessageStatus, ProviderConfig
from messaging.providers.base import reason_clean
from messaging.providers.sms import twilio_request_valid
from messaging.tracking import outcome_record
from workspaces.selectors import write_key_workspace_id

_LEGACY_SALT = "nudge.messaging.inbound"  # the workspace-wide tokens of before (signed workspace ids)
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
IN_APP_PAGE = 20


def _config_of(token: str, channel: str | None) -> ProviderConfig | None:
    """The provider configuration a callback URL names (for `channel`, if given), or None. The
    workspace-wide tokens issued before tokens were per provider still name the workspace's SMS
    provider, until its token is rotated."""
    config = ProviderConfig.objects.filter(inbound_token=token).first()
    if config is not None:
        return config if channel in (None, config.channel) else None
    try:
        workspace_id = signing.loads(token, salt=_LEGACY_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(workspace_id, int):
        return None
    legacy = ProviderConfig.objects.filter(workspace_id=workspace_id, channel="sms", legacy_inbound_token=True)
    return legacy.first()


def _signed(request: HttpRequest, config: ProviderConfig) -> bool:
    """Whether the callback proves it comes from the configured provider, where the provider signs
    callbacks (Twilio); other providers have only the URL's token."""
    if config.kind != "twilio" or not config.secret:
        return True
    body = request.body  # read before POST is parsed from it
    urls = [settings.NUDGE_PUBLIC_URL.rstrip("/") + request.get_full_path(), request.build_absolute_uri()]
    params = {} if request.content_type == "application/json" else dict(request.POST.lists())
    signature = request.headers.get("X-Twilio-Signature", "")
    return twilio_request_valid(config.secret, signature, urls, params, body)


def _callback_config(request: HttpRequest, token: str, channel: str | None) -> ProviderConfig | HttpResponse:
    """The provider configuration a callback is for, or the answer refusing it (404: unknown token,
    403: not signed by that provider)."""
    config = _config_of(token, channel)
    if config is None:
        return HttpResponse(status=404)
    if not _signed(request, config):
        return HttpResponse("the request is not signed by the provider", status=403, content_type="text/plain")
    return config


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


@require_GET
def inapp(request: HttpRequest) -> HttpResponse:
    try:
        raw_key = write_key_of(request, None)
    except BodyError as error:
        return _json(401, {"error": f"{error.field} {error.message}"})
    workspace_id = write_key_workspace_id(raw_key) if raw_key else None
    if workspace_id is None:
        return _json(401, {"error": "writeKey is missing, unknown or revoked"})
    user_id, anonymous_id = request.GET.get("userId"), request.GET.get("anonymousId")
    if not user_id and not anonymous_id:
        return _json(400, {"error": "userId or anonymousId is required", "field": "userId"})
    kind, value = (IdentityKind.USER_ID, user_id) if user_id else (IdentityKind.ANONYMOUS_ID, anonymous_id)
    identity = Identity.objects.filter(workspace_id=workspace_id, kind=kind, value=value).select_related("profile")
    found = identity.first()
    if found is None:
        return _json(200, {"messages": []})
    profile_id = found.profile.merged_into_id or found.profile_id
    with transaction.atomic():
        pending = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(workspace_id=workspace_id, profile_id=profile_id, channel="in_app", status=MessageStatus.SENT)
            .order_by("sent_at", "pk")[:IN_APP_PAGE]
        )
        Message.objects.filter(pk__in=[m.pk for m in pending]).update(status=MessageStatus.DELIVERED)
    for message in pending:
        message_counted(message, MessageStatus.DELIVERED)
        outcome_record(message, "message_delivered", {"impression": True})
    return _json(
        200,
        {
            "messages": [
                {
                    "id": m.pk,
                    "template": m.template,
                    "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                    **m.rendered,
                }
                for m in pending
            ]
        },
    )


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest, token: str) -> HttpResponse:
    config = _callback_config(request, token, "sms")
    if isinstance(config, HttpResponse):
        return config
    workspace_id = config.workspace_id
    sender, body = request.POST.get("From", "").strip(), request.POST.get("Body", "").strip().upper()
    if not sender:
        return HttpResponse("From is required", status=400)
    word = body.split()[0] if body else ""
    if word in STOP_WORDS or word in START_WORDS:
        allowed = word in START_WORDS
        for profile in Profile.objects.filter(workspace_id=workspace_id, phone=sender, merged_into__isnull=True):
            with transaction.atomic():
                locked = Profile.objects.select_for_update().get(pk=profile.pk)
                locked.consent = {**(locked.consent or {}), "sms": allowed}
                locked.save(update_fields=["consent", "updated_at"])
            latest = Message.objects.filter(profile=profile, channel="sms").order_by("-pk").first()
            if latest is not None and not allowed:
                outcome_record(latest, "unsubscribed", {"channel": "sms", "reply": word}, key="sms-stop")
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type="text/xml")


_REPORTED = {
    "delivered": (MessageStatus.DELIVERED, "message_delivered"),
    "failed": (MessageStatus.FAILED, "message_failed"),
    "undelivered": (MessageStatus.FAILED, "message_failed"),
    "bounced": (MessageStatus.FAILED, "message_failed"),
}


@csrf_exempt
@require_POST
def delivery_report(request: HttpRequest, token: str) -> HttpResponse:
    config = _callback_config(request, token, None)
    if isinstance(config, HttpResponse):
        return config
    data: Any = request.POST
    if request.content_type == "application/json":
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _json(400, {"error": "body is not valid JSON"})
        if not isinstance(data, dict):
            return _json(400, {"error": "body must be a JSON object"})
    provider_id = data.get("MessageSid") or data.get("id")
    reported = str(data.get("MessageStatus") or data.get("status") or "").lower()
    if not provider_id:
        return _json(400, {"error": "MessageSid (or id) is required", "field": "MessageSid"})
    if reported not in _REPORTED:
        return _json(200, {"ignored": reported or "no status"})  # queued, sending, sent: nothing new
    status, activity = _REPORTED[reported]
    message = Message.objects.filter(
        workspace_id=config.workspace_id, channel=config.channel, provider_message_id=str(provider_id)
    ).first()
    if message is None:
        return _json(404, {"error": "no message with that provider id"})
    earlier = (
        (MessageStatus.SENT,) if status == MessageStatus.DELIVERED else (MessageStatus.SENT, MessageStatus.DELIVERED)
    )
    reason = reason_clean(str(data.get("ErrorMessage") or data.get("reason") or reported), [config.secret])
    changes: dict[str, Any] = {"status": status} | ({"status_reason": reason} if status == MessageStatus.FAILED else {})
    if Message.objects.filter(pk=message.pk, status__in=earlier).update(**changes):
        message_counted(message, status)
        outcome_record(message, activity, {"reported": reported}, key=reported)
    return _json(200, {"status": status})
