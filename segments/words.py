"""Conditions, operators, durations and activity names in the panel's words (PANEL.md): "price is
greater than 100", "3 days", "Screen View". The one place internal names (`gt`, `P3D`, `screen`) turn
into what a marketer reads; the forms' choices come from here too. Pure code."""

from __future__ import annotations

from typing import Any

from segments.durations import Duration, DurationError

# Operator → words, in the order the forms offer them.
OPERATOR_WORDS = {
    "eq": "is",
    "neq": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "in": "is one of",
    "not_in": "is not one of",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "between": "is between",
    "before": "is before",
    "after": "is after",
    "within_last": "is within the last",
    "is_true": "is true",
    "is_false": "is false",
    "exists": "is set",
    "not_exists": "is not set",
}
# The operators that fit a property of each type the activity registry records.
OPERATORS_BY_TYPE = {
    "string": (
        "eq",
        "neq",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "in",
        "not_in",
        "exists",
        "not_exists",
    ),
    "number": ("eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in", "exists", "not_exists"),
    "boolean": ("is_true", "is_false", "exists", "not_exists"),
    "datetime": ("before", "after", "within_last", "exists", "not_exists"),
    "array": ("contains", "not_contains", "exists", "not_exists"),
    "object": ("exists", "not_exists"),
}
NO_VALUE = frozenset({"is_true", "is_false", "exists", "not_exists"})
# Segment's screen and page calls, as activities store them.
EVENT_WORDS = {"screen_view": "Screen View", "viewed": "Page View", "*": "Any activity"}
CHANNEL_WORDS = {
    "sms": "SMS",
    "email": "email",
    "push": "push",
    "web_push": "web push",
    "in_app": "in-app message",
    "webhook": "webhook",
}


def operators_for(kind: str | None) -> tuple[str, ...]:
    """The operators offered for a property of this registry type (every operator when unknown)."""
    if kind in OPERATORS_BY_TYPE:
        return OPERATORS_BY_TYPE[kind]
    return tuple(OPERATOR_WORDS)


def event_words(name: str) -> str:
    return EVENT_WORDS.get(name, name)


def plural(number: int | float, noun: str) -> str:
    return f"{number:g} {noun}" if number == 1 else f"{number:g} {noun}s"


def duration_words(text: Any) -> str:
    """ "P3D" → "3 days", "PT90M" → "90 minutes", "P1M" → "1 month"; the text itself when it is not one."""
    if not isinstance(text, str):
        return "—"
    try:
        duration = Duration.parse(text)
    except DurationError:
        return text
    months, days, seconds = duration.months, duration.days, duration.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    weeks = 0 if days % 7 else days // 7
    parts = []
    for amount, noun in (
        (months // 12 if months % 12 == 0 else 0, "year"),
        (0 if months % 12 == 0 else months, "month"),
        (weeks, "week"),
        (0 if weeks else days, "day"),
        (hours, "hour"),
        (minutes, "minute"),
        (seconds, "second"),
    ):
        if amount:
            parts.append(plural(amount, noun))
    return ", ".join(parts) or "0 minutes"


def last_words(text: Any) -> str:
    """What follows "the last": "7 days", "2 weeks", and "week" rather than "1 week"."""
    words = duration_words(text)
    return words[2:] if words.startswith("1 ") and "," not in words else words


def _value_words(op: str, value: Any) -> str:
    if op in NO_VALUE:
        return ""
    if op == "within_last":
        return f" {last_words(value)}"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f" {value[0]} and {value[1]}"
    if op in {"in", "not_in"} and isinstance(value, list):
        return " " + ", ".join(_quoted(v) for v in value)
    return f" {_quoted(value)}"


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaf(subject: str, data: dict[str, Any]) -> str:
    op = str(data.get("op", ""))
    return f"{subject} {OPERATOR_WORDS.get(op, op)}{_value_words(op, data.get('value'))}"


def condition_words(data: Any) -> str:
    """One line a marketer reads for a condition: `price is greater than 100 and currency is "EUR"`."""
    if data is None or data == {} or data == []:
        return "always"
    if isinstance(data, list):
        return " and ".join(_grouped(item) for item in data) or "always"
    if not isinstance(data, dict):
        return "?"
    if "all" in data or "any" in data:
        joiner = " and " if "all" in data else " or "
        items = data.get("all", data.get("any"))
        if not isinstance(items, list) or not items:
            return "always" if "all" in data else "never"
        return joiner.join(_grouped(item) for item in items)
    if "not" in data:
        return f"not ({condition_words(data['not'])})"
    if "property" in data:
        return _leaf(str(data["property"]), data)
    if "trait" in data:
        return _leaf(f"trait {data['trait']}", data)
    if "attribute" in data:
        return _leaf(str(data["attribute"]).replace("_", " "), data)
    if "tag" in data:
        return f'tagged "{data["tag"]}"'
    if "in_segment" in data:
        return f"in segment {data['in_segment']}"
    if "reachable" in data:
        return f"reachable by {CHANNEL_WORDS.get(str(data['reachable']), data['reachable'])}"
    for key, verb in (("performed", "did"), ("not_performed", "did not do")):
        if key in data:
            text = f"{verb} {event_words(str(data[key]))}"
            if data.get("where"):
                text += f" where {condition_words(data['where'])}"
            count = data.get("count")
            if isinstance(count, dict) and count.get("op"):
                times = "time" if count.get("value") == 1 and count.get("op") != "between" else "times"
                text += f" {_leaf('', count).strip()} {times}".replace("is ", "", 1)
            if data.get("within"):
                text += f" in the last {last_words(data['within'])}"
            return text
    return "?"


def _grouped(data: Any) -> str:
    text = condition_words(data)
    if isinstance(data, dict) and ("all" in data or "any" in data) and " " in text:
        return f"({text})"
    return text


# --- The segment rule builder's choices -----------------------------------------------------------

# What a row of the builder tests, in the order the builder offers them.
CONDITION_KINDS = {
    "trait": "Trait",
    "attribute": "Profile field",
    "tag": "Tag",
    "in_segment": "Segment",
    "reachable": "Reachable by",
    "performed": "Did an activity",
    "not_performed": "Did not do an activity",
}
ATTRIBUTE_WORDS = {
    "first_seen": "first seen",
    "last_seen": "last seen",
    "user_id": "user id",
    "timezone": "time zone",
    "locale": "locale",
}
# The operators a profile field of each kind takes (segments.conditions.ATTRIBUTES gives the kind).
ATTRIBUTE_OPERATORS = {
    "time": ("within_last", "before", "after", "exists", "not_exists"),
    "text": OPERATORS_BY_TYPE["string"],
}
# Rows whose operator is "is" / "is not" the thing: a tag, a segment, a channel (not: wrapped in `not`).
MEMBERSHIP_WORDS = {
    "tag": (("has", "has the tag"), ("has_not", "does not have the tag")),
    "in_segment": (("has", "is in"), ("has_not", "is not in")),
    "reachable": (("has", "is reachable by"), ("has_not", "is not reachable by")),
}
COUNT_WORDS = {"gte": "at least", "lte": "at most", "eq": "exactly"}
GROUP_WORDS = {"all": "all of", "any": "any of", "none": "none of"}
