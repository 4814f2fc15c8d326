"""Activities and people in the marketing panel: the tracked activities (names, counts, property keys
and types, a chart of one name's daily volume), the live stream of incoming activities (polled by
htmx with a "since id" cursor), the people search and a profile's page (traits, identities, devices,
consent, tags, segments, journeys, open behavior matches, messages, the timeline), and the privacy
export and deletion through `activities.services` — the same as the API's.

Every read is served by an index: profiles by their unique ids and email, activities by
(workspace, timestamp), (workspace, name, timestamp) or (profile, timestamp), the stream's polls by the
primary key above the cursor; lists and counts are bounded."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from unfold.decorators import display

from activities import selectors, services
from activities.api import _export_json
from activities.forms import ProfileDeleteForm, StreamFilterForm
from activities.models import Activity, Identity, IdentityKind, Profile, TrackedActivity
from panel.dashboard import chart
from panel.model_admin import PanelModelAdmin
from panel.sites import panel_site
from panel.times import local_words, zone_of
from segments.words import event_words
from workspaces.models import Role
from workspaces.permissions import acting_user

STREAM_ROWS = 50  # shown on the stream page, and the most one poll adds
STREAM_LAG = 1000  # ids an idle poll keeps re-reading below the newest, for transactions still committing
TIMELINE_ROWS = 25
PROFILE_ROWS = 20  # journeys, messages shown on a profile's page
CHART_DAYS = 30
PHONE = re.compile(r"\+?[\d\s().-]{5,32}")


def url_or_none(name: str, *args: Any) -> str | None:
    """A page another area of the panel may not have yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def profile_url(profile_id: int) -> str:
    return reverse("panel:activities_profile_change", args=[profile_id])


def profile_search(queryset: QuerySet[Profile], workspace_id: int, term: str) -> QuerySet[Profile]:
    """The People search: `plan=pro` is a trait; anything else a user id, an anonymous id, an email
    (with an @) or a phone (digits). Ids and emails are looked up by their indexes first, so the list
    is filtered by a handful of ids; a trait filters the workspace's profiles (bounded by the list)."""
    term = term.strip()
    if not term:
        return queryset
    key, equals, value = term.partition("=")
    if equals and key.strip() and " " not in key.strip():
        return _trait_search(queryset, key.strip(), value.strip())
    if term.startswith("#") and term[1:].isdigit():
        return queryset.filter(pk=int(term[1:]))
    mine = Profile.objects.filter(workspace_id=workspace_id)
    ids = set(mine.filter(user_id=term).values_list("pk", flat=True)[:10])
    ids |= set(
        Identity.objects.filter(
            workspace_id=workspace_id, kind__in=[IdentityKind.USER_ID, IdentityKind.ANONYMOUS_ID], value=term
        ).values_list("profile_id", flat=True)[:10]
    )
    if "@" in term:
        ids |= set(mine.filter(email=term.lower()).values_list("pk", flat=True)[:100])
    if PHONE.fullmatch(term) and any(c.isdigit() for c in term):
        ids |= set(mine.filter(phone=term).values_list("pk", flat=True)[:100])
    return queryset.filter(pk__in=ids)


def _trait_search(queryset: QuerySet[Profile], key: str, value: str) -> QuerySet[Profile]:
    """`plan=pro`: the trait equal to the text, or to the number or true/false it spells."""
    candidates: list[Any] = [value]
    lowered = value.lower()
    if lowered in ("true", "false"):
        candidates.append(lowered == "true")
    else:
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            candidates.append(int(number) if number.is_integer() else number)
    condition = Q()
    for candidate in candidates:
        condition |= Q(trait_value=candidate)
    return queryset.alias(trait_value=KeyTransform(key, "traits")).filter(condition)


def profile_find(workspace_id: int, term: str) -> Profile | None:
    """The one profile a user id, anonymous id or email names (the stream's profile filter)."""
    base = Profile.objects.live().filter(workspace_id=workspace_id)
    return profile_search(base, workspace_id, term).order_by("-last_seen", "-pk").first()


class BoundedPaginator(Paginator):
    """Counts at most LIMIT rows: a workspace may hold millions of profiles."""

    LIMIT = 10_000

    @cached_property
    def count(self) -> int:
        return int(self.object_list[: self.LIMIT + 1].count())  # type: ignore[attr-defined]


def properties_words(properties: dict[str, list[str]]) -> str:
    return ", ".join(f"{key} ({' or '.join(kinds)})" for key, kinds in sorted(properties.items())) or "—"


def properties_short(properties: Any, limit: int = 4) -> str:
    """ "price=120, sku=A1 …" for one row of a list."""
    if not isinstance(properties, dict) or not properties:
        return ""
    parts = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in list(properties.items())[:limit]]
    return ", ".join(parts)[:200] + (" …" if len(properties) > limit else "")


# --- Tracked activities and the live stream ---------------------------------------------------------------


@admin.register(TrackedActivity, site=panel_site)
class TrackedActivityPanelAdmin(PanelModelAdmin):
    list_display = ["name_link", "count_column", "first_seen_column", "last_seen_column", "property_keys"]
    search_fields = ["name"]
    search_help_text = "Search by activity name"
    ordering = ["name"]
    list_per_page = 50
    actions = None
    change_list_template = "activities/panel/tracked_change_list.html"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # names are recorded by ingestion

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        zone = zone_of(self.membership(request).workspace)
        return super().changelist_view(request, {**(extra_context or {}), "zone": zone})

    @display(description="Activity", ordering="name")
    def name_link(self, tracked: TrackedActivity) -> str:
        url = reverse("panel:activities_trackedactivity_change", args=[tracked.pk])
        words = event_words(tracked.name)
        extra = format_html(' <span class="text-base-500">({})</span>', tracked.name) if words != tracked.name else ""
        return format_html('<a class="font-medium text-primary-600" href="{}">{}</a>{}', url, words, extra)

    @display(description="Count", ordering="count")
    def count_column(self, tracked: TrackedActivity) -> str:
        return f"{tracked.count:,}"

    @display(description="First seen", ordering="first_seen")
    def first_seen_column(self, tracked: TrackedActivity) -> str:
        return self._when(tracked.first_seen)

    @display(description="Last seen", ordering="last_seen")
    def last_seen_column(self, tracked: TrackedActivity) -> str:
        return self._when(tracked.last_seen)

    @display(description="Properties")
    def property_keys(self, tracked: TrackedActivity) -> str:
        return properties_words(tracked.properties or {})

    def _when(self, moment: datetime | None) -> str:
        return local_words(moment)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("stream/", view(self.stream_view), name="activities_stream"),
            path("stream/rows/", view(self.stream_rows_view), name="activities_stream_rows"),
            *super().get_urls(),
        ]

    def tracked(self, request: HttpRequest, pk: Any) -> TrackedActivity:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not str(pk).isdigit():
            raise Http404("No such activity")
        return get_object_or_404(selectors.tracked_activities(self.membership(request).workspace_id), pk=int(pk))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """One activity name: its numbers, property keys and types, daily volume and the latest ones."""
        tracked = self.tracked(request, object_id)
        workspace = self.membership(request).workspace
        zone = zone_of(workspace)
        today = timezone.now().astimezone(zone).date()
        days = [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
        per_day = _daily_volume(workspace.pk, tracked.name, days[0], zone)
        latest = (
            selectors.activities_for_workspace(workspace.pk)
            .filter(name=tracked.name)
            .order_by("-timestamp", "-pk")[:STREAM_ROWS]
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": tracked,
            "title": event_words(tracked.name),
            "tracked": tracked,
            "zone": zone,
            "properties": sorted((tracked.properties or {}).items()),
            "kpis": [
                ("Count", f"{tracked.count:,}"),
                (f"Last {CHART_DAYS} days", f"{sum(per_day.values()):,}"),
                ("First seen", tracked.first_seen.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
                ("Last seen", tracked.last_seen.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
            ],
            "chart": chart(
                [d.strftime("%b %d") for d in days], [(tracked.name, [per_day.get(d, 0) for d in days], "#7c3aed")]
            ),
            "latest": [_stream_row(a) for a in latest],
            "stream_url": reverse("panel:activities_stream") + "?" + _query(name=tracked.name),
        }
        return TemplateResponse(request, "activities/tracked_activity.html", context)

    # --- The live stream --------------------------------------------------------------------------------

    def _stream_filters(self, request: HttpRequest) -> tuple[StreamFilterForm, QuerySet[Activity] | None]:
        """The filter form and the workspace's activities it selects (None while it has an error)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        workspace_id = self.membership(request).workspace_id
        form = StreamFilterForm(request.GET or None, profile_find=lambda term: profile_find(workspace_id, term))
        rows = Activity.objects.filter(workspace_id=workspace_id).select_related("profile")
        if form.is_bound:
            if not form.is_valid():
                return form, None
            if form.cleaned_data["name"].strip():
                rows = rows.filter(name=form.cleaned_data["name"].strip())
            if form.cleaned_data["profile"] is not None:
                rows = rows.filter(profile_id=form.cleaned_data["profile"].pk)
        return form, rows

    def stream_view(self, request: HttpRequest) -> HttpResponse:
        """The newest activities, then every one that arrives (polled every 2 s, pausable)."""
        form, rows = self._stream_filters(request)
        workspace = self.membership(request).workspace
        shown = list(rows.order_by("-timestamp", "-pk")[:STREAM_ROWS]) if rows is not None else []
        context = {
            **self.admin_site.each_context(request),
            "title": "Live stream",
            "content_title": "Live stream",  # the header's crumb (no `opts`: it would name the model)
            "form": form,
            "zone": zone_of(workspace),
            "rows": [_stream_row(a) for a in shown],
            "poll_url": _poll_url(request, _newest_id()) if rows is not None else None,
            "names": list(selectors.tracked_activities(workspace.pk).values_list("name", flat=True)[:500]),
            "limit": STREAM_ROWS,
        }
        return TemplateResponse(request, "activities/stream.html", context)

    def stream_rows_view(self, request: HttpRequest) -> HttpResponse:
        """One poll: the activities stored since the cursor (newest first), and the next cursor."""
        form, rows = self._stream_filters(request)
        since_text = request.GET.get("since", "")
        if rows is None or not since_text.isdigit():
            return HttpResponse(status=204)  # nothing to add; htmx leaves the page as it is
        since = int(since_text)
        found = list(rows.filter(pk__gt=since).order_by("-pk")[:STREAM_ROWS])
        # An idle poll moves the cursor up too (keeping a margin for transactions still committing), so
        # that a filter matching nothing never re-reads more than the last STREAM_LAG ids.
        cursor = found[0].pk if found else max(since, _newest_id() - STREAM_LAG)
        context = {
            "rows": [_stream_row(a) for a in found],
            "poll_url": _poll_url(request, cursor),
            "zone": zone_of(self.membership(request).workspace),
        }
        return TemplateResponse(request, "activities/_stream_poll.html", context)


def _newest_id() -> int:
    return int(Activity.objects.aggregate(newest=Max("pk"))["newest"] or 0)


def _query(**values: Any) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _poll_url(request: HttpRequest, since: int) -> str:
    return (
        reverse("panel:activities_stream_rows")
        + "?"
        + _query(name=request.GET.get("name", ""), profile=request.GET.get("profile", ""), since=since)
    )


def _stream_row(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "name": activity.name,
        "words": event_words(activity.name),
        "type": activity.type,
        "timestamp": activity.timestamp,
        "received_at": activity.received_at,
        "profile": activity.profile,
        "profile_url": profile_url(activity.profile_id),
        "properties": properties_short(activity.properties),
        "json": json.dumps(activity.properties, indent=2, ensure_ascii=False, default=str),
    }


def _daily_volume(workspace_id: int, name: str, since: Any, zone: ZoneInfo) -> dict[Any, int]:
    """One name's activities per day in the workspace's timezone (the (workspace, name, timestamp)
    index; cached for two minutes, like the dashboard's counts)."""
    key = f"panel:activity-volume:{workspace_id}:{name}:{since.isoformat()}:{zone.key}"
    found = cache.get(key)
    if found is None:
        start = datetime(since.year, since.month, since.day, tzinfo=zone)
        rows = (
            Activity.objects.filter(workspace_id=workspace_id, name=name, timestamp__gte=start)
            .annotate(day=TruncDate("timestamp", tzinfo=zone))
            .values("day")
            .annotate(n=Count("pk"))
        )
        found = {row["day"]: row["n"] for row in rows}
        cache.set(key, found, timeout=120)
    return found


# --- People --------------------------------------------------------------------------------------------


class KnownFilter(admin.SimpleListFilter):
    title = "identity"
    parameter_name = "known"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "With a user id"), ("no", "Anonymous")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> QuerySet[Profile]:
        if self.value() == "yes":
            return queryset.filter(user_id__isnull=False)
        if self.value() == "no":
            return queryset.filter(user_id__isnull=True)
        return queryset


@admin.register(Profile, site=panel_site)
class ProfilePanelAdmin(PanelModelAdmin):
    list_display = ["profile_link", "email", "phone", "tag_list", "last_seen_column"]
    list_filter = [KnownFilter]
    search_fields = ["user_id"]  # shows the search box; the search itself is `profile_search`
    search_help_text = "User id, anonymous id, email or phone — or a trait, as plan=pro"
    sortable_by = ["last_seen_column"]
    ordering = ["-last_seen"]
    list_per_page = 50
    show_full_result_count = False
    paginator = BoundedPaginator
    actions = None  # no bulk delete: a privacy deletion goes through profile_delete, one by one
    delete_role = Role.OWNER
    change_list_template = "activities/panel/profile_change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        return super().get_queryset(request).filter(merged_into__isnull=True)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return profile_search(queryset, self.membership(request).workspace_id, search_term), False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # profiles come from ingestion and the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a profile's page is read here; tags are changed on the segments' pages

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "limit": BoundedPaginator.LIMIT}
        return super().changelist_view(request, context)

    @display(description="Profile")
    def profile_link(self, profile: Profile) -> str:
        return format_html(
            '<a class="font-medium text-primary-600" href="{}" data-profile="{}">{}</a>',
            profile_url(profile.pk),
            profile.pk,
            str(profile),
        )

    @display(description="Tags")
    def tag_list(self, profile: Profile) -> str:
        return ", ".join(profile.tags or []) or "—"

    @display(description="Last seen", ordering="last_seen")
    def last_seen_column(self, profile: Profile) -> str:
        return local_words(profile.last_seen)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/timeline/", view(self.timeline_view), name="activities_profile_timeline"),
            path("<int:pk>/export/", view(self.export_view), name="activities_profile_export"),
            *super().get_urls(),
        ]

    def profile(self, request: HttpRequest, pk: Any, *, owner: bool = False) -> Profile:
        """One live profile of the member's workspace (404 otherwise), when their role may see it (or,
        for privacy requests, when they are an owner)."""
        if not (self.allows(request, Role.OWNER) if owner else self.has_view_permission(request)):
            raise PermissionDenied
        if not str(pk).isdigit():
            raise Http404("No such profile")
        mine = Profile.objects.live().filter(workspace_id=self.membership(request).workspace_id)
        return get_object_or_404(mine.select_related("workspace"), pk=int(pk))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """A profile's page: who they are, how to reach them, where they are, what they did."""
        from behaviors.selectors import match_describe, open_matches
        from segments.selectors import profile_segments

        profile = self.profile(request, object_id)
        workspace = profile.workspace
        timeline = _timeline_page(profile, request.GET.get("name", ""), "")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": profile,
            "title": str(profile),
            "profile": profile,
            "zone": zone_of(workspace),
            "traits": [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in sorted(profile.traits.items())],
            "identities": list(profile.identities.order_by("kind", "pk")),
            "devices": list(profile.push_devices.order_by("-updated_at")),
            "consent": _consent_words(profile.consent),
            "tags": profile.tags or [],
            "tags_url": url_or_none("panel:segments_profile_tags", profile.pk),
            "segments": [
                {"segment": s, "since": since, "url": url_or_none("panel:segments_segment_change", s.pk)}
                for s, since in profile_segments(profile)
            ],
            "journeys": _journeys_of(profile),
            "matches": [
                _match_words(match_describe(e)) for e in open_matches(workspace_id=workspace.pk).filter(profile=profile)
            ],
            "profile_messages": _messages_of(profile),
            "timeline": timeline,
            "is_owner": self.allows(request, Role.OWNER),
            "names": list(selectors.tracked_activities(workspace.pk).values_list("name", flat=True)[:500]),
        }
        return TemplateResponse(request, "activities/profile.html", context)

    def timeline_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The next page of a profile's timeline (htmx "Show older")."""
        profile = self.profile(request, pk)
        context = {
            "timeline": _timeline_page(profile, request.GET.get("name", ""), request.GET.get("before", "")),
            "profile": profile,
            "zone": zone_of(profile.workspace),
        }
        return TemplateResponse(request, "activities/_timeline_rows.html", context)

    def export_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        """Everything stored about the profile, as the API's export (owner only)."""
        profile = self.profile(request, pk, owner=True)
        response = StreamingHttpResponse(
            _export_json(services.profile_export(profile, actor=acting_user(request))), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
        return response

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        """Privacy deletion (owner only): what goes is named first; the owner types the name to confirm."""
        profile = self.profile(request, object_id, owner=True)
        form = ProfileDeleteForm(request.POST if request.method == "POST" else None, profile=profile)
        if form.is_valid():
            name = str(profile)
            services.profile_delete(profile=profile, actor=acting_user(request))
            self.message_user(request, f"{name} and everything stored about them were deleted.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("panel:activities_profile_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": profile,
            "title": f"Delete {profile}?",
            "profile": profile,
            "form": form,
            "doomed": _what_is_deleted(profile),
        }
        return TemplateResponse(request, "activities/profile_delete.html", context, status=400 if form.errors else 200)


def _timeline_page(profile: Profile, name: str, before: str) -> dict[str, Any]:
    """One page of the timeline, newest first, from a (timestamp, id) cursor: the (profile, timestamp)
    index serves every page the same, however far back."""
    rows = selectors.profile_timeline(profile)
    name = name.strip()
    if name:
        rows = rows.filter(name=name)
    moment_text, _, id_text = before.partition("~")
    moment = parse_datetime(moment_text) if moment_text else None
    if moment is not None and id_text.isdigit():
        rows = rows.filter(Q(timestamp__lt=moment) | Q(timestamp=moment, pk__lt=int(id_text)))
    found = list(rows[: TIMELINE_ROWS + 1])
    page, more = found[:TIMELINE_ROWS], len(found) > TIMELINE_ROWS
    after = f"{page[-1].timestamp.isoformat()}~{page[-1].pk}" if more else None
    return {
        "rows": [_stream_row_for(profile, a) for a in page],
        "name": name,
        "older_url": reverse("panel:activities_profile_timeline", args=[profile.pk])
        + "?"
        + _query(name=name, before=after)
        if after
        else None,
    }


def _stream_row_for(profile: Profile, activity: Activity) -> dict[str, Any]:
    activity.profile = profile  # already known: no query per row
    return _stream_row(activity)


CONSENT_CHANNELS = {"email": "Email", "sms": "SMS", "push": "Push", "web_push": "Web push", "in_app": "In-app"}


def _consent_words(consent: dict[str, Any]) -> list[tuple[str, bool]]:
    """("SMS · promotional", False) … for every choice the profile made; anything absent is allowed."""
    found = []
    for key, allowed in sorted(consent.items()):
        channel, _, category = key.partition(":")
        if category:
            label = f"{CONSENT_CHANNELS.get(channel, channel)} · {category}"
        else:
            label = CONSENT_CHANNELS.get(key) or f"Every channel · {key}"
        found.append((label, bool(allowed)))
    return found


def _journeys_of(profile: Profile) -> list[dict[str, Any]]:
    """The journeys the profile is in now (step, since, until when), then its latest past entries."""
    from journeys.flow import _summary as step_summary
    from journeys.models import Enrollment

    rows = (
        Enrollment.objects.filter(profile=profile, journey__behavior__isnull=True)
        .select_related("journey", "version")
        .order_by("exit_at", "-entered_at")  # active ones (no exit) first
    )[:PROFILE_ROWS]
    found = []
    for enrollment in rows:
        nodes = (enrollment.version.document or {}).get("nodes") or {}
        spec = nodes.get(enrollment.node) if enrollment.node else None
        found.append(
            {
                "journey": enrollment.journey,
                "url": url_or_none("panel:journeys_journey_live", enrollment.journey_id),
                "version": enrollment.version.number,
                "active": enrollment.exit_at is None,
                "step": step_summary(spec) if isinstance(spec, dict) else (enrollment.node or "—"),
                "entered_at": enrollment.entered_at,
                "since": enrollment.wait_started or enrollment.entered_at,
                "until": enrollment.due_at,
                "converted_at": enrollment.converted_at,
                "exit_at": enrollment.exit_at,
                "exit_reason": enrollment.exit_reason.replace("_", " "),
            }
        )
    return found


def _match_words(match: dict[str, Any]) -> dict[str, Any]:
    waiting = match.get("waiting_for") or {}
    activity = event_words(str(waiting.get("activity") or "*"))
    kind = waiting.get("kind")
    if kind == "inactive":
        words = "Waiting for no activity"
    elif kind == "not_performed":
        words = f"Waiting to see no {activity}"
    elif kind == "performed":
        words = f"Waiting for {activity}"
    else:
        words = "Waiting"
    behavior = match["behavior"]
    return {
        **match,
        "words": words,
        "url": url_or_none("panel:behaviors_behavior_change", behavior["id"]),
    }


def _messages_of(profile: Profile) -> list[dict[str, Any]]:
    from messaging.models import Message

    rows = Message.objects.filter(profile=profile).order_by("-created_at")[:PROFILE_ROWS]
    return [
        {
            "message": m,
            "url": url_or_none("panel:messaging_message_change", m.pk),
        }
        for m in rows
    ]


def _what_is_deleted(profile: Profile) -> list[str]:
    """What profile_delete removes, counted (each by its index) for the confirmation page."""
    from journeys.models import Enrollment
    from messaging.models import Message

    activities = Activity.objects.filter(profile=profile).count()
    merged = Profile.objects.filter(merged_into=profile).count()
    active = Enrollment.objects.filter(profile=profile, exit_at__isnull=True).count()
    items = [
        f"{_count(len(profile.traits), 'trait', 'traits')}, the email and phone, "
        f"{_count(len(profile.tags or []), 'tag', 'tags')} and the consent choices",
        f"{_count(profile.identities.count(), 'identity', 'identities')}: the user id and anonymous ids",
        f"{_count(profile.push_devices.count(), 'device', 'devices')} with their push tokens",
        f"{_count(activities, 'activity', 'activities')} on the timeline",
        f"{_count(Message.objects.filter(profile=profile).count(), 'message', 'messages')} in the message log",
        f"{_count(active, 'journey or behavior in progress', 'journeys and behaviors in progress')}: they stop",
    ]
    if merged:
        items.append(f"{_count(merged, 'earlier anonymous profile', 'earlier anonymous profiles')} merged into it")
    return items


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"
