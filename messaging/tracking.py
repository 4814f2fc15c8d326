"""What a message carries so that what happens to it comes back: the Liquid context it renders with, the
unsubscribe link and List-Unsubscribe headers, tracked links and the open pixel (signed tokens: a link
only ever redirects to the URL it was signed with), and recording those outcomes as activities of the
profile (`message_opened`, `message_clicked`, `unsubscribed`, …) through the normal pipeline, so
journeys can wait on them and reports count them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.core import signing
from django.utils import timezone

from activities.identity import profiles_addressed
from activities.models import Profile
from activities.segment_spec import Message as SpecMessage
from activities.store import messages_store
from messaging.models import Message

_SALT = "nudge.messaging.tracking"
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


def token_make(message_id: int, **extra: Any) -> str:
    return signing.dumps({"m": message_id, **extra}, salt=_SALT, compress=True)


def token_read(token: str) -> dict[str, Any] | None:
    try:
        data = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("m"), int) else None


def _url(path: str) -> str:
    return settings.NUDGE_PUBLIC_URL.rstrip("/") + path


UNSUBSCRIBE = "unsubscribe_url"


def unsubscribe_url(message_id: int) -> str:
    return _url(f"/m/u/{token_make(message_id)}")


def mentions_unsubscribe(content: Any) -> bool:
    """Whether a template's fields (strings, maps, buttons, variants: any nesting) name the unsubscribe
    link. Liquid reaches a variable only by naming it, so a template that never does renders the same
    without it, and its messages skip signing a token each."""
    if isinstance(content, str):
        return UNSUBSCRIBE in content
    if isinstance(content, dict):
        return any(mentions_unsubscribe(value) for value in content.values())
    if isinstance(content, list):
        return any(mentions_unsubscribe(value) for value in content)
    return False


class Person(Protocol):
    """What the Liquid context shows of a profile: a Profile, or delivery's row of one."""

    @property
    def user_id(self) -> str | None: ...
    @property
    def email(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def traits(self) -> Any: ...
    @property
    def tags(self) -> Any: ...


def liquid_context(
    profile: Person, event: Any, journey: dict[str, Any], unsubscribe: str | None = None
) -> dict[str, Any]:
    """What Liquid sees: plain data only. `unsubscribe_url` is left out when the caller knows the
    template does not name it (an absent variable renders empty, as it would for any other)."""
    context: dict[str, Any] = {
        "profile": {
            **(profile.traits or {}),
            "user_id": profile.user_id,
            "email": profile.email,
            "phone": profile.phone,
            "timezone": profile.timezone,
            "locale": profile.locale,
            "tags": list(profile.tags or []),
        },
        "event": dict(event or {}),
        "journey": journey,
    }
    if unsubscribe is not None:
        context[UNSUBSCRIBE] = unsubscribe
    return context


def message_context(message: Message, profile: Profile) -> dict[str, Any]:
    """A message's whole context, unsubscribe link included (previews: any template)."""
    journey = message.enrollment.journey if message.enrollment_id and message.enrollment else None
    return liquid_context(
        profile,
        message.payload.get("event"),
        {"id": journey.pk, "name": journey.name} if journey else {},
        unsubscribe_url(message.pk),
    )


def tracked_headers(unsubscribe: str) -> dict[str, str]:
    """One-click unsubscribe (RFC 8058): mail clients POST to the URL."""
    return {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def tracked_bodies(message_id: int, content: dict[str, Any]) -> dict[str, Any]:
    """The HTML body with its http(s) links sent through the click redirect and an open pixel added."""
    html = content.get("html")
    if not html:
        return {}

    def tracked(match: re.Match[str]) -> str:
        link = _url(f"/m/c/{token_make(message_id, u=match.group(3))}")
        return f"{match.group(1)}{match.group(2)}{link}{match.group(2)}"

    pixel = f'<img src="{_url(f"/m/o/{token_make(message_id)}.gif")}" width="1" height="1" alt="">'
    body = _HREF.sub(tracked, str(html))
    body = body.replace("</body>", pixel + "</body>") if "</body>" in body else body + pixel
    return {"html": body}


def outcome_record(message: Message, name: str, properties: dict[str, Any] | None = None, *, key: str = "") -> None:
    """Store `name` (message_opened …) as an activity of the message's profile. Each outcome is stored
    once per message (and `key`, e.g. the clicked URL): its messageId is derived from them."""
    owner = profiles_addressed([message.profile_id]).get(message.profile_id)
    if owner is None:
        return  # the profile is gone, or has no id an activity can be stored under
    user_id, anonymous_id = owner
    now: datetime = timezone.now()
    spec = SpecMessage(
        type="track",
        name=name,
        message_id=f"nudge:{name}:{message.pk}:{key}"[:200],
        timestamp=now,
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties={
            "message_id": message.pk,
            "channel": message.channel,
            "template": message.template,
            "journey_node": message.node,
            **(properties or {}),
        },
    )
    messages_store(workspace_id=message.workspace_id, messages=[spec], received_at=now)
