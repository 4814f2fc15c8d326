"""The behavior's forms in the panel: its name and how often it may fire, its steps (performs / does not
perform / is inactive, the activity, trigger filters, the window as a number and a unit), and the
simulator's event rows. The forms only check types (a unit for a window); the document's own validation
(`behaviors.document`) names every other problem, shown at these fields (`show_problems`). The filter
rows and durations are the journey wizard's (`journeys.forms`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.text import slugify
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from behaviors.document import ANY, MAX_STEPS, Problem
from journeys.forms import DurationField, DurationWidgetValue, activity_choices, filters_formset, formset_condition
from panel.forms import pairs_parse

KIND_CHOICES = [
    ("performed", "Performs"),
    ("not_performed", "Does not perform"),
    ("inactive", "Does nothing at all"),
]
REFRESH = {"hx-post": "", "hx-trigger": "change", "hx-vals": '{"refresh": "1"}'}
STEP_FIELD = re.compile(r"^steps\[(\d+)\](?:\.(\w+))?")


def _select(choices: list[tuple[str, str]], **attrs: str) -> UnfoldAdminSelectWidget:
    widget = UnfoldAdminSelectWidget(attrs=attrs or None)
    widget.choices = choices
    return widget


def step_activity_choices(known: Mapping[str, Any], current: str | None = None) -> list[tuple[str, str]]:
    """The tracked activities with "Any activity" (`*`) first; behaviors never feed behaviors."""
    choices = [c for c in activity_choices(known, current) if c[0] != ANY and not c[0].startswith("behavior:")]
    return [choices[0], (ANY, "Any activity"), *choices[1:]]


class BehaviorForm(forms.Form):
    """Name, slug and how often it may fire. Name and slug are checked by the document (the API's words)."""

    name = forms.CharField(
        label="Behavior name",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget(attrs={"class": "max-w-2xl"}),
    )
    slug = forms.CharField(
        label="Activity it records",
        required=False,
        max_length=200,
        widget=UnfoldAdminTextInputWidget(attrs={"class": "max-w-md", "placeholder": "made from the name"}),
        help_text="Firing records “behavior:” and this on the profile, for journeys, segments and reports. "
        "Empty: made from the name.",
    )
    description = forms.CharField(
        label="Description", required=False, max_length=2000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2})
    )
    max_once_per = DurationField(
        label="Fire at most once every", help_text="Empty: every time a profile completes the pattern."
    )

    def __init__(self, *args: Any, slug_fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slug_fixed = slug_fixed
        if slug_fixed:  # journeys and reports use behavior:<slug>: it never changes
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "Fixed once created: journeys, segments and reports use it."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("slug") and not self.slug_fixed and data.get("name"):
            data["slug"] = slugify(data["name"]).replace("-", "_")[:64]
        return data


class StepForm(forms.Form):
    """One step after the first: what the profile does (or not), which activity, within how long."""

    kind = forms.ChoiceField(label="Then the profile", choices=KIND_CHOICES, widget=_select(KIND_CHOICES, **REFRESH))
    activity = forms.ChoiceField(label="Activity", required=False)
    within = DurationField(label="Within")

    def __init__(self, *args: Any, activities: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["activity"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = activities
        field.widget = _select(activities, **REFRESH)
        field.error_messages["invalid_choice"] = "No activity named %(value)s has been tracked in this workspace."
        kind = self.chosen_kind
        if "within" not in self.fields:
            pass
        elif kind == "inactive":
            self.fields["within"].label = "For"
            self.fields["within"].help_text = "Any activity during this time starts it again."
        elif kind == "not_performed":
            self.fields["within"].help_text = "Fires when this much time passes without the activity."
        else:
            self.fields["within"].help_text = "Empty: any time later."

    @property
    def chosen_kind(self) -> str:
        value = self.data.get(self.add_prefix("kind")) if self.is_bound else self.initial.get("kind")
        return str(value or "performed")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("kind") == "inactive" and not data.get("within") and "within" not in self.errors:
            self.add_error("within", "Is required: how long the profile does nothing.")
        return data

    def step(self, where: Any) -> dict[str, Any]:
        """The step as the document has it."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind == "inactive":
            return {"inactive": data["within"]}
        step: dict[str, Any] = {kind: data.get("activity") or ""}
        if where:
            step["where"] = where
        if data.get("within"):
            step["within"] = data["within"]
        return step


class FirstStepForm(StepForm):
    """The first step: a pattern starts with an activity done, with nothing before it to be within."""

    kind = forms.ChoiceField(choices=[("performed", "Performs")], widget=forms.HiddenInput)
    within = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["activity"].label = "Starts when the profile performs"

    def step(self, where: Any) -> dict[str, Any]:
        step: dict[str, Any] = {"performed": self.cleaned_data.get("activity") or ""}
        if where:
            step["where"] = where
        return step


class Steps:
    """The steps of one behavior form: a StepForm each (prefix `steps-N`) with its filter rows (`whereN`),
    bound to the post or read from the document; `data` can add and remove steps and filter rows."""

    def __init__(
        self,
        document: Mapping[str, Any],
        known: Mapping[str, Mapping[str, list[str]]],
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.known = known
        raw_steps = document.get("steps") if isinstance(document.get("steps"), list) else []
        raw_steps = raw_steps or [{"performed": ""}]
        count = _count(data.get("steps-TOTAL_FORMS")) if data is not None else len(raw_steps)
        self.items: list[tuple[StepForm, Any]] = []
        for index in range(max(1, min(count, MAX_STEPS))):
            raw = raw_steps[index] if data is None and index < len(raw_steps) else {}
            raw = raw if isinstance(raw, dict) else {}
            kind = next((k for k in ("performed", "not_performed", "inactive") if k in raw), "performed")
            prefix = f"steps-{index}"
            current = str(data.get(f"{prefix}-activity") or "") if data is not None else str(raw.get(kind) or "")
            activities = step_activity_choices(known, current if kind != "inactive" else None)
            form_class = FirstStepForm if index == 0 else StepForm
            initial = {
                "kind": kind,
                "activity": "" if kind == "inactive" else str(raw.get(kind) or ""),
                "within": DurationWidgetValue.initial(raw.get("inactive") if kind == "inactive" else raw.get("within")),
            }
            form = form_class(data, prefix=prefix, activities=activities, initial=initial)
            properties = known.get(current, {}) if current != ANY else {}
            filters = filters_formset(f"where{index}", raw.get("where"), properties, data)
            filters.can_filter = form.chosen_kind != "inactive"
            filters.properties = properties
            self.items.append((form, filters))
        self.errors: list[str] = []

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def is_valid(self) -> bool:
        valid = True
        for form, filters in self.items:
            valid &= form.is_valid()
            if form.chosen_kind != "inactive":
                valid &= filters.is_valid()
        return valid

    def document(self) -> list[dict[str, Any]]:
        return [
            form.step(formset_condition(filters) if form.chosen_kind != "inactive" else None)
            for form, filters in self.items
        ]


def _count(value: Any) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 1


def steps_added(data: Mapping[str, Any]) -> dict[str, Any]:
    """The posted form with one more step (performs, no activity yet)."""
    changed = dict(data.items())
    count = _count(changed.get("steps-TOTAL_FORMS"))
    if count >= MAX_STEPS:
        return changed
    changed |= {
        "steps-TOTAL_FORMS": str(count + 1),
        f"steps-{count}-kind": "not_performed" if count == 1 else "performed",
        f"where{count}-TOTAL_FORMS": "0",
        f"where{count}-INITIAL_FORMS": "0",
    }
    return changed


def steps_removed(data: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The posted form without step `index` (the later ones move up; the first step stays)."""
    changed: dict[str, Any] = {}
    count = _count(data.get("steps-TOTAL_FORMS"))
    if not 0 < index < count:
        return dict(data.items())
    pattern = re.compile(r"^(steps-|where)(\d+)(-.*)$")
    for key, value in data.items():
        found = pattern.match(key)
        if found is None:
            changed[key] = value
            continue
        number = int(found[2])
        if number == index:
            continue
        changed[f"{found[1]}{number - 1 if number > index else number}{found[3]}"] = value
    changed["steps-TOTAL_FORMS"] = str(count - 1)
    return changed


def filter_added(data: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The posted form with an empty filter row on step `index`."""
    changed = dict(data.items())
    key = f"where{index}-TOTAL_FORMS"
    rows = int(changed[key]) if str(changed.get(key, "")).isdigit() else 0
    changed[key] = str(rows + 1)
    changed.setdefault(f"where{index}-INITIAL_FORMS", "0")
    return changed


def show_problems(form: forms.Form, steps: Steps, problems: list[Problem]) -> None:
    """Each problem the document validation names, at its field, in the API's words."""
    for problem in problems:
        message = problem.message[0].upper() + problem.message[1:] + "."
        found = STEP_FIELD.match(problem.field)
        if found is None:
            top = problem.field.split(".")[0]
            form.add_error(top if top in form.fields else None, message)
            continue
        index, part = int(found[1]), found[2]
        if index >= len(steps.items):
            steps.errors.append(f"Step {index + 1}: {message}")
            continue
        step_form, filters = steps.items[index]
        if part in ("performed", "not_performed") and "activity" in step_form.fields:
            name = "activity"
        elif part in ("within", "inactive") and "within" in step_form.fields:
            name = "within"
        else:
            name = None
        if part == "where":
            filters._non_form_errors = filters.error_class([message])  # shown above the rows
        elif name is not None and name not in step_form.errors:
            step_form.add_error(name, message)
        elif name is None:
            step_form.add_error(None, message)


# --- The simulator's event rows -----------------------------------------------------------------------


class EventRowForm(forms.Form):
    """One typed event: who, which activity, when (in the workspace's time zone), its properties."""

    who = forms.CharField(
        label="Profile (user id)",
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"class": "w-32"}),
    )
    event = forms.ChoiceField(label="Activity", required=False)
    at = forms.DateTimeField(
        label="When", required=False, widget=UnfoldAdminTextInputWidget(attrs={"type": "datetime-local"})
    )
    properties = forms.CharField(
        label="Properties",
        max_length=2000,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "price = 120, currency = EUR"}),
    )

    def __init__(self, *args: Any, activities: list[tuple[str, str]], zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        field = self.fields["event"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = activities
        field.widget = _select(activities)

    def clean_properties(self) -> dict[str, Any]:
        return pairs_parse(self.cleaned_data.get("properties") or "")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        given = data.get("who") or data.get("event") or data.get("at")
        if not given:
            data["row"] = None
            return data
        if not data.get("who"):
            self.add_error("who", "Say whose event this is.")
        if not data.get("event"):
            self.add_error("event", "Choose the activity.")
        if not data.get("at") and "at" not in self.errors:
            self.add_error("at", "Say when it happens.")
        moment = data.get("at")
        if isinstance(moment, datetime) and moment.tzinfo is None:
            data["at"] = moment = moment.replace(tzinfo=self.zone)
        if not self.errors and isinstance(moment, datetime):
            data["row"] = {
                "user_id": data["who"],
                "event": data["event"],
                "timestamp": moment.isoformat(),
                "properties": data.get("properties") or {},
            }
        return data


EventFormSet = forms.formset_factory(EventRowForm, extra=0, max_num=50, absolute_max=50)


class SimulateForm(forms.Form):
    until = forms.DateTimeField(
        label="Run the clock until",
        widget=UnfoldAdminTextInputWidget(attrs={"type": "datetime-local", "class": "w-60"}),
        error_messages={"required": "Say until when the clock runs.", "invalid": "Enter a date and time."},
    )

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["until"].help_text = f"In the workspace's time zone ({zone.key})."

    def clean_until(self) -> datetime:
        moment: datetime = self.cleaned_data["until"]
        return moment.replace(tzinfo=self.zone) if moment.tzinfo is None else moment


class BackfillForm(forms.Form):
    days = forms.IntegerField(
        label="Over the last",
        required=False,
        widget=UnfoldAdminIntegerFieldWidget(attrs={"class": "w-24", "min": "1", "max": "365"}),
        help_text="days of stored activities",
    )
