"""Writes on behaviors. Each is a journey operation underneath (create and publish the compiled journey,
publish a new version on edit — open matches finish on theirs —, pause, resume, stop on delete), in one
transaction, and lands in the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from activities.names import BEHAVIOR_PREFIX
from behaviors.compiler import compile_behavior
from behaviors.document import BehaviorError, Problem, parse_behavior
from behaviors.examples import EXAMPLES
from behaviors.models import Behavior
from journeys import services as journeys
from workspaces.models import Workspace
from workspaces.services import audit_log_append


@transaction.atomic
def behavior_create(
    *, workspace: Workspace, actor: User | None, document: dict[str, Any], start: bool = True
) -> Behavior:
    """A behavior, matching at once (`start`), or a draft that starts when resumed."""
    behavior = parse_behavior(document)
    if Behavior.objects.filter(workspace=workspace, slug=behavior.slug).exists():
        raise BehaviorError([Problem("slug", f"a behavior with the slug {behavior.slug!r} exists")])
    try:
        with transaction.atomic():
            row = Behavior.objects.create(
                workspace=workspace, name=behavior.name, slug=behavior.slug, document=document, created_by=actor
            )
    except IntegrityError as error:  # a concurrent create took the slug
        raise BehaviorError([Problem("slug", f"a behavior with the slug {behavior.slug!r} exists")]) from error
    audit_log_append(workspace=workspace, actor=actor, action="created", obj=row)
    if start:
        _start(row, actor)
    return row


def _start(behavior: Behavior, actor: User | None) -> None:
    """Compile and publish the behavior's journey: matching begins."""
    journey = journeys.journey_create(
        workspace=behavior.workspace, actor=actor, document=compile_behavior(behavior.document)
    )
    journeys.journey_publish(journey=journey, actor=actor)
    journey.refresh_from_db()
    behavior.journey = journey
    behavior.save(update_fields=["journey", "updated_at"])


def examples_install(workspace: Workspace) -> None:
    """Every new workspace gets §7's five behaviors as editable drafts; resuming one starts it."""
    for document in EXAMPLES:
        behavior_create(workspace=workspace, actor=None, document=dict(document), start=False)


@transaction.atomic
def behavior_update(*, behavior: Behavior, actor: User | None, document: dict[str, Any]) -> Behavior:
    parsed = parse_behavior(document)
    if parsed.slug != behavior.slug:
        raise BehaviorError([Problem("slug", "cannot change: journeys and reports use behavior:<slug>")])
    if behavior.journey is not None:
        journeys.journey_update_draft(journey=behavior.journey, actor=actor, document=compile_behavior(document))
        journeys.journey_publish(journey=behavior.journey, actor=actor)
        behavior.journey.refresh_from_db()
    behavior.name, behavior.document = parsed.name, document
    behavior.save(update_fields=["name", "document", "updated_at"])
    audit_log_append(workspace=behavior.workspace, actor=actor, action="changed", obj=behavior)
    return behavior


def behavior_pause(*, behavior: Behavior, actor: User | None) -> None:
    if behavior.journey is None:
        raise journeys.TransitionError("cannot pause a draft behavior; resume it to start it")
    journeys.journey_pause(journey=behavior.journey, actor=actor)


@transaction.atomic
def behavior_resume(*, behavior: Behavior, actor: User | None) -> None:
    """Start a draft, or resume a paused behavior."""
    if behavior.journey is None:
        _start(behavior, actor)
        return
    journeys.journey_resume(journey=behavior.journey, actor=actor)


class BehaviorInUse(ValueError):
    """Running journeys enter, wait or convert on what the behavior records."""

    def __init__(self, using: list[Any]) -> None:
        names = ", ".join(f"{j.name!r} ({j.get_status_display().lower()})" for j in using)
        super().__init__(f"journey{'s' if len(using) > 1 else ''} {names} use{'' if len(using) > 1 else 's'} it")
        self.journeys = using


@transaction.atomic
def behavior_delete(*, behavior: Behavior, actor: User | None) -> None:
    """Open matches end (their journey stops); what the behavior recorded stays in the activity history.
    Refused (BehaviorInUse) while a running journey names its activity: it would never move again."""
    from journeys.selectors import journeys_naming_activity

    using = journeys_naming_activity(workspace_id=behavior.workspace_id, name=f"{BEHAVIOR_PREFIX}{behavior.slug}")
    if using:
        raise BehaviorInUse(using)
    if behavior.journey is not None:
        journeys.journey_stop(journey=behavior.journey, actor=actor)
    audit_log_append(workspace=behavior.workspace, actor=actor, action="deleted", obj=behavior)
    behavior.delete()
