"""The messages' panel forms: a template's name and category, each channel's fields (messaging/channels.py)
as inputs in the panel's words — headers and push data as "name: value" lines, buttons as label and link
rows, never JSON — read back from a template and turned into its content; the preview's choices; test
profiles; message categories. Only types are checked here; `messaging.services` names every other
problem, shown at these fields by `show_problems`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from activities.models import Profile
from messaging.channels import FIELDS, Field, FieldProblem
from messaging.models import Channel

MAX_BUTTONS = 4
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
LABELS = {
    "title": "Title",
    "body": "Message",
    "image_url": "Image URL",
    "video_url": "Video URL",
    "deep_link": "Deep link",
    "buttons": "Buttons",
    "sound": "Sound",
    "category": "Notification category (iOS)",
    "data": "Custom data",
    "platform": "Platform options",
    "subject": "Subject",
    "preheader": "Preheader",
    "html": "HTML body",
    "text": "Plain-text body",
    "from_email": "From",
    "reply_to": "Reply-to",
    "layout": "Layout",
    "icon": "Icon URL",
    "url": "URL",
    "method": "Method",
    "headers": "Headers",
}
HELP = {
    "body": 'Liquid works here: {{ profile.first_name | default: "there" }}, {{ event.product_name }}.',
    "deep_link": "Where a tap opens: https://… or myapp://…",
    "data": 'One per line, as name: value (sent with the notification, e.g. "order_id: {{ event.order_id }}").',
    "headers": "One per line, as Name: value.",
    "html": "The unsubscribe link is {{ unsubscribe_url }}; links are tracked when sent.",
    "sound": 'e.g. "default"',
    "from_email": "Leave empty to use the provider's sender.",
    "preheader": "The line mail apps show after the subject.",
}
# Shown folded under "More options": rarely needed, and the form stays short.
ADVANCED = {"video_url", "sound", "category", "data", "android_priority", "android_channel"}
# A field named alike on another channel means something else there.
BY_CHANNEL = {
    ("webhook", "body"): ("Body", "The request's body; Liquid works here: {{ profile.user_id }}."),
    ("webhook", "url"): ("URL", "Where the request goes (https://…); Liquid works here."),
    ("web_push", "url"): ("Opens", "The page a click opens."),
}
TEXTAREAS = {"body": 4, "html": 14, "text": 6, "headers": 3, "data": 3}
MONOSPACE = {"html", "headers", "data"}


def _select(choices: Iterable[tuple[str, str]], **attrs: str) -> UnfoldAdminSelectWidget:
    widget = UnfoldAdminSelectWidget(attrs=attrs or None)
    widget.choices = list(choices)
    return widget


def lines_parse(text: str) -> dict[str, str]:
    """ "Name: value" lines → {"Name": "value"}; an empty line is skipped."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValidationError(f"Line {number}: write it as name: value.")
        pairs[name.strip()] = value.strip()
    return pairs


def lines_text(pairs: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in pairs.items()) if isinstance(pairs, dict) else ""


class ContentForm(forms.Form):
    """One channel's fields, in the default language (`variant=False`: required fields are required)
    or for one locale (every field optional: what it leaves empty comes from the default)."""

    def __init__(self, *args: Any, channel: str, variant: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel, self.variant = channel, variant
        for name, spec in FIELDS[channel].items():
            if spec.kind == "buttons":
                for i in range(MAX_BUTTONS):
                    self.fields[f"buttons_{i}_label"] = forms.CharField(
                        label=f"Button {i + 1}", required=False, max_length=200, widget=UnfoldAdminTextInputWidget()
                    )
                    self.fields[f"buttons_{i}_action"] = forms.CharField(
                        label="Opens", required=False, max_length=2000, widget=UnfoldAdminTextInputWidget()
                    )
            elif spec.kind == "object":  # push platform options: the two that matter most, as fields
                self.fields["android_priority"] = forms.ChoiceField(
                    label="Android priority",
                    required=False,
                    choices=[("", "Default"), ("normal", "Normal"), ("high", "High")],
                    widget=_select([("", "Default"), ("normal", "Normal"), ("high", "High")]),
                )
                self.fields["android_channel"] = forms.CharField(
                    label="Android notification channel",
                    required=False,
                    max_length=200,
                    widget=UnfoldAdminTextInputWidget(),
                )
            else:
                self.fields[name] = self._field(name, spec)

    def _field(self, name: str, spec: Field) -> forms.Field:
        label, help_text = BY_CHANNEL.get(
            (self.channel, name), (LABELS.get(name, name.replace("_", " ").capitalize()), HELP.get(name, ""))
        )
        required = spec.required and not self.variant
        if spec.kind == "choice":
            # A webhook's method is POST unless chosen; a layout, modal.
            first = [] if name == "method" else [("", "—")]
            choices = [*first, *((c, c.capitalize() if c.islower() else c) for c in spec.choices)]
            if name == "method":
                choices.sort(key=lambda choice: choice[0] != "POST")
            return forms.ChoiceField(
                label=label, required=required, choices=choices, widget=_select(choices), help_text=help_text
            )
        attrs = {"class": "font-mono"} if name in MONOSPACE else {}
        if name in TEXTAREAS:
            widget: forms.Widget = UnfoldAdminTextareaWidget(attrs={**attrs, "rows": str(TEXTAREAS[name])})
        else:
            widget = UnfoldAdminTextInputWidget(attrs=attrs)
        # Lengths are the service's to name (with the channel's own limits), not the browser's.
        field = forms.CharField(label=label, required=required, strip=False, widget=widget, help_text=help_text)
        field.error_messages["required"] = f"{label} is required."
        return field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, spec in FIELDS[self.channel].items():
            if spec.kind == "map" and name in data:
                try:
                    data[name] = lines_parse(data[name] or "")
                except ValidationError as error:
                    self.add_error(name, error)
        for i in range(MAX_BUTTONS):
            label, link = data.get(f"buttons_{i}_label"), data.get(f"buttons_{i}_action")
            if link and not label:
                self.add_error(f"buttons_{i}_label", "Give the button a label.")
        return data

    def content(self, kept: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The fields as a template's content, empty ones left out; `kept` is what the form does not
        show (platform options set through the API) and stays."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        content: dict[str, Any] = {}
        for name, spec in FIELDS[self.channel].items():
            if spec.kind == "buttons":
                buttons = []
                for i in range(MAX_BUTTONS):
                    label, link = data.get(f"buttons_{i}_label"), data.get(f"buttons_{i}_action")
                    if label:
                        buttons.append({"label": label, **({"action": link} if link else {})})
                if buttons:
                    content[name] = buttons
            elif spec.kind == "object":
                platform = dict((kept or {}).get(name) or {})
                android = {k: v for k, v in dict(platform.get("android") or {}).items() if k != "priority"}
                notification = {k: v for k, v in dict(android.get("notification") or {}).items() if k != "channel_id"}
                if data.get("android_channel"):
                    notification["channel_id"] = data["android_channel"]
                android = {k: v for k, v in android.items() if k != "notification"}
                android |= {"notification": notification} if notification else {}
                android |= {"priority": data["android_priority"]} if data.get("android_priority") else {}
                platform = {k: v for k, v in platform.items() if k != "android"} | (
                    {"android": android} if android else {}
                )
                if platform:
                    content[name] = platform
            elif data.get(name) not in (None, "", {}):
                content[name] = data[name]
        return content

    @staticmethod
    def initial_from(channel: str, content: Mapping[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for name, spec in FIELDS[channel].items():
            value = content.get(name)
            if spec.kind == "buttons" and isinstance(value, list):
                for i, button in enumerate(value[:MAX_BUTTONS]):
                    if isinstance(button, dict):
                        initial[f"buttons_{i}_label"] = button.get("label", "")
                        initial[f"buttons_{i}_action"] = button.get("action", "")
            elif spec.kind == "object" and isinstance(value, dict):
                android: dict[str, Any] = value["android"] if isinstance(value.get("android"), dict) else {}
                initial["android_priority"] = android.get("priority", "")
                notice: dict[str, Any] = (
                    android["notification"] if isinstance(android.get("notification"), dict) else {}
                )
                initial["android_channel"] = notice.get("channel_id", "")
            elif spec.kind == "map":
                initial[name] = lines_text(value)
            elif value is not None:
                initial[name] = value
        return initial

    def buttons(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"buttons_{i}_label"], self[f"buttons_{i}_action"]) for i in range(MAX_BUTTONS)]

    def plain_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith("buttons_") and name not in ADVANCED]

    def advanced_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name in ADVANCED]

    def advanced_open(self) -> bool:
        """Unfolded when one of them holds a value or an error."""
        return any(field.errors or field.value() for field in self.advanced_fields())


class TemplateForm(forms.Form):
    """A template's name and category (its channel is chosen before and fixed)."""

    name = forms.CharField(
        label="Name",
        max_length=200,
        help_text="What a journey's Send step names: letters, digits, - or _ (e.g. post-purchase-survey).",
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
        error_messages={"required": "Name the template."},
    )
    category = forms.ChoiceField(label="Category", widget=_select([]))

    def __init__(self, *args: Any, categories: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [
            (
                str(c.get("slug")),
                f"{c.get('name') or c.get('slug')}" + (" (transactional)" if c.get("transactional") else ""),
            )
            for c in categories
            if isinstance(c, dict)
        ]
        self.fields["category"].choices = choices  # type: ignore[attr-defined]
        self.fields["category"].widget.choices = choices


def locale_clean(text: str) -> str:
    text = text.strip()
    if not LOCALE.match(text):
        raise ValidationError("Write a language code such as tr, de or pt-BR.")
    return text


def preview_choices(profiles: list[Profile], test_ids: set[int]) -> list[tuple[str, str]]:
    def label(profile: Profile) -> str:
        name = profile.user_id or profile.email or profile.phone or f"anonymous #{profile.pk}"
        return name + (f" · {profile.locale}" if profile.locale else "") + (" · test" if profile.pk in test_ids else "")

    return [("", "A person with no traits"), *((str(p.pk), label(p)) for p in profiles)]


class PreviewForm(forms.Form):
    """Whom the preview is for, in which language, and the event it reacts to."""

    preview_profile = forms.ChoiceField(label="Preview for", required=False, widget=_select([]))
    preview_locale = forms.CharField(label="Language", required=False, widget=_select([]))
    preview_event = forms.CharField(
        label="Sample event",
        required=False,
        widget=UnfoldAdminTextareaWidget(
            attrs={"rows": "2", "class": "font-mono", "placeholder": "product_name: Blue shoes"}
        ),
        help_text="For {{ event.… }}: one property per line, as name: value.",
    )

    def __init__(self, *args: Any, profiles: list[tuple[str, str]], locales: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preview_profile"].choices = profiles  # type: ignore[attr-defined]
        self.fields["preview_profile"].widget.choices = profiles
        languages = [("", "The person's language"), ("-", "Default language"), *((loc, loc) for loc in locales)]
        self.fields["preview_locale"].widget.choices = languages

    def event(self) -> dict[str, str]:
        try:
            return lines_parse(self.cleaned_data.get("preview_event") or "")
        except ValidationError:
            return {}


class TestProfileForm(forms.Form):
    __test__ = False  # not a pytest class

    who = forms.CharField(
        label="Person",
        max_length=255,
        help_text="Their user id, email or phone, as the workspace knows them.",
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
        error_messages={"required": "Say who: a user id, an email or a phone."},
    )
    label = forms.CharField(
        label="Label",
        max_length=100,
        required=False,
        help_text='How they show in lists, e.g. "Ann\'s iPhone".',
        widget=UnfoldAdminTextInputWidget(),
    )


class CategoryForm(forms.Form):
    slug = forms.CharField(label="Key", max_length=64, required=False, widget=UnfoldAdminTextInputWidget())
    name = forms.CharField(label="Name", max_length=100, required=False, widget=UnfoldAdminTextInputWidget())
    transactional = forms.BooleanField(label="Transactional", required=False, widget=UnfoldBooleanSwitchWidget())


CategoryFormSet = forms.formset_factory(CategoryForm, extra=2, max_num=50)


def show_problems(problems: list[FieldProblem], forms_by_where: Mapping[str, forms.Form]) -> list[str]:
    """Each problem at its field: `content.body` on the default content form, `variants.tr.title` on the
    tr one, `content.buttons[1].label` at that button, `name`/`category` on the template form. Returns
    the ones no field shows."""
    left: list[str] = []
    for problem in problems:
        parts = problem.field.split(".")
        where, rest = (".".join(parts[:2]), parts[2:]) if parts[0] == "variants" else (parts[0], parts[1:])
        form = forms_by_where.get(where)
        name = rest[0] if rest else parts[0]
        label = LABELS.get(name.split("[")[0], name)
        message = problem.message[0].upper() + problem.message[1:]
        if form is not None and name.startswith("buttons["):
            index = name[len("buttons[") :].split("]")[0]
            name = f"buttons_{index}_{'action' if rest[-1:] == ['action'] else 'label'}"
        elif form is not None and name == "platform":
            name = "android_priority"
        if form is not None and name in form.fields:
            form.add_error(name, message if message.endswith(".") else message + ".")
        else:
            left.append(f"{label}: {problem.message}")
    return left


def channel_choices() -> list[tuple[str, str]]:
    return list(Channel.choices)
