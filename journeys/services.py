"""Writes on journeys: create, edit the draft, publish a version, pause, resume, stop. Each is a
guarded transition (an illegal source state is refused) and lands in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from journeys import live, runtime
from journeys.document import DocumentError, Problem, parse_journey
from journeys.document import Journey as Document
from journeys.document import Webhook as WebhookNode
from journeys.models import Enrollment, Journey, JourneyStatus, JourneyVersion
from messaging.models import Message, MessageStatus, Template
from messaging.outbound import url_problem
from segments import selectors
from segments.conditions import segments_in
from workspaces.models import Workspace
from workspaces.services import audit_log_append


class TransitionError(ValueError):
    """The journey is not in a state that allows this."""


def _guard(journey: Journey, allowed: tuple[str, ...], action: str) -> None:
    if journey.status not in allowed:
        raise TransitionError(f"cannot {action} a {journey.status} journey")


def segments_unknown(document: Document, workspace_id: int) -> list[Problem]:
    """Every segment the document names (by id or slug) must be one of the workspace's."""
    named: list[tuple[str, set[str]]] = [
        *((f"audience.segments[{i}]", {ref}) for i, ref in enumerate(document.audience_segments)),
        *((f"audience.exclude_segments[{i}]", {ref}) for i, ref in enumerate(document.exclude_segments)),
        ("entry.where", segments_in(document.entry.where)),
    ]
    if document.conversion is not None:
        named.append(("conversion.where", segments_in(document.conversion.where)))
    for node in document.nodes.values():
        for attribute in ("where", "branches"):
            value = getattr(node, attribute, None)
            conditions = [value] if attribute == "where" else [c for c, _ in (value or ())]
            ids = set().union(*(segments_in(c) for c in conditions if c is not None)) if conditions else set()
            named.append((f"nodes.{node.id}.{attribute}", ids))
    known = selectors.definitions(workspace_id)
    return [
        Problem(field, f"no segment {ref!r} in this workspace")
        for field, ids in named
        for ref in sorted(ids)
        if ref not in known
    ]


def _webhooks_refused(document: Document, workspace: Workspace) -> list[Problem]:
    """Webhook steps call only addresses the outbound policy allows (checked again when they are sent)."""
    return [
        Problem(f"nodes.{node.id}.url", problem)
        for node in document.nodes.values()
        if isinstance(node, WebhookNode)
        and (problem := url_problem(node.url, allow_private=workspace.allow_private_webhooks, webhook=True))
    ]


def _templates_of(workspace_id: int) -> Callable[[str, str], bool]:
    """Whether the workspace has a template of that channel and name (send steps must name one)."""
    names = set(Template.objects.filter(workspace_id=workspace_id).values_list("channel", "name"))
    return lambda channel, name: (channel, name) in names


def journey_checked(*, workspace: Workspace, document: Any) -> Document:
    """The document parsed, with everything publishing checks beyond its shape (templates, segments
    and webhook addresses of this workspace); DocumentError lists every problem."""
    parsed = parse_journey(document, template_exists=_templates_of(workspace.pk))
    problems = segments_unknown(parsed, workspace.pk) + _webhooks_refused(parsed, workspace)
    if problems:
        raise DocumentError(problems)
    return parsed


def journey_problems(*, workspace: Workspace, document: Any) -> list[Problem]:
    """What stands between this document and publishing (nothing: an empty list), for the wizard."""
    try:
        journey_checked(workspace=workspace, document=document)
    except DocumentError as error:
        return error.problems
    return []


def journey_create(*, workspace: Workspace, actor: User | None, document: dict[str, Any]) -> Journey:
    name = document.get("name") if isinstance(document.get("name"), str) else ""
    journey = Journey.objects.create(
        workspace=workspace,
        name=(name or "Untitled journey")[:200],
        draft=document,
        created_by=actor,
        updated_by=actor,
    )
    audit_log_append(workspace=workspace, actor=actor, action="created", obj=journey)
    return journey


class DraftConflict(ValueError):
    """The draft changed since the editor read it (another member saved it)."""

    def __init__(self, journey: Journey) -> None:
        who = journey.updated_by.get_username() if journey.updated_by is not None else "someone"
        super().__init__(f"{who} saved this journey since you opened it: reload to see their changes")
        self.journey = journey


@transaction.atomic
def journey_update_draft(
    *, journey: Journey, actor: User | None, document: dict[str, Any], revision: int | None = None
) -> Journey:
    """Replace the draft. With `revision` (the one the editor read) a save over a newer one is refused
    (DraftConflict) instead of overwriting it."""
    journey = (
        Journey.objects.select_for_update(of=("self",)).select_related("updated_by", "workspace").get(pk=journey.pk)
    )
    _guard(journey, (JourneyStatus.DRAFT, JourneyStatus.LIVE, JourneyStatus.PAUSED, JourneyStatus.SCHEDULED), "edit")
    if revision is not None and revision != journey.draft_revision:
        raise DraftConflict(journey)
    journey.draft = document
    if isinstance(document.get("name"), str) and document["name"]:
        journey.name = document["name"][:200]
    journey.draft_revision += 1
    journey.updated_by = actor
    journey.save(update_fields=["draft", "name", "draft_revision", "updated_by", "updated_at"])
    audit_log_append(workspace=journey.workspace, actor=actor, action="changed", obj=journey)
    return journey


@transaction.atomic
def journey_publish(*, journey: Journey, actor: User | None) -> JourneyVersion:
    """Validate the draft and make it the version new entries use; profiles inside stay on theirs."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    _guard(journey, (JourneyStatus.DRAFT, JourneyStatus.LIVE, JourneyStatus.PAUSED, JourneyStatus.SCHEDULED), "publish")
    document = journey_checked(workspace=journey.workspace, document=journey.draft)
    number = (journey.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = JourneyVersion.objects.create(journey=journey, number=number, document=journey.draft, published_by=actor)
    journey.live_version = version
    journey.name = document.name
    if journey.status != JourneyStatus.PAUSED:
        starts_later = document.schedule_start is not None and document.schedule_start > timezone.now()
        journey.status = JourneyStatus.SCHEDULED if starts_later else JourneyStatus.LIVE
    journey.save(update_fields=["live_version", "name", "status", "updated_at"])
    live.generation_bump(journey.workspace_id)
    audit_log_append(
        workspace=journey.workspace, actor=actor, action="published", obj=journey, changes={"version": number}
    )
    return version


@transaction.atomic
def journey_pause(*, journey: Journey, actor: User | None) -> Journey:
    """No new entries; timers and sends are held until resume."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    _guard(journey, (JourneyStatus.LIVE, JourneyStatus.SCHEDULED), "pause")
    journey.status = JourneyStatus.PAUSED
    journey.save(update_fields=["status", "updated_at"])
    runtime.timers_hold(journey)
    live.generation_bump(journey.workspace_id)
    audit_log_append(workspace=journey.workspace, actor=actor, action="paused", obj=journey)
    return journey


@transaction.atomic
def journey_resume(*, journey: Journey, actor: User | None) -> Journey:
    """Entries again; held timers fire (oldest first) and held messages go out."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    _guard(journey, (JourneyStatus.PAUSED,), "resume")
    journey.status = JourneyStatus.LIVE
    journey.save(update_fields=["status", "updated_at"])
    runtime.timers_release(journey)
    Message.objects.filter(enrollment__journey=journey, status=MessageStatus.HELD).update(status=MessageStatus.QUEUED)
    live.generation_bump(journey.workspace_id)
    audit_log_append(workspace=journey.workspace, actor=actor, action="resumed", obj=journey)
    return journey


@transaction.atomic
def journey_stop(*, journey: Journey, actor: User | None) -> int:
    """Everyone inside exits (journey_stopped); held messages are dropped. Returns how many exited."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    _guard(journey, (JourneyStatus.LIVE, JourneyStatus.SCHEDULED, JourneyStatus.PAUSED), "stop")
    journey.status = JourneyStatus.STOPPED
    journey.save(update_fields=["status", "updated_at"])
    writes = runtime.Writes()
    active = list(Enrollment.objects.filter(journey=journey, exit_at__isnull=True).select_for_update())
    exited = runtime.enrollments_end(active, reason="journey_stopped", at=timezone.now(), writes=writes)
    writes.flush()
    Message.objects.filter(enrollment__journey=journey, status=MessageStatus.HELD).update(
        status=MessageStatus.SUPPRESSED, status_reason="journey stopped"
    )
    live.generation_bump(journey.workspace_id)
    audit_log_append(
        workspace=journey.workspace, actor=actor, action="stopped", obj=journey, changes={"exited": exited}
    )
    return exited


@transaction.atomic
def journey_archive(*, journey: Journey, actor: User | None) -> Journey:
    """A stopped journey leaves the lists (its versions, enrollments and analytics stay)."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    _guard(journey, (JourneyStatus.STOPPED,), "archive")
    journey.status = JourneyStatus.ARCHIVED
    journey.save(update_fields=["status", "updated_at"])
    audit_log_append(workspace=journey.workspace, actor=actor, action="archived", obj=journey)
    return journey


def journey_duplicate(*, journey: Journey, actor: User | None) -> Journey:
    """A new draft with a copy of this journey's draft (named "… (copy)")."""
    document = dict(journey.draft) if isinstance(journey.draft, dict) else {}
    document["name"] = f"{journey.name} (copy)"[:200]
    return journey_create(workspace=journey.workspace, actor=actor, document=document)


def journey_delete(*, journey: Journey, actor: User | None) -> None:
    """Only a journey that never went live can be deleted; others are stopped (and archived)."""
    if journey.versions.exists():
        raise TransitionError("a journey that was published cannot be deleted; stop it instead")
    audit_log_append(workspace=journey.workspace, actor=actor, action="deleted", obj=journey)
    journey.delete()
