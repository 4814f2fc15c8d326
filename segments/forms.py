"""The segments' panel forms: the rule builder (rows of conditions in a group — all, any or none of them
— and sub-groups one level down), turned into the rule JSON the API takes and read back from it; the
segment's name and settings; a CSV upload; tags. Type checks happen here; the rest is the segment
services' validation, which the views show at these fields (`RuleBuilder.field_of`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from journeys.forms import DurationField, DurationWidgetValue, activity_choices, operand_parse, operand_text
from segments.conditions import ATTRIBUTES, ConditionError, parse_condition
from segments.words import (
    ATTRIBUTE_OPERATORS,
    ATTRIBUTE_WORDS,
    CHANNEL_WORDS,
    CONDITION_KINDS,
    COUNT_WORDS,
    GROUP_WORDS,
    MEMBERSHIP_WORDS,
    NO_VALUE,
    OPERATOR_WORDS,
)

MAX_ROWS = 30
MAX_GROUPS = 5
MAX_TAG = 100
# A select that redraws the whole form (the rows inherit the estimate's target otherwise).
REFRESH = {
    "hx-post": "",
    "hx-trigger": "change",
    "hx-vals": '{"refresh": "1"}',
    "hx-target": "#segment-form",
    "hx-select": "#segment-form",
    "hx-swap": "outerHTML",
}


def _select(choices: Sequence[tuple[str, str]] = (), **attrs: str) -> UnfoldAdminSelectWidget:
    widget = UnfoldAdminSelectWidget(attrs=attrs or None)
    widget.choices = list(choices)
    return widget


def _choice(form: forms.Form, name: str, choices: Sequence[tuple[str, str]], **attrs: str) -> None:
    found = form.fields[name]
    assert isinstance(found, forms.ChoiceField)
    found.choices = list(choices)
    found.widget = _select(choices, **attrs)


def operator_choices(kind: str, attribute: str | None) -> list[tuple[str, str]]:
    """The operators a row of this kind offers, in words."""
    if kind == "trait":
        return list(OPERATOR_WORDS.items())
    if kind == "attribute":
        ops = ATTRIBUTE_OPERATORS[ATTRIBUTES.get(attribute or "first_seen", "time")]
        return [(op, OPERATOR_WORDS[op]) for op in ops]
    if kind in MEMBERSHIP_WORDS:
        return list(MEMBERSHIP_WORDS[kind])
    return []


# --- One condition --------------------------------------------------------------------------------


class ConditionRowForm(forms.Form):
    """One condition of the builder. Which fields it shows depends on its kind (the form is redrawn
    when the kind changes); `clean` makes its JSON leaf (`leaf`), or None for a row left blank."""

    kind = forms.ChoiceField(label="Condition", choices=list(CONDITION_KINDS.items()))
    group = forms.IntegerField(required=False, widget=forms.HiddenInput)
    trait = forms.CharField(
        label="Trait",
        required=False,
        max_length=200,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off", "placeholder": "e.g. country"}),
    )
    attribute = forms.ChoiceField(label="Field", required=False, choices=list(ATTRIBUTE_WORDS.items()))
    op = forms.ChoiceField(label="Operator", required=False)
    value = forms.CharField(label="Value", required=False, max_length=1000, widget=UnfoldAdminTextInputWidget())
    segment = forms.ChoiceField(label="Segment", required=False)
    channel = forms.ChoiceField(
        label="Channel", required=False, choices=[("", "Choose a channel…"), *CHANNEL_WORDS.items()]
    )
    activity = forms.ChoiceField(label="Activity", required=False)
    count_op = forms.ChoiceField(label="How often", required=False, choices=list(COUNT_WORDS.items()))
    count = forms.IntegerField(
        label="Times",
        required=False,
        min_value=0,
        max_value=1_000_000,
        widget=UnfoldAdminIntegerFieldWidget(attrs={"class": "w-24", "min": "0", "placeholder": "1"}),
    )
    within = DurationField(label="Within the last", help_text="Empty: ever.")

    def __init__(
        self,
        *args: Any,
        segments: Sequence[tuple[str, str]] = (),
        activities: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.initial.get("within"), list):  # the number-and-unit widget takes a pair
            self.initial = {**self.initial, "within": [None, ""]}
        self.kind_now = str(self._raw("kind") or "trait")
        if self.kind_now not in CONDITION_KINDS:
            self.kind_now = "trait"
        attribute = str(self._raw("attribute") or "first_seen")
        _choice(self, "kind", list(CONDITION_KINDS.items()), **REFRESH)
        _choice(self, "attribute", list(ATTRIBUTE_WORDS.items()), **REFRESH)
        _choice(self, "op", operator_choices(self.kind_now, attribute))
        segment, activity = str(self._raw("segment") or ""), str(self._raw("activity") or "")
        segments = list(segments)
        if segment and segment not in dict(segments):  # a rule from the API may name it by id: kept
            segments.append((segment, f"segment {segment}"))
        activities = list(activities)
        if activity and activity not in dict(activities):  # named before it was ever tracked
            activities.append((activity, activity))
        _choice(self, "segment", [("", "Choose a segment…"), *segments])
        _choice(self, "channel", [("", "Choose a channel…"), *CHANNEL_WORDS.items()])
        _choice(self, "activity", activities)
        _choice(self, "count_op", list(COUNT_WORDS.items()))
        self.fields["op"].error_messages["invalid_choice"] = "Choose an operator from the list."
        if self.kind_now == "tag":
            self.fields["value"].label = "Tag"
        if self.kind_now == "not_performed":
            self.fields["within"].help_text = "Empty: never."

    def _raw(self, name: str) -> Any:
        if self.is_bound:
            return self.data.get(self.add_prefix(name))
        return self.initial.get(name)

    def shown(self) -> list[str]:
        """The fields this row shows for its kind, in order."""
        return {
            "trait": ["trait", "op", "value"],
            "attribute": ["attribute", "op", "value"],
            "tag": ["op", "value"],
            "in_segment": ["op", "segment"],
            "reachable": ["op", "channel"],
            "performed": ["activity", "count_op", "count", "within"],
            "not_performed": ["activity", "within"],
        }[self.kind_now]

    def shown_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.shown()]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        data["leaf"] = None
        if self.errors:
            return data
        kind = data.get("kind", "trait")
        value = str(data.get("value") or "").strip()
        op = data.get("op") or ""
        leaf: dict[str, Any]
        if kind in ("trait", "attribute"):
            subject = str(data.get("trait") or "").strip() if kind == "trait" else data.get("attribute") or ""
            if kind == "trait" and not subject and not value:
                return data  # a row left blank
            if not subject:
                self.add_error(kind, "Name the trait." if kind == "trait" else "Choose a field.")
                return data
            if not op:
                self.add_error("op", "Choose an operator.")
                return data
            leaf = {kind: subject, "op": op}
            if op not in NO_VALUE:
                if not value:
                    self.add_error("value", f"Enter a value for “{OPERATOR_WORDS.get(op, op)}”.")
                    return data
                try:
                    leaf["value"] = operand_parse(op, value)
                except ValidationError as error:
                    self.add_error("value", error)
                    return data
        elif kind == "tag":
            if not value:
                return data
            if len(value) > MAX_TAG:
                self.add_error("value", f"A tag is at most {MAX_TAG} characters.")
                return data
            leaf = {"tag": value}
        elif kind in ("in_segment", "reachable"):
            name = "segment" if kind == "in_segment" else "channel"
            if not data.get(name):
                return data
            leaf = {kind: data[name]}
        else:
            activity = data.get("activity")
            if not activity:
                return data
            leaf = {kind: activity}
            if kind == "performed" and data.get("count") is not None:
                leaf["count"] = {"op": data.get("count_op") or "gte", "value": data["count"]}
            if data.get("within"):
                leaf["within"] = data["within"]
        if kind in MEMBERSHIP_WORDS and op == "has_not":
            leaf = {"not": leaf}
        try:
            parse_condition(leaf, "")
        except ConditionError as error:
            self.add_error(_row_field(kind, error.field), error.message[0].upper() + error.message[1:] + ".")
            return data
        data["leaf"] = leaf
        return data


def _row_field(kind: str, problem: str) -> str | None:
    """The row's field a problem inside its leaf names (`rule.all[2].count.value` → `count`)."""
    last = problem.rsplit("]", 1)[-1]
    parts = [p for p in last.split(".") if p and p != "not"]
    key = parts[0] if parts else ""
    return {
        "trait": "trait",
        "attribute": "attribute",
        "op": "op",
        "value": "value",
        "tag": "value",
        "in_segment": "segment",
        "reachable": "channel",
        "performed": "activity",
        "not_performed": "activity",
        "within": "within",
        "count": "count",
    }.get(key)


class GroupForm(forms.Form):
    match = forms.ChoiceField(label="Match", choices=list(GROUP_WORDS.items()))


ConditionFormSet = forms.formset_factory(ConditionRowForm, extra=0, max_num=MAX_ROWS, absolute_max=MAX_ROWS)
GroupFormSet = forms.formset_factory(GroupForm, extra=0, max_num=MAX_GROUPS, absolute_max=MAX_GROUPS)


# --- The rule, to rows and back --------------------------------------------------------------------


@dataclass
class Rows:
    """A rule as the builder edits it: the top group's match, its rows (group None: the top group) and
    its sub-groups' matches."""

    match: str = "all"
    rows: list[dict[str, Any]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def _leaf_row(data: Any) -> dict[str, Any] | None:
    """One leaf as a row's initial values; None when the builder cannot edit it."""
    if not isinstance(data, dict):
        return None
    negated = False
    if set(data) == {"not"} and isinstance(data["not"], dict):
        inner = data["not"]
        if len(inner) == 1 and next(iter(inner)) in MEMBERSHIP_WORDS:
            data, negated = inner, True
        else:
            return None
    for kind in ("tag", "in_segment", "reachable"):
        if kind in data and len(data) == 1:
            target = {"tag": "value", "in_segment": "segment", "reachable": "channel"}[kind]
            return {"kind": kind, "op": "has_not" if negated else "has", target: str(data[kind])}
    if negated:
        return None
    for kind in ("trait", "attribute"):
        if kind in data and set(data) <= {kind, "op", "value"}:
            op = str(data.get("op", ""))
            return {"kind": kind, kind: str(data[kind]), "op": op, "value": operand_text(op, data.get("value"))}
    for kind in ("performed", "not_performed"):
        if kind in data and set(data) <= {kind, "count", "within"}:
            row: dict[str, Any] = {"kind": kind, "activity": str(data[kind])}
            count = data.get("count")
            if isinstance(count, dict):
                if count.get("op") not in COUNT_WORDS or isinstance(count.get("value"), list):
                    return None
                row |= {"count_op": count["op"], "count": count.get("value")}
            if data.get("within"):
                row["within"] = DurationWidgetValue.initial(data["within"])
                if row["within"][0] is None:
                    return None
            return row
    return None


def _group(data: Any) -> tuple[str, list[Any]] | None:
    """A group's match and items: all / any, or none (`not` of `any`); None when it is not a group."""
    if isinstance(data, list):
        return "all", data
    if not isinstance(data, dict) or len(data) != 1:
        return None
    key, value = next(iter(data.items()))
    if key in ("all", "any") and isinstance(value, list):
        return key, value
    if key == "not" and isinstance(value, dict) and set(value) == {"any"} and isinstance(value["any"], list):
        return "none", value["any"]
    return None


def rule_rows(rule: Any) -> Rows | None:
    """A stored rule as the builder's rows, or None when it is too complex for the builder (it is then
    shown in words and kept as it is)."""
    if rule is None:
        return Rows()
    top = _group(rule)
    if top is None:
        row = _leaf_row(rule)
        return Rows(rows=[row]) if row is not None else None
    found = Rows(match=top[0])
    for item in top[1]:
        row = _leaf_row(item)
        if row is not None:
            found.rows.append(row)
            continue
        inner = _group(item)
        if inner is None or len(found.groups) >= MAX_GROUPS:
            return None
        index = len(found.groups)
        found.groups.append(inner[0])
        for leaf in inner[1]:
            row = _leaf_row(leaf)
            if row is None:
                return None
            found.rows.append(row | {"group": index})
    if len(found.rows) > MAX_ROWS:
        return None
    return found


def _wrap(match: str, items: list[Any]) -> dict[str, Any]:
    return {"not": {"any": items}} if match == "none" else {match: items}


def _item_path(match: str, where: str, index: int) -> str:
    return f"{where}.not.any[{index}]" if match == "none" else f"{where}.{match}[{index}]"


@dataclass
class Built:
    rule: dict[str, Any]
    paths: dict[int, str]  # row index → the field of its leaf in the rule (to show problems at the row)
    left_out: int  # rows with errors (the estimate counts without them)


def rows_rule(match: str, groups: Sequence[str], leaves: Sequence[tuple[int | None, dict[str, Any] | None]]) -> Built:
    """Rows (their group and leaf, None for a blank or bad row) as one rule, with each row's path."""
    top: list[Any] = []
    paths: dict[int, str] = {}
    inner: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    left_out = 0
    for index, (group, leaf) in enumerate(leaves):
        if leaf is None:
            continue
        if group is not None and 0 <= group < len(groups):
            inner.setdefault(group, []).append((index, leaf))
        else:
            paths[index] = _item_path(match, "rule", len(top))
            top.append(leaf)
    for number, group_match in enumerate(groups):
        members = inner.get(number)
        if not members:
            continue
        where = _item_path(match, "rule", len(top))
        for position, (index, _) in enumerate(members):
            paths[index] = _item_path(group_match, where, position)
        top.append(_wrap(group_match, [leaf for _, leaf in members]))
    return Built(_wrap(match, top), paths, left_out)


class RuleBuilder:
    """The builder's posted (or initial) state: the top match, the rows and the sub-groups, with the
    add / remove buttons applied."""

    def __init__(
        self,
        data: Mapping[str, Any] | None,
        *,
        initial: Rows | None = None,
        segments: Sequence[tuple[str, str]] = (),
        activities: Sequence[tuple[str, str]] = (),
    ) -> None:
        kwargs = {"segments": segments, "activities": activities}
        self.bound = data is not None
        if data is not None:
            self.match = str(data.get("match") or "all")
            if self.match not in GROUP_WORDS:
                self.match = "all"
            self.rows = ConditionFormSet(data, prefix="c", form_kwargs=kwargs)
            self.groups = GroupFormSet(data, prefix="g")
        else:
            start = initial or Rows()
            self.match = start.match
            self.rows = ConditionFormSet(prefix="c", initial=start.rows, form_kwargs=kwargs)
            self.groups = GroupFormSet(prefix="g", initial=[{"match": m} for m in start.groups])
        self.kwargs = kwargs
        self._checked: Any

    def group_matches(self) -> list[str]:
        if not self.bound:
            return [str(f.initial.get("match") or "all") for f in self.groups.forms]
        found = []
        for form in self.groups.forms:
            value = str(form.data.get(form.add_prefix("match")) or "all")
            found.append(value if value in GROUP_WORDS else "all")
        return found

    def checked(self) -> Any:
        """The rows as validated: the posted ones, or the initial ones read as if posted."""
        if self.bound:
            return self.rows
        if not hasattr(self, "_checked"):
            data: dict[str, Any] = {"c-TOTAL_FORMS": str(len(self.rows.forms)), "c-INITIAL_FORMS": "0"}
            for index, form in enumerate(self.rows.forms):
                for name, value in form.initial.items():
                    if name == "within" and isinstance(value, list):
                        for part, text in enumerate(value):
                            data[f"c-{index}-within_{part}"] = "" if text is None else str(text)
                    else:
                        data[f"c-{index}-{name}"] = "" if value is None else str(value)
            self._checked = ConditionFormSet(data, prefix="c", form_kwargs=self.kwargs)
        return self._checked

    def leaves(self) -> list[tuple[int | None, dict[str, Any] | None]]:
        """Each row's group and leaf (None: blank, or it has an error); validates the rows."""
        rows = self.checked()
        rows.is_valid()
        found: list[tuple[int | None, dict[str, Any] | None]] = []
        for form in rows.forms:
            ok = not form.errors
            group = form.cleaned_data.get("group") if ok else None
            found.append((group, form.cleaned_data.get("leaf") if ok else None))
        return found

    def built(self) -> Built:
        leaves = self.leaves()
        built = rows_rule(self.match, self.group_matches(), leaves)
        built.left_out = sum(1 for form in self.checked().forms if form.errors)
        return built

    def valid(self) -> bool:
        self.leaves()
        rows = self.checked()
        return not any(form.errors for form in rows.forms) and not rows.non_form_errors()

    def with_change(
        self, *, add_row: str | None, remove_row: str | None, add_group: bool, remove_group: str | None
    ) -> RuleBuilder:
        """The same builder with a row or group added or removed (drawn again, unvalidated)."""
        rows = []
        for index, form in enumerate(self.rows.forms):
            if remove_row is not None and str(index) == remove_row:
                continue
            values = {name: form.data.get(form.add_prefix(name)) for name in form.fields if name != "within"}
            values["within"] = [form.data.get(form.add_prefix("within") + f"_{i}") for i in (0, 1)]
            group = values.get("group")
            values["group"] = int(group) if isinstance(group, str) and group.isdigit() else None
            rows.append(values)
        groups = self.group_matches()
        if remove_group is not None and remove_group.isdigit():
            gone = int(remove_group)
            rows = [r for r in rows if r["group"] != gone]
            for row in rows:
                if row["group"] is not None and row["group"] > gone:
                    row["group"] -= 1
            groups = [m for i, m in enumerate(groups) if i != gone]
        if add_group and len(groups) < MAX_GROUPS:
            groups.append("any")
            add_row = str(len(groups) - 1)
        if add_row is not None and len(rows) < MAX_ROWS:
            rows.append({"kind": "trait", "group": int(add_row) if add_row.isdigit() else None})
        again = RuleBuilder(None, initial=Rows(self.match, rows, groups), **self.kwargs)
        return again

    def field_of(self, problem: str, paths: Mapping[int, str]) -> tuple[int, str | None] | None:
        """The row (and its field) that shows a problem the segment services named."""
        best: tuple[int, str] | None = None
        for index, path in paths.items():
            if (problem == path or problem.startswith((path + ".", path + "["))) and (
                best is None or len(path) > len(best[1])
            ):
                best = (index, path)
        if best is None:
            return None
        index, path = best
        return index, _row_field(self.rows.forms[index].kind_now, problem[len(path) :] or ".")

    def sections(self) -> list[dict[str, Any]]:
        """The rows as the template draws them: the top group's, then each sub-group's."""
        matches = self.group_matches()
        top = []
        inner: list[list[tuple[int, Any]]] = [[] for _ in matches]
        for index, form in enumerate(self.rows.forms):
            raw = form["group"].value()
            group = int(raw) if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()) else None
            if group is not None and 0 <= group < len(matches):
                inner[group].append((index, form))
            else:
                top.append((index, form))
        return [
            {"index": None, "rows": top},
            *(
                {"index": i, "rows": inner[i], "form": self.groups.forms[i], "match": matches[i]}
                for i in range(len(matches))
            ),
        ]


# --- The segment ----------------------------------------------------------------------------------


class SegmentForm(forms.Form):
    name = forms.CharField(
        label="Segment name",
        max_length=200,
        widget=UnfoldAdminTextInputWidget(attrs={"class": "max-w-2xl"}),
        error_messages={"required": "Give the segment a name."},
    )
    slug = forms.CharField(
        label="Slug",
        required=False,
        max_length=100,
        widget=UnfoldAdminTextInputWidget(attrs={"class": "max-w-md"}),
        help_text="How journeys and other rules name it; never changes. Empty: made from the name.",
    )
    description = forms.CharField(
        label="Description", required=False, max_length=2000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2})
    )
    record_changes = forms.BooleanField(
        label="Record joins and leaves",
        required=False,
        widget=UnfoldBooleanSwitchWidget(),
        help_text="A profile that joins or leaves gets a segment_entered / segment_exited activity, so a "
        "journey can start when someone joins.",
    )

    def __init__(self, *args: Any, new: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not new:
            del self.fields["slug"]


def activity_options(known: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The activities a history row offers: any activity, then the tracked ones (activity_choices)."""
    choices = activity_choices(known)
    return [choices[0], ("*", "Any activity"), *(c for c in choices[1:] if c[0] != "*")]


# --- Lists and tags -------------------------------------------------------------------------------


class ImportForm(forms.Form):
    # Unfold's widget: its script names the chosen file in the widget's own text box, which a plain
    # file input lacks (the script then failed on every choice).
    file = forms.FileField(
        label="CSV file",
        widget=UnfoldAdminFileFieldWidget,
        error_messages={"required": "Choose a CSV file: one user id or email per line, or a user_id / email column."},
        help_text="One user id or email per line, or a header row naming a user_id and/or email column.",
    )


def tags_text(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class TagsForm(forms.Form):
    add = forms.CharField(
        label="Add tags",
        required=False,
        max_length=1000,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "vip, newsletter"}),
        help_text="Comma separated.",
    )
    remove = forms.CharField(
        label="Remove tags",
        required=False,
        max_length=1000,
        widget=UnfoldAdminTextInputWidget(),
        help_text="Comma separated.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("add", "remove"):
            tags = tags_text(str(data.get(name) or ""))
            long = [t for t in tags if len(t) > MAX_TAG or "\x00" in t]
            if long:
                self.add_error(name, f"A tag is at most {MAX_TAG} characters: “{long[0][:40]}…” is not a tag.")
            data[name] = tags
        if not self.errors and not data["add"] and not data["remove"]:
            self.add_error("add", "Write the tags to add or to remove.")
        both = set(data.get("add") or []) & set(data.get("remove") or [])
        if both and not self.errors:
            self.add_error("remove", f"“{sorted(both)[0]}” cannot be both added and removed.")
        return data
