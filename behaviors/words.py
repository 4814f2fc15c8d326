"""A behavior in one sentence a marketer reads (PANEL.md): "update_cart not followed by purchase within
3 days". Read from the document as stored, so a half-made one still reads. Pure code."""

from __future__ import annotations

from typing import Any

from segments.words import condition_words, duration_words, event_words


def _activity(name: Any, *, first: bool = False) -> str:
    if not isinstance(name, str) or not name.strip():
        return "(no activity chosen)"
    words = event_words(name.strip())
    return words if first or name != "*" else words.lower()


def _where(step: dict[str, Any]) -> str:
    where = step.get("where")
    return f" where {condition_words(where)}" if where else ""


def _within(step: dict[str, Any]) -> str:
    within = step.get("within")
    return f" within {duration_words(within)}" if within else ""


def step_words(step: Any, *, first: bool = False) -> str:
    """One step as the sentence has it: "purchase within 3 days", "no activity for 30 days"."""
    if not isinstance(step, dict):
        return "(a step that is not filled in)"
    if step.get("inactive") is not None:
        return f"no activity for {duration_words(step['inactive'])}"
    if step.get("not_performed") is not None:
        return f"no {_activity(step['not_performed'])}{_where(step)}{_within(step)}"
    return f"{_activity(step.get('performed'), first=first)}{_where(step)}{'' if first else _within(step)}"


def behavior_words(document: Any) -> str:
    """The whole pattern: the first activity, then each step ("then …", "not followed by …"), and how often
    it may fire."""
    steps = document.get("steps") if isinstance(document, dict) else None
    if not isinstance(steps, list) or not steps:
        return "No steps yet"
    text = step_words(steps[0], first=True)
    for index, step in enumerate(steps[1:], 1):
        if isinstance(step, dict) and step.get("not_performed") is not None:
            named = f"{_activity(step['not_performed'])}{_where(step)}{_within(step)}"
            # A comma when the sentence already has parts, so "not followed by" reads with all of them.
            joiner = "," if index > 1 or " where " in text else ""
            text += f"{joiner} not followed by {named}"
        else:
            text += f", then {step_words(step)}"
    if len(steps) == 1:
        text += ", fires at once"
    once = document.get("max_once_per") if isinstance(document, dict) else None
    if once:
        period = duration_words(once)
        text += (
            f"; at most once a {period[2:]}"
            if period.startswith("1 ") and "," not in period
            else f"; at most once every {period}"
        )
    return text


def waiting_words(waiting: Any) -> str:
    """What an open match waits for (`behaviors.compiler.waiting_for`): "purchase not to happen"."""
    if not isinstance(waiting, dict):
        return "—"
    number = int(waiting.get("step", 0)) + 1
    kind = waiting.get("kind")
    if kind == "inactive":
        return f"Step {number}: no activity"
    activity = _activity(waiting.get("activity"))
    if kind == "not_performed":
        return f"Step {number}: no {activity}"
    return f"Step {number}: {activity}"
