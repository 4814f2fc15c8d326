"""Management API for journeys: CRUD on drafts, publish, pause, resume, stop, versions, the simulator
(inline, or over a stored journey) and backtests of the draft over stored activities. A journey's body
is its document (PRODUCT.md §8.1)."""

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
from journeys.backtest import BacktestRefused, backtest_start
from journeys.document import DocumentError, parse_journey
from journeys.models import Journey, JourneyStatus
from journeys.selectors import journey_analytics
from journeys.serializers import (
    JourneyBacktestSerializer,
    JourneyDetailSerializer,
    JourneySerializer,
    JourneyVersionSerializer,
)
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


class BacktestAsk(serializers.Serializer):
    days = serializers.IntegerField(required=False, min_value=1, max_value=30, default=7)


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

    @extend_schema(
        request=BacktestAsk,
        responses={202: JourneyBacktestSerializer},
        description="Replay the draft over the workspace's stored activities of the last `days` days (default "
        "7, at most 30) on the workers; nothing is stored or sent. Answers the backtest (queued), or the one "
        "of this draft still running; 409 while one of an earlier draft runs; 400 naming the draft's problems.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def backtest(self, request: Request, pk: str | None = None) -> Response:
        if request.data is not None and not isinstance(request.data, dict):
            return Response({"detail": "The body must be a JSON object."}, status=status.HTTP_400_BAD_REQUEST)
        days = (request.data or {}).get("days", 7)
        try:
            started = backtest_start(journey=self.get_object(), actor=acting_user(request), days=days)
        except DocumentError as error:
            return _problems(error)
        except BacktestRefused as error:
            code = status.HTTP_409_CONFLICT if error.conflict else status.HTTP_400_BAD_REQUEST
            return Response({error.field: [error.message]}, status=code)
        return Response(JourneyBacktestSerializer(started).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: JourneyBacktestSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def backtests(self, request: Request, pk: str | None = None) -> Response:
        """The journey's backtests, newest first: status, progress and result."""
        rows = self.get_object().backtests.select_related("requested_by").order_by("-created_at", "-pk")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(JourneyBacktestSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("backtest_id", int, OpenApiParameter.PATH)],
        responses={200: JourneyBacktestSerializer},
    )
    @action(detail=True, methods=["get"], url_path=r"backtests/(?P<backtest_id>[0-9]+)", filter_backends=[])
    def backtest_detail(self, request: Request, pk: str | None = None, backtest_id: str = "") -> Response:
        """One backtest of the journey: status, progress and result."""
        found = self.get_object().backtests.select_related("requested_by").filter(pk=int(backtest_id)).first()
        if found is None:
            return Response({"detail": "No such backtest of this journey."}, status=status.HTTP_404_NOT_FOUND)
        return Response(JourneyBacktestSerializer(found).data)


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
