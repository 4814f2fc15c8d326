"""Management API for profiles (get, update, privacy delete and export, timeline) and activities."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, pagination, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from activities import selectors, services
from activities.filters import ActivityFilter, IngestionErrorFilter, ProfileFilter
from activities.models import Activity, IngestionError, Profile
from activities.serializers import (
    ActivitySerializer,
    IngestionErrorSerializer,
    ProfileSerializer,
    ProfileUpdateSerializer,
)
from workspaces.models import Role
from workspaces.permissions import acting_user, request_token


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class ProfileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ProfileSerializer
    filterset_class = ProfileFilter
    queryset = Profile.objects.none()
    pagination_class = Pagination
    action_roles = {"destroy": Role.OWNER, "export": Role.OWNER, "partial_update": Role.MARKETER}

    def get_queryset(self):  # noqa: ANN201
        return selectors.profiles_for_workspace(request_token(self.request).workspace_id)

    @extend_schema(request=ProfileUpdateSerializer, responses=ProfileSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        profile = self.get_object()
        data = ProfileUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        profile = services.profile_update(
            profile=profile,
            actor=acting_user(request),
            traits=values.get("traits"),
            tags_add=values.get("tags_add"),
            tags_remove=values.get("tags_remove"),
            timezone_name=values.get("timezone"),
            locale=values.get("locale"),
            consent=values.get("consent"),
        )
        return Response(ProfileSerializer(self.get_queryset().get(pk=profile.pk)).data)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted, with its activities")})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.profile_delete(profile=self.get_object(), actor=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=ActivitySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        page = self.paginate_queryset(selectors.profile_timeline(self.get_object()).select_related("profile"))
        return self.get_paginated_response(ActivitySerializer(page, many=True).data)

    @extend_schema(responses={200: OpenApiResponse(description='{"profile": {...}, "activities": [...]}')})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        profile: Profile = self.get_object()
        response = StreamingHttpResponse(
            _export_json(services.profile_export(profile, actor=acting_user(request))), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
        return response


def _export_json(parts: Iterator[dict]) -> Iterator[bytes]:
    """Stream one JSON document without holding the whole history in memory."""
    head = next(parts)
    yield b'{"profile": ' + orjson.dumps(head["profile"]) + b', "activities": ['
    for index, part in enumerate(parts):
        yield (b", " if index else b"") + orjson.dumps(part["activity"])
    yield b"]}"


class ActivityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    pagination_class = Pagination
    queryset = Activity.objects.none()

    def get_queryset(self):  # noqa: ANN201
        return selectors.activities_for_workspace(request_token(self.request).workspace_id)


class IngestionErrorViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What ingestion refused (the rest of each batch was stored) and what the pipeline quarantined,
    newest first: for integrators to see what their apps send wrong."""

    serializer_class = IngestionErrorSerializer
    filterset_class = IngestionErrorFilter
    pagination_class = Pagination
    queryset = IngestionError.objects.none()

    def get_queryset(self):  # noqa: ANN201
        workspace_id = request_token(self.request).workspace_id
        return IngestionError.objects.filter(workspace_id=workspace_id).order_by("-created_at", "-pk")
