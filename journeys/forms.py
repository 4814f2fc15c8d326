"""The journey wizard's forms: each step's fields in the panel's words, turned into its part of the
draft document and read back from it. Type checks happen here (a number for "is greater than", a unit
for a duration); everything else is the document's own validation, which the views show at these
fields (`field_for`). No JSON anywhere a marketer types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from journeys import wizard
from segments.conditions import ConditionError, as_number, parse_condition
from segments.words import CHANNEL_WORDS, NO_VALUE, OPERATOR_WORDS, event_words, operators_for

MAX_FILTERS = 10
UNIT_CHOICES = [("", "—"), *wizard.UNITS]
TEXT = {"class": "max-w-2xl"}


def _select(choices: Sequence[tuple[str, str]] = (), **attrs: str) -> UnfoldAdminSelectWidget:
    widget = UnfoldAdminSelectWidget(attrs=attrs or None)
    widget.choices = list(choices)
    return widget


def activity_choices(known: Mapping[str, Mapping[str, list[str]]], current: str | None = None) -> list[tuple[str, str]]:
    """The workspace's tracked activities (Screen View and Page View always), in the panel's words."""
    names = {"screen_view", "viewed", *known}
    if current:
        names.add(current)
    ordered = sorted(names, key=lambda n: (n not in ("screen_view", "viewed"), event_words(n).lower()))
    return [("", "Choose an activity…"), *((n, event_words(n)) for n in ordered)]


class DurationField(forms.MultiValueField):
    """A number and a unit ("3" "days") ↔ an ISO 8601 duration ("P3D")."""

    widget: forms.MultiWidget

    def __init__(self, *, required: bool = False, **kwargs: Any) -> None:
        fields = (
            forms.IntegerField(min_value=1, max_value=100_000, required=False),
            forms.ChoiceField(choices=UNIT_CHOICES, required=False),
        )
        widget = forms.MultiWidget(
            widgets=[UnfoldAdminIntegerFieldWidget(attrs={"class": "w-24", "min": "1"}), _select(UNIT_CHOICES)]
        )
        super().__init__(fields=fields, widget=widget, require_all_fields=False, required=required, **kwargs)

    def compress(self, data_list: list[Any]) -> str | None:
        number, unit = (list(data_list) + [None, None])[:2]
        if number in (None, "") and not unit:
            if self.required:
                raise ValidationError("Enter a number and a unit.", code="required")
            return None
        if number in (None, ""):
            raise ValidationError("Enter how many.", code="number")
        if not unit:
            raise ValidationError("Choose a unit (minutes, hours, days, weeks or months).", code="unit")
        try:
            return wizard.duration_iso(int(number), str(unit))
        except ValueError as error:
            raise ValidationError(f"This {error}.") from None


class DurationWidgetValue:
    """Helpers to show a stored duration in a DurationField."""

    @staticmethod
    def initial(text: Any) -> list[Any]:
        number, unit = wizard.duration_parts(text)
        return [number, unit or ""]


class FilterRowForm(forms.Form):
    """One trigger filter: property, operator, value."""

    property = forms.CharField(
        label="Property",
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )
    op = forms.ChoiceField(
        label="Operator", choices=[("", "—"), *OPERATOR_WORDS.items()], required=False, widget=_select()
    )
    value = forms.CharField(label="Value", max_length=1000, required=False, widget=UnfoldAdminTextInputWidget())

    def __init__(self, *args: Any, properties: Mapping[str, list[str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.properties = dict(properties or {})
        self.fields["op"].widget.choices = [("", "—"), *OPERATOR_WORDS.items()]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        name, op, value = data.get("property", "").strip(), data.get("op", ""), data.get("value", "").strip()
        if not (name or op or value):
            data["leaf"] = None
            return data
        if not name:
            self.add_error("property", "Choose a property.")
        if not op:
            self.add_error("op", "Choose an operator.")
            return data
        types = self.properties.get(name) or []
        fitting = {o for t in types if t != "null" for o in operators_for(t)}
        if fitting and op not in fitting:
            kinds = " or ".join(t for t in types if t != "null")
            self.add_error("op", f"“{OPERATOR_WORDS[op]}” does not fit {name}, a {kinds} property.")
            return data
        leaf: dict[str, Any] = {"property": name, "op": op}
        if op not in NO_VALUE:
            if not value:
                self.add_error("value", f"Enter a value for “{OPERATOR_WORDS[op]}”.")
                return data
            try:
                leaf["value"] = operand_parse(op, value)
            except ValidationError as error:
                self.add_error("value", error)
                return data
        try:
            parse_condition(leaf, "filter")
        except ConditionError as error:
            self.add_error("value" if error.field.endswith("value") else "op", error.message.capitalize() + ".")
            return data
        if not self.errors:
            data["leaf"] = leaf
        return data


def operand_parse(op: str, text: str) -> Any:
    """What a marketer typed, as the condition's operand for this operator."""
    if op in {"gt", "gte", "lt", "lte"}:
        if as_number(text) is None:
            raise ValidationError(f"Enter a number for “{OPERATOR_WORDS[op]}”.")
        amount = float(text)
        return int(amount) if amount.is_integer() else amount
    if op == "between":
        parts = [p.strip() for p in text.replace(" and ", ",").split(",") if p.strip()]
        if len(parts) != 2 or any(as_number(p) is None for p in parts):
            raise ValidationError("Enter two numbers, such as “10 and 20”.")
        return [as_number(p) for p in parts]
    if op in {"in", "not_in"}:
        return [p.strip() for p in text.split(",") if p.strip()]
    if op == "within_last":
        number, _, unit = text.partition(" ")
        unit = unit.strip().lower()
        unit = unit if unit.endswith("s") else f"{unit}s"
        if not number.isdigit() or unit not in dict(wizard.UNITS):
            raise ValidationError("Enter a number and a unit, such as “7 days”.")
        return wizard.duration_iso(int(number), unit)
    return text


def operand_text(op: str, value: Any) -> str:
    """The operand as the value box shows it (the inverse of `operand_parse`)."""
    if value is None:
        return ""
    if op == "between" and isinstance(value, list):
        return " and ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if op == "within_last":
        number, unit = wizard.duration_parts(value)
        return f"{number} {unit}" if number else str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


FilterFormSet = forms.formset_factory(FilterRowForm, extra=0, max_num=MAX_FILTERS, absolute_max=MAX_FILTERS)


def filter_rows(condition: Any) -> tuple[list[dict[str, str]], bool]:
    """A stored condition as filter rows, and whether it is simple enough to edit as rows (a property
    leaf, or `all` of them); anything else is kept as it is and shown in words."""
    leaves: list[Any] = (
        condition["all"] if isinstance(condition, dict) and isinstance(condition.get("all"), list) else [condition]
    )
    if condition in (None, {}, []):
        return [], True
    if isinstance(condition, list):
        leaves = condition
    rows = []
    for leaf in leaves:
        if not (isinstance(leaf, dict) and "property" in leaf and set(leaf) <= {"property", "op", "value"}):
            return [], False
        op = str(leaf.get("op", ""))
        rows.append({"property": str(leaf["property"]), "op": op, "value": operand_text(op, leaf.get("value"))})
    return rows, True


def filters_formset(
    prefix: str,
    condition: Any,
    properties: Mapping[str, list[str]],
    data: Mapping[str, Any] | None = None,
    *,
    add_row: bool = False,
) -> Any:
    """The trigger-filter rows of a form (bound to `data` when posted); `add_row` adds an empty row."""
    if data is not None:
        formset = FilterFormSet(data, prefix=prefix, form_kwargs={"properties": properties})
        if add_row and formset.is_valid() and len(formset.forms) < MAX_FILTERS:
            initial = [f.cleaned_data for f in formset.forms] + [{}]
            formset = FilterFormSet(prefix=prefix, initial=initial, form_kwargs={"properties": properties})
            formset.extra = 0
        return formset
    rows, _ = filter_rows(condition)
    return FilterFormSet(prefix=prefix, initial=rows, form_kwargs={"properties": properties})


def formset_condition(formset: Any) -> dict[str, Any] | None:
    """The rows as one condition: None for no rows, a leaf for one, `all` of them for several."""
    leaves = [form.cleaned_data["leaf"] for form in formset.forms if form.cleaned_data.get("leaf")]
    if not leaves:
        return None
    return leaves[0] if len(leaves) == 1 else {"all": leaves}


# --- Steps ----------------------------------------------------------------------------------------


class RevisionForm(forms.Form):
    """Every step posts the draft revision it was read at: a save over a newer one is a conflict."""

    revision = forms.IntegerField(widget=forms.HiddenInput)


class SetupForm(RevisionForm):
    name = forms.CharField(
        label="Journey name",
        max_length=200,
        widget=UnfoldAdminTextInputWidget(attrs=TEXT),
        error_messages={"required": "Give the journey a name."},
    )
    description = forms.CharField(
        label="Description", required=False, max_length=2000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2})
    )
    conversion_event = forms.ChoiceField(
        label="Conversion event",
        required=False,
        help_text="What counts as success: the activity a profile does after entering.",
    )
    conversion_window = DurationField(label="Conversion window", help_text="How long after entering it counts.")
    exit_on_conversion = forms.BooleanField(
        label="Exit the journey on conversion", required=False, widget=UnfoldBooleanSwitchWidget()
    )

    def __init__(self, *args: Any, activities: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["conversion_event"]
        assert isinstance(field, forms.ChoiceField)
        choices = [("", "No conversion goal"), *activities[1:]]
        field.choices = choices
        field.widget = _select(choices, **{"hx-post": "", "hx-trigger": "change", "hx-vals": '{"refresh": "1"}'})
        field.error_messages["invalid_choice"] = "No activity named %(value)s has been tracked in this workspace."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            data.get("conversion_event")
            and not data.get("conversion_window")
            and "conversion_window" not in self.errors
        ):
            self.add_error("conversion_window", "A conversion goal needs a window, such as 7 days.")
        return data


REENTRY_CHOICES = [("once", "Once"), ("multiple", "Multiple times")]
ENTRY_CHOICES = [("event", "Action based"), ("segment", "Scheduled")]


class EntryForm(RevisionForm):
    type = forms.ChoiceField(
        label="Entry",
        choices=ENTRY_CHOICES,
        widget=UnfoldAdminRadioSelectWidget(
            attrs={"hx-post": "", "hx-trigger": "change", "hx-vals": '{"refresh": "1"}'}
        ),
    )
    event = forms.ChoiceField(label="Trigger event", required=False)
    every_day_at = forms.TimeField(
        label="Every day at",
        required=False,
        help_text="Leave empty to run once, at the start time.",
        widget=UnfoldAdminTextInputWidget(attrs={"type": "time", "class": "w-40"}),
    )
    start_at = forms.DateTimeField(
        label="Start",
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"type": "datetime-local", "class": "w-60"}),
    )
    end_at = forms.DateTimeField(
        label="End",
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"type": "datetime-local", "class": "w-60"}),
    )
    mode = forms.ChoiceField(label="Eligibility", choices=REENTRY_CHOICES, widget=UnfoldAdminRadioSelectWidget())
    lock = DurationField(label="Lock duration", help_text="After entering, a profile cannot enter again for this long.")
    cap_max = forms.IntegerField(
        label="Entry capping: at most",
        required=False,
        min_value=1,
        max_value=1_000_000,
        widget=UnfoldAdminIntegerFieldWidget(attrs={"class": "w-24", "min": "1"}),
        error_messages={"min_value": "Entry capping must allow at least 1 entry."},
    )
    cap_period = DurationField(label="Capping time period", help_text="Empty: over the profile's lifetime.")

    def __init__(self, *args: Any, activities: list[tuple[str, str]], zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        field = self.fields["event"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = activities
        field.widget = _select(activities, **{"hx-post": "", "hx-trigger": "change", "hx-vals": '{"refresh": "1"}'})
        field.error_messages["invalid_choice"] = "No activity named %(value)s has been tracked in this workspace."
        for name in ("start_at", "end_at"):
            self.fields[name].help_text = f"In the workspace's time zone ({zone.key})."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("type") == "event" and not data.get("event") and "event" not in self.errors:
            self.add_error("event", "Choose the activity that starts the journey.")
        if data.get("type") == "segment" and not data.get("start_at") and not data.get("every_day_at"):
            self.add_error("start_at", "A scheduled journey needs a start time or a time of day.")
        if data.get("cap_period") and not data.get("cap_max"):
            self.add_error("cap_max", "Say how many entries the capping time period allows.")
        for name in ("start_at", "end_at"):
            moment = data.get(name)
            if isinstance(moment, datetime):
                data[name] = moment.replace(tzinfo=self.zone) if moment.tzinfo is None else moment
        if data.get("start_at") and data.get("end_at") and data["end_at"] <= data["start_at"]:
            self.add_error("end_at", "The end must be after the start.")
        return data


class AudienceForm(RevisionForm):
    segments = forms.MultipleChoiceField(
        label="Segments",
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "audience-choice"}),
        help_text="Profiles in any of the chosen segments may enter. None chosen: all users.",
    )
    exclude_segments = forms.MultipleChoiceField(
        label="Exclusions",
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "audience-choice"}),
        help_text="Profiles in any of these never enter.",
    )

    def __init__(self, *args: Any, segments: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("segments", "exclude_segments"):
            field = self.fields[name]
            assert isinstance(field, forms.MultipleChoiceField)
            field.choices = segments

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        both = set(data.get("segments") or []) & set(data.get("exclude_segments") or [])
        if both:
            self.add_error("exclude_segments", "A segment cannot be both required and excluded.")
        return data


# --- Build: one form per kind of step -------------------------------------------------------------

NODE_KINDS = (
    ("wait_event", "State", "Wait for an event, with On performed and On timed out paths"),
    ("send", "Send message", "Push, SMS, email, in-app or web push"),
    ("delay", "Delay", "Wait for a while, or until a time of day"),
    ("branch", "Branch", "Take a path by who the profile is"),
    ("split", "Split (A/B)", "Send shares of profiles down different paths"),
    ("update_profile", "Update profile", "Set traits, add or remove tags"),
    ("webhook", "Webhook", "Call another system"),
    ("exit", "Exit point", "The journey ends here"),
)
KIND_WORDS = {kind: words for kind, words, _ in NODE_KINDS}
SEND_CHANNELS = ("push", "sms", "email", "in_app", "web_push")


class StateForm(RevisionForm):
    event = forms.ChoiceField(label="Wait for")
    timeout = DurationField(label="Time out after", required=True)

    def __init__(self, *args: Any, activities: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = activities
        field.widget = _select(
            activities,
            **{
                "hx-post": "",
                "hx-trigger": "change",
                "hx-vals": '{"refresh": "1"}',
                "hx-target": "#node-panel",
                "hx-select": "#node-panel",
            },
        )
        field.error_messages["invalid_choice"] = "No activity named %(value)s has been tracked in this workspace."
        field.error_messages["required"] = "Choose the activity to wait for."
        self.fields["timeout"].error_messages["required"] = "Say how long to wait, such as 3 days."


class SendForm(RevisionForm):
    channel = forms.ChoiceField(
        label="Channel", choices=[(c, CHANNEL_WORDS[c].capitalize() if c != "sms" else "SMS") for c in SEND_CHANNELS]
    )
    template = forms.ChoiceField(label="Template", required=False)

    def __init__(self, *args: Any, templates: Mapping[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.templates = templates
        channel = self.data.get("channel") if self.is_bound else self.initial.get("channel")
        names = templates.get(str(channel or "push"), [])
        field = self.fields["template"]
        assert isinstance(field, forms.ChoiceField)
        choices = [("", "Choose a template…"), *((n, n) for n in names)]
        field.choices = choices
        field.widget = _select(choices)
        field.error_messages["invalid_choice"] = "There is no such template for this channel."
        self.fields["channel"].widget = _select(
            self.fields["channel"].choices,  # type: ignore[attr-defined]
            **{
                "hx-post": "",
                "hx-trigger": "change",
                "hx-vals": '{"refresh": "1"}',
                "hx-target": "#node-panel",
                "hx-select": "#node-panel",
            },
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("template") and "template" not in self.errors:
            words = "SMS" if data.get("channel") == "sms" else CHANNEL_WORDS.get(str(data.get("channel")), "")
            self.add_error("template", f"Choose a template for this {words} message.")
        return data


class DelayForm(RevisionForm):
    duration = DurationField(label="Wait for")
    until = forms.TimeField(
        label="Or until the time of day",
        required=False,
        help_text="In the profile's time zone.",
        widget=UnfoldAdminTextInputWidget(attrs={"type": "time", "class": "w-40"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if bool(data.get("duration")) == bool(data.get("until")) and not self.errors:
            self.add_error("duration", "Give either how long to wait or a time of day, not both.")
        return data


class BranchForm(RevisionForm):
    """Paths by a trait of the profile (one filter row each, over traits), and Else for everyone else."""


class SplitForm(RevisionForm):
    arms = forms.CharField(
        label="Arms",
        max_length=500,
        widget=UnfoldAdminTextInputWidget(attrs=TEXT),
        help_text="Names and shares, such as “A 50, B 50” (the shares add up to 100).",
    )

    def clean_arms(self) -> list[dict[str, Any]]:
        arms = []
        for part in self.cleaned_data["arms"].split(","):
            name, _, share = part.strip().rpartition(" ")
            if not name or not share.rstrip("%").isdigit():
                raise ValidationError(f"“{part.strip()}” is not a name and a share, such as “A 50”.")
            arms.append({"name": name.strip(), "percent": int(share.rstrip("%"))})
        if len(arms) < 2:
            raise ValidationError("A split needs at least two arms.")
        if sum(a["percent"] for a in arms) != 100:
            raise ValidationError(f"The shares add up to {sum(a['percent'] for a in arms)}, not 100.")
        if len({a["name"] for a in arms}) != len(arms):
            raise ValidationError("Each arm needs its own name.")
        return arms


class UpdateProfileForm(RevisionForm):
    traits = forms.CharField(
        label="Set traits",
        required=False,
        max_length=2000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="One per line: name = value (numbers, true/false and text).",
    )
    add_tags = forms.CharField(
        label="Add tags",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget(),
        help_text="Comma separated.",
    )
    remove_tags = forms.CharField(
        label="Remove tags",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget(),
        help_text="Comma separated.",
    )

    def clean_traits(self) -> dict[str, Any]:
        traits: dict[str, Any] = {}
        for number, line in enumerate(self.cleaned_data["traits"].splitlines(), 1):
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals or not name.strip():
                raise ValidationError(f"Line {number}: write name = value.")
            text = value.strip()
            parsed: Any = text
            if text.lower() in ("true", "false"):
                parsed = text.lower() == "true"
            elif as_number(text) is not None:
                number_value = as_number(text)
                assert number_value is not None
                parsed = int(number_value) if number_value.is_integer() else number_value
            traits[name.strip()] = parsed
        return traits

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("add_tags", "remove_tags"):
            data[name] = [t.strip() for t in str(data.get(name) or "").split(",") if t.strip()]
        if not (data.get("traits") or data.get("add_tags") or data.get("remove_tags")) and not self.errors:
            self.add_error("traits", "Set a trait, or add or remove a tag.")
        return data


class WebhookForm(RevisionForm):
    url = forms.CharField(label="URL", max_length=2000, widget=UnfoldAdminTextInputWidget(attrs=TEXT))
    method = forms.ChoiceField(
        label="Method",
        choices=[(m, m) for m in ("POST", "GET", "PUT", "PATCH", "DELETE")],
        widget=_select([(m, m) for m in ("POST", "GET", "PUT", "PATCH", "DELETE")]),
    )
    body = forms.CharField(
        label="Body",
        required=False,
        max_length=20_000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 4}),
        help_text="Liquid, as in templates: {{ profile.first_name }}, {{ event.price }} (the trigger's properties).",
    )


class ExitForm(RevisionForm):
    pass


# --- The simulator's test profiles ---------------------------------------------------------------------


class SimProfileForm(forms.Form):
    """One test profile: who, the traits and tags branches and updates read, the segments it is in."""

    who = forms.CharField(
        label="Profile (user id)",
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"class": "w-32"}),
    )
    traits = forms.CharField(
        label="Traits",
        max_length=2000,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "first_name = Ann, plan = pro"}),
    )
    tags = forms.CharField(
        label="Tags",
        max_length=1000,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "vip, beta"}),
    )
    segments = forms.MultipleChoiceField(label="In segments", required=False)

    def __init__(self, *args: Any, segments: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["segments"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = list(segments)
        field.widget = forms.SelectMultiple(attrs={"class": "border border-base-200 rounded-default text-sm w-full"})
        field.widget.choices = list(segments)
        if not segments:
            field.help_text = "The workspace has no segments yet."

    def clean_traits(self) -> dict[str, Any]:
        from panel.forms import pairs_parse

        return pairs_parse(self.cleaned_data.get("traits") or "")

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in str(self.cleaned_data.get("tags") or "").split(",") if tag.strip()]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        given = data.get("traits") or data.get("tags") or data.get("segments")
        if not data.get("who"):
            if given:
                self.add_error("who", "Say whose profile this is.")
            data["row"] = None
            return data
        data["row"] = {
            "user_id": data["who"],
            "traits": data.get("traits") or {},
            "tags": data.get("tags") or [],
            "segments": data.get("segments") or [],
        }
        return data


SimProfileFormSet = forms.formset_factory(SimProfileForm, extra=0, max_num=20, absolute_max=20)
