"""Management API for journeys: CRUD on drafts, publish, pause, resume, stop, versions and the
simulator (inline, or over a stored journey). A journey's body is its document (PRODUCT.md §8.1)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.api import Pagination
from journeys import services
from journeys.document import DocumentError, parse_journey
from journeys.models import Journey, JourneyStatus
from journeys.selectors import journey_analytics
from journeys.serializers import JourneyDetailSerializer, JourneySerializer, JourneyVersionSerializer
from journeys.simulator import SimulationError, simulate
from workspaces.models import Role
from workspaces.permissions import acting_user, request_token


def _problems(error: DocumentError) -> Response:
    return Response(
        {"journey": [{"field": p.field, "message": p.message} for p in error.problems]},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _document(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict) or not request.data:
        raise ParseError("The body must be a journey document: a JSON object.")
    return dict(request.data)


def _simulation(document: Any, data: Any) -> Response:
    try:
        journey = parse_journey(document)
    except DocumentError as error:
        return _problems(error)
    data = data if isinstance(data, dict) else {}
    try:
        result = simulate(
            journey, profiles=data.get("profiles", []), events=data.get("events", []), until=data.get("until")
        )
    except SimulationError as error:
        return Response({error.field: [error.message]}, status=status.HTTP_400_BAD_REQUEST)
    return Response(result)


class JourneyFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JourneyStatus.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Journey
        fields = ["status", "name"]


class JourneyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = JourneySerializer
    filterset_class = JourneyFilter
    pagination_class = Pagination
    queryset = Journey.objects.none()
    action_roles = {"simulate": Role.ANALYST}

    def get_queryset(self) -> QuerySet[Journey]:
        # A behavior's compiled journey is the behavior's, reached through /api/v1/behaviors/.
        return Journey.objects.filter(
            workspace_id=request_token(self.request).workspace_id, behavior__isnull=True
        ).select_related("live_version")

    def get_serializer_class(self) -> type:
        return JourneyDetailSerializer if self.action != "list" else JourneySerializer

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: JourneyDetailSerializer})
    def create(self, request: Request) -> Response:
        journey = services.journey_create(
            workspace=request_token(request).workspace, actor=acting_user(request), document=_document(request)
        )
        return Response(JourneyDetailSerializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: JourneyDetailSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        try:
            journey = services.journey_update_draft(
                journey=self.get_object(), actor=acting_user(request), document=_document(request)
            )
        except services.TransitionError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(JourneyDetailSerializer(journey).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        try:
            services.journey_delete(journey=self.get_object(), actor=acting_user(request))
        except services.TransitionError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: JourneyVersionSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        try:
            version = services.journey_publish(journey=self.get_object(), actor=acting_user(request))
        except DocumentError as error:
            return _problems(error)
        except services.TransitionError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(JourneyVersionSerializer(version).data)

    def _transition(self, request: Request, change: Any) -> Response:
        try:
            change(journey=self.get_object(), actor=acting_user(request))
        except services.TransitionError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(JourneySerializer(self.get_queryset().get(pk=self.get_object().pk)).data)

    @extend_schema(request=None, responses={200: JourneySerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.journey_pause)

    @extend_schema(request=None, responses={200: JourneySerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.journey_resume)

    @extend_schema(request=None, responses={200: JourneySerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.journey_stop)

    @extend_schema(responses={200: JourneyVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        versions = self.get_object().versions.select_related("published_by").order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(JourneyVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int, description="Only this version's numbers"),
            OpenApiParameter("since", OpenApiTypes.DATE),
            OpenApiParameter("until", OpenApiTypes.DATE),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def analytics(self, request: Request, pk: str | None = None) -> Response:
        """Entries, unique profiles, active now, conversions, exits by reason; per node arrivals,
        waiting now, edges taken and messages written; totals and per (UTC) day."""
        params = AnalyticsQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(
            journey_analytics(
                journey=self.get_object(),
                version_number=params.validated_data.get("version"),
                since=params.validated_data.get("since"),
                until=params.validated_data.get("until"),
            )
        )

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def simulate(self, request: Request, pk: str | None = None) -> Response:
        """Simulate the live version, or the draft with `"use": "draft"` (or when never published)."""
        journey = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        use_draft = data.get("use") == "draft" or journey.live_version is None
        document = journey.draft if use_draft or journey.live_version is None else journey.live_version.document
        return _simulation(document, data)


class AnalyticsQuery(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)


class JourneySimulateView(APIView):
    """Run an inline journey document (`"journey"`) over profiles and timestamped events with a virtual
    clock. Nothing is stored or sent; templates need not exist. Any role may simulate."""

    required_role = Role.ANALYST

    @extend_schema(
        operation_id="journeys_simulate_inline",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        if "journey" not in data:
            return Response({"journey": ["This field is required."]}, status=status.HTTP_400_BAD_REQUEST)
        return _simulation(data["journey"], data)
