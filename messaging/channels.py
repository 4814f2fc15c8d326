"""Each channel's template fields (§9), how they are checked, and how a template becomes what a provider
sends: the variant for the profile's locale, every text field rendered with Liquid.

A field is `text` (Liquid, rendered), `url` (Liquid, must render to http(s)), `choice`, `map` (names to
Liquid strings: headers, push data) or `buttons` (a list of {label, action}, Liquid in both).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from messaging.rendering import liquid_check, liquid_render


@dataclass(frozen=True)
class Field:
    kind: str  # text, url, choice, map, buttons, object
    required: bool = False
    max_length: int = 10_000
    choices: tuple[str, ...] = ()


TEXT, URL = Field("text"), Field("url", max_length=2000)
FIELDS: dict[str, dict[str, Field]] = {
    "push": {
        "title": Field("text", required=True, max_length=500),
        "body": Field("text", required=True, max_length=4000),
        "image_url": URL,
        "video_url": URL,
        "deep_link": URL,
        "buttons": Field("buttons"),
        "sound": Field("text", max_length=200),
        "category": Field("text", max_length=200),
        "data": Field("map"),
        "platform": Field("object"),  # {"android": {...}, "ios": {...}} passed through
    },
    "sms": {"body": Field("text", required=True, max_length=1600)},
    "email": {
        "subject": Field("text", required=True, max_length=998),
        "preheader": Field("text", max_length=500),
        "html": Field("text", max_length=500_000),
        "text": Field("text", max_length=200_000),
        "from_email": Field("text", max_length=320),
        "reply_to": Field("text", max_length=320),
    },
    "in_app": {
        "title": Field("text", max_length=500),
        "body": Field("text", required=True, max_length=4000),
        "image_url": URL,
        "buttons": Field("buttons"),
        "layout": Field("choice", choices=("modal", "banner", "fullscreen")),
    },
    "web_push": {
        "title": Field("text", required=True, max_length=500),
        "body": Field("text", required=True, max_length=4000),
        "icon": URL,
        "url": URL,
    },
    "webhook": {
        "method": Field("choice", choices=("GET", "POST", "PUT", "PATCH", "DELETE")),
        "url": Field("url", required=True),
        "headers": Field("map"),
        "body": Field("text", max_length=100_000),
    },
}


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


def content_problems(channel: str, content: Any, where: str) -> list[FieldProblem]:
    """Every problem of one channel's fields, each naming its field (`content.subject`) and, for Liquid,
    its line."""
    fields = FIELDS.get(channel)
    if fields is None:
        return [FieldProblem("channel", f"must be one of {', '.join(FIELDS)}")]
    if not isinstance(content, dict):
        return [FieldProblem(where, "must be an object of the channel's fields")]
    problems = [
        FieldProblem(f"{where}.{name}", f"is not a {channel} field (known: {', '.join(fields)})")
        for name in content
        if name not in fields
    ]
    for name, spec in fields.items():
        value = content.get(name)
        if value in (None, ""):
            if spec.required:
                problems.append(FieldProblem(f"{where}.{name}", "is required"))
            continue
        problems += _field_problems(spec, value, f"{where}.{name}")
    if channel == "email" and not (content.get("html") or content.get("text")):
        problems.append(FieldProblem(f"{where}.html", "an email needs an html or a text body"))
    return problems


def _field_problems(spec: Field, value: Any, where: str) -> list[FieldProblem]:
    if spec.kind == "object":
        return [] if isinstance(value, dict) else [FieldProblem(where, "must be an object")]
    if spec.kind == "choice":
        return [] if value in spec.choices else [FieldProblem(where, f"must be one of {', '.join(spec.choices)}")]
    if spec.kind == "map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return [FieldProblem(where, "must map names to strings")]
        return [p for key, text in value.items() for p in _text_problems(text, f"{where}.{key}", spec)]
    if spec.kind == "buttons":
        if not isinstance(value, list) or len(value) > 4:
            return [FieldProblem(where, "must be a list of at most 4 buttons")]
        problems = []
        for i, button in enumerate(value):
            if not isinstance(button, dict) or not isinstance(button.get("label"), str) or not button["label"]:
                problems.append(FieldProblem(f"{where}[{i}].label", "is required"))
                continue
            problems += _text_problems(button["label"], f"{where}[{i}].label", TEXT)
            if "action" in button:
                problems += _text_problems(button["action"], f"{where}[{i}].action", URL)
        return problems
    return _text_problems(value, where, spec)


def _text_problems(value: Any, where: str, spec: Field) -> list[FieldProblem]:
    if not isinstance(value, str):
        return [FieldProblem(where, "must be a string")]
    if len(value) > spec.max_length:
        return [FieldProblem(where, f"must be at most {spec.max_length:,} characters")]
    problem = liquid_check(value)
    if problem is not None:
        return [FieldProblem(where, f"Liquid error on {problem}")]
    # http(s), a path, or an app deep link (myapp://…); bare words are not URLs
    if spec.kind == "url" and "{{" not in value and not value.startswith("/") and "://" not in value:
        return [FieldProblem(where, "must be a URL")]
    return []


def variant_for(content: Mapping[str, Any], variants: Mapping[str, Any], locale: str) -> Mapping[str, Any]:
    """The fields for a locale: an exact variant (`pt-BR`), else its language (`pt`), else the default;
    a variant may leave fields out, which come from the default."""
    wanted = locale.replace("_", "-").lower()
    by_lower = {key.lower(): value for key, value in variants.items()}
    chosen = by_lower.get(wanted) or by_lower.get(wanted.split("-")[0]) if wanted else None
    return {**content, **chosen} if isinstance(chosen, dict) else content


def render_content(channel: str, content: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Every Liquid field rendered with the context; other fields as they are."""
    rendered: dict[str, Any] = {}
    for name, value in content.items():
        spec = FIELDS[channel].get(name)
        if spec is None or value in (None, ""):
            continue
        if spec.kind in ("text", "url"):
            rendered[name] = liquid_render(value, context)
        elif spec.kind == "map":
            rendered[name] = {key: liquid_render(text, context) for key, text in value.items()}
        elif spec.kind == "buttons":
            rendered[name] = [
                {**b, "label": liquid_render(b["label"], context)}
                | ({"action": liquid_render(b["action"], context)} if "action" in b else {})
                for b in value
            ]
        else:
            rendered[name] = value
    return rendered
