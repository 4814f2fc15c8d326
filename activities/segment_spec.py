"""The Segment HTTP Tracking API message format: validation and mapping to activities. Pure code.

Every problem raises `SpecError` naming the field (`batch[3].event`), so the API can answer a 400
that tells the integrator exactly what to fix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from activities.names import is_recorded_by_nudge
from segments.zones import zone_named

CALL_TYPES = frozenset({"track", "page", "screen", "identify", "alias", "group"})
MAX_NAME_LENGTH = 200
MAX_ID_LENGTH = 255
MAX_MESSAGE_ID_LENGTH = 100
MAX_DEPTH = 32  # levels of objects and lists in one message
# When an event may have happened: from 1970 (history is welcome) to a day ahead of the server's clock
# (a device clock a little fast; sentAt corrects more). Outside, the message is refused naming the field.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE = timedelta(days=1)


class SpecError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(slots=True)
class Message:
    """One validated call, already mapped to the activity it becomes."""

    type: str
    name: str
    message_id: str
    timestamp: datetime
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def timezone(self) -> str | None:
        value = self.context.get("timezone")
        # a device's odd timezone never costs the event; the profile keeps its own
        return value if isinstance(value, str) and zone_named(value) is not None else None

    @property
    def locale(self) -> str | None:
        value = self.context.get("locale")
        return value[:35] if isinstance(value, str) and value else None

    @property
    def device(self) -> tuple[str, str, dict[str, Any]] | None:
        """(push token, platform, web-push subscription) from context.device, if the SDK sent a token or,
        for a browser, a subscription (`{"endpoint": …, "keys": {"p256dh": …, "auth": …}}`, whose endpoint is
        its token)."""
        device = self.context.get("device")
        if not isinstance(device, dict):
            return None
        subscription = device.get("subscription")
        if isinstance(subscription, dict) and isinstance(subscription.get("endpoint"), str):
            keys = subscription.get("keys")
            endpoint = subscription["endpoint"]
            if endpoint.startswith("https://") and len(endpoint) <= 512 and isinstance(keys, dict):
                return endpoint, "web", {"endpoint": endpoint, "keys": {k: str(v) for k, v in keys.items()}}
        token = device.get("token")
        if not isinstance(token, str) or not token or len(token) > 512:
            return None
        platform = device.get("type")
        return token, (platform if isinstance(platform, str) and platform else "unknown")[:32].lower(), {}


def nul_path(value: Any, where: str = "body") -> str | None:
    """The path of the first string (or key) holding a NUL character, which PostgreSQL cannot store.
    Iterative (a body may nest as deep as the JSON parser allows)."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            children = []
            for key, inner in item.items():
                step = f"{path}.{key}" if path != "body" else str(key)
                if "\x00" in str(key):
                    return step
                children.append((inner, step))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                reversed([(inner, f"{path}[{i}]" if path != "body" else f"[{i}]") for i, inner in enumerate(item)])
            )
    return None


def too_deep(value: Any, where: str, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first object or list nested deeper than `limit` levels. Every event of every batch
    is walked, so the walk keeps only depths; the path is spelled out only for a body that is too deep."""
    return _deep_path(value, where, limit) if nests_deeper([value], limit) else None


def nests_deeper(values: list[Any], limit: int = MAX_DEPTH) -> bool:
    """Whether any of `values` holds objects or lists more than `limit` levels below itself. One walk,
    a level at a time over the objects and lists alone: a batch's events are checked all at once."""
    level = [value for value in values if isinstance(value, (dict, list))]
    depth = 0
    while level:
        if depth >= limit:
            return True
        level = [
            inner
            for item in level
            for inner in (item.values() if isinstance(item, dict) else item)
            if isinstance(inner, (dict, list))
        ]
        depth += 1
    return False


def _deep_path(value: Any, where: str, limit: int) -> str | None:
    """`too_deep`'s answer, walking in the same order with the paths."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return path
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, inner in pairs:
                step = f"[{key}]" if isinstance(item, list) else (f".{key}" if path else str(key))
                stack.append((inner, f"{path}{step}", depth + 1))
    return None


def reject_nul(data: Any) -> None:
    if (path := nul_path(data)) is not None:
        raise SpecError(path, "contains a NUL character (\\u0000), which cannot be stored")


def parse_timestamp(value: Any, where: str) -> datetime | None:
    """An ISO 8601 date-time, in UTC (naive ones are UTC); a year in UTC outside 1970–9998 is refused."""
    return _time(value, where, "")


# The field readers below name a field `where` + `name` (`batch[3].` + `userId`), spelled out only for a
# field that is wrong: every message of every batch passes through them.


def _time(value: Any, where: str, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SpecError(where + name, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
        moment = parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise SpecError(where + name, f"is not an ISO 8601 date-time: {value[:40]!r}") from None
    if not EARLIEST.year <= moment.year <= 9998:
        raise SpecError(where + name, f"is out of range (years 1970 to 9998): {value[:40]!r}")
    return moment


def _id(value: Any, where: str, name: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(where + name, "must be a string (or a whole number within 64 bits)")
    text = value if isinstance(value, str) else str(value)  # integers keep every digit
    if len(text) > max_length:
        raise SpecError(where + name, f"is longer than {max_length} characters")
    return text or None


def _object(value: Any, where: str, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(where + name, "must be a JSON object")
    return value


def _name(value: Any, where: str, name: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise SpecError(where + name, "is required")
        return None
    if not isinstance(value, str):
        raise SpecError(where + name, "must be a string")
    if len(value) > MAX_NAME_LENGTH:
        raise SpecError(where + name, f"is longer than {MAX_NAME_LENGTH} characters")
    return value


def _event_time(raw: dict[str, Any], where: str, received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    """The device's time — an explicit `timestamp`, else `originalTimestamp` — skew-corrected when sentAt
    is known: receivedAt − (sentAt − device time), as Segment's and RudderStack's servers do. It must fall
    between 1970 and a day after now."""
    given = _time(raw.get("timestamp"), where, "timestamp")
    original = _time(raw.get("originalTimestamp"), where, "originalTimestamp")
    sent_at = _time(raw.get("sentAt"), where, "sentAt") or batch_sent_at
    device_time, field = (given, "timestamp") if given is not None else (original, "originalTimestamp")
    if device_time is None:
        return received_at
    moment = device_time if sent_at is None else received_at - (sent_at - device_time)
    if moment < EARLIEST:
        raise SpecError(f"{where}{field}", "is before 1970 (after correcting the device clock with sentAt)")
    if moment > received_at + FUTURE:
        raise SpecError(f"{where}{field}", "is more than a day in the future (check the device clock and sentAt)")
    return moment


def parse_message(
    raw: Any,
    *,
    call: str | None,
    received_at: datetime,
    where: str = "",
    batch_sent_at: datetime | None = None,
    batch_context: dict[str, Any] | None = None,
) -> Message:
    """Validate one call. `call` is fixed by the endpoint (`/v1/track`) or None inside a batch."""
    if isinstance(raw, dict) and (deep := too_deep(raw, where.rstrip("."))) is not None:
        raise SpecError(deep, f"nests deeper than {MAX_DEPTH} levels")
    return _message(raw, call, received_at, where, batch_sent_at, batch_context)


def _message(
    raw: Any,
    call: str | None,
    received_at: datetime,
    where: str,
    batch_sent_at: datetime | None,
    batch_context: dict[str, Any] | None,
) -> Message:
    """`parse_message` for a message already known not to nest too deep."""
    if not isinstance(raw, dict):
        raise SpecError(where.rstrip(".") or "body", "must be a JSON object")
    kind = call or raw.get("type")
    if not isinstance(kind, str) or kind not in CALL_TYPES:
        if kind is None:
            raise SpecError(f"{where}type", "is required")
        raise SpecError(f"{where}type", f"must be one of {', '.join(sorted(CALL_TYPES))}")

    user_id = _id(raw.get("userId"), where, "userId")
    anonymous_id = _id(raw.get("anonymousId"), where, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise SpecError(f"{where}userId", "either userId or anonymousId is required")
    message_id = _id(raw.get("messageId"), where, "messageId", MAX_MESSAGE_ID_LENGTH)
    context = _object(raw.get("context"), where, "context")
    if batch_context:
        context = {**batch_context, **context}
    properties = _object(raw.get("properties"), where, "properties")
    traits = _object(raw.get("traits"), where, "traits")
    message = Message(
        type=kind,
        name=kind,
        message_id=message_id or str(uuid.uuid4()),
        timestamp=_event_time(raw, where, received_at, batch_sent_at),
        user_id=user_id,
        anonymous_id=anonymous_id,
        context=context,
    )

    if kind == "track":
        message.name = _name(raw.get("event"), where, "event", required=True) or ""
        if is_recorded_by_nudge(message.name):
            raise SpecError(
                where + "event",
                f"{message.name!r} is a name Nudge records itself (behavior:…, message_…, segment_…, unsubscribed)",
            )
        message.properties = properties
    elif kind == "page":
        message.name = "viewed"
        page_context = context.get("page")
        page: dict[str, Any] = page_context if isinstance(page_context, dict) else {}
        message.properties = {**properties}
        name = _name(raw.get("name"), where, "name", required=False)
        for key, value in (
            ("name", name),
            ("url", page.get("url")),
            ("path", page.get("path")),
            ("title", page.get("title")),
        ):
            if value is not None:
                message.properties.setdefault(key, value)
    elif kind == "screen":
        message.name = "screen_view"
        message.properties = {**properties}
        screen_name = _name(raw.get("name"), where, "name", required=False)
        if screen_name is not None:
            message.properties["screen_name"] = screen_name
    elif kind == "identify":
        message.traits = traits or _object(context.get("traits"), where, "context.traits")
        message.properties = message.traits
    elif kind == "alias":
        if user_id is None:
            raise SpecError(f"{where}userId", "is required for alias")
        message.previous_id = _id(raw.get("previousId"), where, "previousId")
        if message.previous_id is None:
            raise SpecError(f"{where}previousId", "is required for alias")
        message.properties = {"previous_id": message.previous_id}
    elif kind == "group":
        group_id = _id(raw.get("groupId"), where, "groupId")
        if group_id is None:
            raise SpecError(f"{where}groupId", "is required for group")
        message.properties = {"group_id": group_id, "traits": traits}
    return message


def parse_single(
    data: Any, *, call: str, received_at: datetime, max_event_bytes: int, size: int, nul: bool = True
) -> Message:
    """One call's body. `nul`: the body may hold a NUL character (only an escaped one can be in valid JSON)."""
    if size > max_event_bytes:
        raise SpecError("body", f"is {size} bytes; an event may be at most {max_event_bytes // 1024} KB")
    # Depth first; an object without a NUL is checked for depth by parse_message, identically.
    if (nul or not isinstance(data, dict)) and (deep := too_deep(data, "")) is not None:
        raise SpecError(deep or "body", f"nests deeper than {MAX_DEPTH} levels")
    if nul:
        reject_nul(data)
    return parse_message(data, call=call, received_at=received_at)


@dataclass(frozen=True)
class Refused:
    """One message of a batch that cannot be stored, and why."""

    index: int
    field: str
    message: str
    raw: Any


@dataclass(frozen=True)
class Parsed:
    messages: list[Message]
    refused: list[Refused]


def parse_batch(data: Any, *, received_at: datetime, max_event_bytes: int, size: int, nul: bool = True) -> Parsed:
    """A batch's messages, each validated on its own: the good ones to store, the bad ones refused with
    the field that is wrong. A batch that cannot be read at all (not an object, no list) raises.
    `nul`: the body may hold a NUL character (only an escaped one can be in valid JSON)."""
    if not isinstance(data, dict):
        raise SpecError("body", "must be a JSON object")
    batch = data.get("batch")
    if not isinstance(batch, list):
        raise SpecError("batch", "is required and must be a list of messages")
    sent_at = parse_timestamp(data.get("sentAt"), "sentAt")
    batch_context = _object(data.get("context"), "", "context")
    if nul:
        reject_nul(batch_context)
    messages, refused = [], []
    deep = nests_deeper(batch)  # then each event is walked again, for the one(s) too deep and their paths
    for index, raw in enumerate(batch):
        where = f"batch[{index}]."
        try:
            if deep and (path := too_deep(raw, f"batch[{index}]")) is not None:
                raise SpecError(path, f"nests deeper than {MAX_DEPTH} levels")
            # Only a body larger than one event's limit can hold an oversize event: skip the re-encode otherwise.
            if size > max_event_bytes and len(orjson.dumps(raw)) > max_event_bytes:
                raise SpecError(f"batch[{index}]", f"is larger than {max_event_bytes // 1024} KB (the per-event limit)")
            if nul and (path := nul_path(raw, f"batch[{index}]")) is not None:
                raise SpecError(path, "contains a NUL character (\\u0000), which cannot be stored")
            messages.append(_message(raw, None, received_at, where, sent_at, batch_context))
        except SpecError as error:
            refused.append(Refused(index, error.field, error.message, raw))
    return Parsed(messages, refused)
