"""Behavior documents (PRODUCT.md §7): a named pattern of steps over a profile's activities, including
inactions. Parsing reports every problem at once, each naming its step and field (`steps[1].within`).
Pure code.

    {"name": "Abandoned cart", "slug": "abandoned_cart", "max_once_per": "P7D",
     "steps": [{"performed": "update_cart"},
               {"not_performed": "purchase", "within": "P3D"}]}

The first step is always `performed` (a pattern starts with something done); `within` on it is
meaningless and refused. `NAME` may be `*`: any activity (except `behavior:` ones, which never feed a
behavior, so behaviors cannot trigger each other in loops). A field sent as null is absent (clients
that write every field send `"within": null` on a first step, `"max_once_per": null`, `"where": null`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from activities.names import counts_as_any, is_behavior
from segments.conditions import AllOf, Condition, ConditionError, parse_condition
from segments.durations import Duration, DurationError

SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
ANY = "*"
MAX_STEPS = 20
FIELDS = ("name", "slug", "steps", "max_once_per", "description")
STEP_FIELDS = {
    "performed": ("performed", "where", "within"),
    "not_performed": ("not_performed", "where", "within"),
    "inactive": ("inactive",),
}
ANY_STEP_FIELD = frozenset(field for fields in STEP_FIELDS.values() for field in fields)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


class BehaviorError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Step:
    kind: str  # performed, not_performed, inactive
    name: str = ANY  # the activity (performed, not_performed); ANY for inactive
    where: Condition = AllOf(())
    within: Duration | None = None  # performed: optional; not_performed and inactive: required

    def matches(self, name: str) -> bool:
        if self.name == ANY:
            return counts_as_any(name)
        return not is_behavior(name) and self.name == name


@dataclass(frozen=True)
class Behavior:
    name: str
    slug: str
    steps: tuple[Step, ...]
    max_once_per: Duration | None = None

    @property
    def activity(self) -> str:
        return f"behavior:{self.slug}"


def present(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields given a value: null is the same as leaving the field out."""
    return {key: value for key, value in raw.items() if value is not None}


def parse_behavior(data: Any) -> Behavior:
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise BehaviorError([Problem("behavior", "must be an object")])
    for key in data:
        if key not in FIELDS:
            problems.append(Problem(str(key), "is not a behavior field (name, slug, steps, max_once_per)"))
    data = present(data)
    name, slug = data.get("name"), data.get("slug")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(Problem("name", "is required: 1–200 characters"))
    if not isinstance(slug, str) or not SLUG.match(slug):
        problems.append(Problem("slug", "is required: lower-case letters, digits, - and _ (up to 64)"))
    if not isinstance(data.get("description", ""), str):
        problems.append(Problem("description", "must be a string"))
    once_per = None
    if "max_once_per" in data:
        once_per = _duration(data["max_once_per"], "max_once_per", problems)
    raw_steps = data.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append(Problem("steps", "is required: a list of at least one step"))
    elif len(raw_steps) > MAX_STEPS:
        problems.append(Problem("steps", f"may have at most {MAX_STEPS} steps"))
    else:
        for index, raw in enumerate(raw_steps):
            step = _step(raw, f"steps[{index}]", first=index == 0, problems=problems)
            if step is not None:
                steps.append(step)
    if problems:
        raise BehaviorError(problems)
    assert isinstance(name, str) and isinstance(slug, str)
    return Behavior(name=name.strip(), slug=slug, steps=tuple(steps), max_once_per=once_per)


def _step(raw: Any, where: str, *, first: bool, problems: list[Problem]) -> Step | None:
    if not isinstance(raw, dict):
        problems.append(Problem(where, "must be an object"))
        return None
    given = present(raw)  # a step written with every field: {"performed": "a", "inactive": null, …}
    kinds = [k for k in STEP_FIELDS if k in given]
    if len(kinds) != 1:
        problems.append(Problem(where, "must have exactly one of performed, not_performed, inactive"))
        return None
    kind = kinds[0]
    for key in raw:
        if key not in STEP_FIELDS[kind] and (key not in ANY_STEP_FIELD or key in given):
            problems.append(Problem(f"{where}.{key}", f"is not a field of a {kind} step"))
    raw = given
    if first and kind != "performed":
        problems.append(
            Problem(f"{where}.{kind}", "the first step must be performed: a pattern starts with an activity")
        )
        return None
    before = len(problems)
    if kind == "inactive":
        quiet = _duration(raw["inactive"], f"{where}.inactive", problems)
        return Step("inactive", ANY, AllOf(()), quiet) if len(problems) == before else None
    within = _duration(raw["within"], f"{where}.within", problems) if "within" in raw else None
    name = raw[kind]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(Problem(f"{where}.{kind}", "must name an activity (or * for any)"))
    if first and within is not None:
        problems.append(Problem(f"{where}.within", "the first step has nothing before it to be within"))
    if kind == "not_performed" and within is None and "within" not in raw:
        problems.append(Problem(f"{where}.within", "is required: how long the activity must not happen"))
    condition: Condition = AllOf(())
    if "where" in raw:
        try:
            condition = parse_condition(raw["where"], f"{where}.where")
        except ConditionError as error:
            problems.append(Problem(error.field, error.message))
    if len(problems) != before:
        return None
    return Step(kind, str(name).strip(), condition, within)


def _duration(value: Any, where: str, problems: list[Problem]) -> Duration | None:
    try:
        return Duration.parse(value)
    except DurationError as error:
        problems.append(Problem(where, str(error)))
        return None
