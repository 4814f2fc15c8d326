"""What comes back from apps and providers:

- `GET /v1/inapp?userId=…` (write key, like ingestion): the profile's in-app messages not yet shown;
  handing them out records the impression (`delivered`, activity `message_delivered`).
- `POST /m/sms/<token>`: a provider's inbound SMS webhook (Twilio form fields `From`, `Body`). STOP words
  opt the sender's profiles out of SMS (activity `unsubscribed`); START words opt them back in.
- `POST /m/status/<token>`: a provider's delivery report (`MessageSid`/`MessageStatus`, or `id`/`status`)
  moves the message to delivered or failed (activities `message_delivered`, `message_failed`).

`<token>` is the workspace's signed inbound token (`inbound_token`), shown in the provider's admin page.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from activities.ingestion import BodyError, write_key_of
from activities.models import Identity, IdentityKind, Profile
from messaging.counters import message_counted
from messaging.models import Message, MessageStatus
from messaging.tracking import outcome_record
from workspaces.selectors import write_key_workspace_id

_SALT = "nudge.messaging.inbound"
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
IN_APP_PAGE = 20


def inbound_token(workspace_id: int) -> str:
    return signing.dumps(workspace_id, salt=_SALT)


def _workspace_of(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


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
    workspace_id = _workspace_of(token)
    if workspace_id is None:
        return HttpResponse(status=404)
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
    workspace_id = _workspace_of(token)
    if workspace_id is None:
        return HttpResponse(status=404)
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
    message = Message.objects.filter(workspace_id=workspace_id, provider_message_id=str(provider_id)).first()
    if message is None:
        return _json(404, {"error": "no message with that provider id"})
    earlier = (
        (MessageStatus.SENT,) if status == MessageStatus.DELIVERED else (MessageStatus.SENT, MessageStatus.DELIVERED)
    )
    reason = str(data.get("ErrorMessage") or data.get("reason") or reported)[:500]
    changes: dict[str, Any] = {"status": status} | ({"status_reason": reason} if status == MessageStatus.FAILED else {})
    if Message.objects.filter(pk=message.pk, status__in=earlier).update(**changes):
        message_counted(message, status)
        outcome_record(message, activity, {"reported": reported}, key=reported)
    return _json(200, {"status": status})
