"""django-filter sets for the profile and activity queries of the management API."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from activities.models import Activity, IngestionError, Profile


class ProfileFilter(django_filters.FilterSet):
    user_id = django_filters.CharFilter(field_name="user_id")
    anonymous_id = django_filters.CharFilter(method="filter_anonymous_id")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    tag = django_filters.CharFilter(method="filter_tag")
    seen_after = django_filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="gte")
    seen_before = django_filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="lt")

    class Meta:
        model = Profile
        fields = ["user_id", "anonymous_id", "email", "tag", "seen_after", "seen_before"]

    def filter_anonymous_id(self, queryset: QuerySet[Profile], name: str, value: str) -> QuerySet[Profile]:
        return queryset.filter(identities__kind="anonymous_id", identities__value=value)

    def filter_tag(self, queryset: QuerySet[Profile], name: str, value: str) -> QuerySet[Profile]:
        # tags is a small JSON list; membership is checked in the database on both back ends.
        return (
            queryset.filter(tags__contains=[value])
            if _json_contains_supported()
            else queryset.filter(tags__icontains=f'"{value}"')
        )


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.features.supports_json_field_contains


class ActivityFilter(django_filters.FilterSet):
    user_id = django_filters.CharFilter(field_name="profile__user_id")
    profile = django_filters.NumberFilter(field_name="profile_id")
    name = django_filters.CharFilter(field_name="name")
    type = django_filters.CharFilter(field_name="type")
    message_id = django_filters.CharFilter(field_name="message_id")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Activity
        fields = ["user_id", "profile", "name", "type", "message_id", "since", "until"]


class IngestionErrorFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=IngestionError.Kind.choices)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = IngestionError
        fields = ["kind", "since", "until"]
