"""Reads of profiles and activities, always scoped to one workspace; shared by API, panel and tasks."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from activities.models import Activity, Identity, IdentityKind, Profile, TrackedActivity


def profiles_for_workspace(workspace_id: int) -> QuerySet[Profile]:
    return (
        Profile.objects.live()
        .filter(workspace_id=workspace_id)
        .prefetch_related(
            Prefetch(
                "identities",
                queryset=Identity.objects.filter(kind=IdentityKind.ANONYMOUS_ID).order_by("pk"),
                to_attr="anonymous_identities",
            ),
            "push_devices",
        )
        .order_by("-last_seen", "-pk")
    )


def activities_for_workspace(workspace_id: int) -> QuerySet[Activity]:
    return Activity.objects.filter(workspace_id=workspace_id).select_related("profile").order_by("-timestamp", "-pk")


def profile_timeline(profile: Profile) -> QuerySet[Activity]:
    """A profile's history, newest first (served by the (profile, timestamp) index)."""
    return Activity.objects.filter(profile=profile).order_by("-timestamp", "-pk")


def tracked_activities(workspace_id: int) -> QuerySet[TrackedActivity]:
    return TrackedActivity.objects.filter(workspace_id=workspace_id).order_by("name")
