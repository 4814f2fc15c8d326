"""The public ends of tracking: the open pixel, click redirects and the unsubscribe page (GET shows it,
POST — the page's button or a mail client's one-click — unsubscribes). Tokens are signed; a bad one is a
404, and a click only ever redirects to the URL signed into its token (no open redirect)."""

from __future__ import annotations

import base64

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from activities.models import Profile
from messaging.counters import message_counted
from messaging.models import Message, MessageStatus
from messaging.tracking import outcome_record, token_read

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_ADVANCE = {  # a later outcome never moves the status back
    MessageStatus.SENT: (MessageStatus.DELIVERED, MessageStatus.OPENED, MessageStatus.CLICKED),
    MessageStatus.DELIVERED: (MessageStatus.OPENED, MessageStatus.CLICKED),
    MessageStatus.OPENED: (MessageStatus.CLICKED,),
}


def _message(token: str) -> tuple[Message, dict]:
    data = token_read(token)
    message = Message.objects.filter(pk=data["m"]).first() if data else None
    if message is None or data is None:
        raise Http404("unknown link")
    return message, data


def _advance(message: Message, status: str) -> None:
    earlier = [s for s, later in _ADVANCE.items() if status in later]
    if Message.objects.filter(pk=message.pk, status__in=earlier).update(status=status):
        message_counted(message, status)


def message_opened(request: HttpRequest, token: str) -> HttpResponse:
    message, _ = _message(token)
    _advance(message, MessageStatus.OPENED)
    outcome_record(message, "message_opened")
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def message_clicked(request: HttpRequest, token: str) -> HttpResponse:
    message, data = _message(token)
    url = data.get("u")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise Http404("unknown link")
    _advance(message, MessageStatus.CLICKED)
    outcome_record(message, "message_clicked", {"url": url}, key=url)
    return HttpResponseRedirect(url)


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without a form token; the signed URL is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    message, _ = _message(token)
    if request.method == "GET":
        return render(request, "messaging/unsubscribe.html", {"channel": message.channel, "done": False})
    with transaction.atomic():
        profile = Profile.objects.select_for_update().filter(pk=message.profile_id).first()
        if profile is None:
            raise Http404("unknown link")
        profile.consent = {**(profile.consent or {}), message.channel: False}
        profile.save(update_fields=["consent", "updated_at"])
    outcome_record(message, "unsubscribed", {"channel": message.channel})
    return render(request, "messaging/unsubscribe.html", {"channel": message.channel, "done": True})
